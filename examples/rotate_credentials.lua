-- Rotate the credentials of a service account: a Sigfox API user
-- (renew_credential: a new access token) and an Arthur service account
-- (post_user_creds: a new client secret). Each new credential is tried before
-- it is printed; the old one stops working at once.
--
--   lua5.4 examples/rotate_credentials.lua [--sigfox ID|NAME] [--arthur ID|NAME] [--dry-run]
--
-- Prints one JSON object per rotated account on stdout, for your secret
-- store ({"vendor":"sigfox","id":...,"login":...,"password":...},
-- {"vendor":"arthur","id":...,"client_id":...,"client_secret":...}); progress
-- goes to stderr. Against the simulator:
--   sim/with-sim.sh lua5.4 examples/rotate_credentials.lua \
--     --sigfox "ada@example.com automation" --arthur "userapi automation"
-- Exit code: 0 rotated and verified, 1 a vendor failed, 2 usage or missing credentials.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local cli = common.format

local opts, pos = common.args(arg, { sigfox = "value", arthur = "value", ["dry-run"] = true })
if #pos > 0 or not (opts.sigfox or opts.arthur) then
  common.usage("usage: rotate_credentials.lua [--sigfox ID|NAME] [--arthur ID|NAME] [--dry-run]")
end

local rotate = require "userapi.rotate"

local function say(fmt, ...) io.stderr:write(fmt:format(...), "\n") end

-- one account's lookup, rotation and check (userapi.rotate: what differs by
-- vendor is its people.rotate); returns the output record or nil, err
local function rotate_one(client, wanted)
  local account, err = rotate.account(client, wanted)
  if not account then return nil, tostring(err) end
  local how = client.vendor.people.rotate
  if opts["dry-run"] then
    return { vendor = client.vendor.name, id = account.id, would = common.request_line(client, how.op, account.id) }
  end
  local rec
  rec, err = rotate.renew(client, account)
  if not rec then return nil, tostring(err) end
  local verified = rec.verified
  rec.verified = nil
  -- renewed but not verified: the old credential is dead, print the new one anyway
  if not verified then
    io.stdout:write(cli.to_json(rec), "\n")
    return nil, tostring(err)
  end
  return rec
end

local failures = 0
for _, v in ipairs({ "sigfox", "arthur" }) do
  if opts[v] then
    local client, why = common.client(v)
    local rec, err
    if not client then
      rec, err = nil, why
    else
      local ok
      ok, rec, err = pcall(rotate_one, client, opts[v])
      if not ok then rec, err = nil, tostring(rec) end
    end
    if rec and rec.would then
      say("%-7s %s: would send %s", v, rec.id, rec.would)
    elseif rec then
      say("%-7s %s: rotated and verified", v, rec.id)
      io.stdout:write(cli.to_json(rec), "\n")
    else
      failures = failures + 1
      say("%-7s FAILED: %s", v, err)
    end
  end
end
os.exit(failures > 0 and 1 or 0)
