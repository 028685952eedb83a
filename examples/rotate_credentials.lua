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

local function say(fmt, ...) io.stderr:write(fmt:format(...), "\n") end

-- one account's lookup, rotation and check; returns the output record or nil, err
local ROTATE = {
  sigfox = function(client, wanted)
    -- an API user by id, else by name
    local id
    if wanted:match("^%x+$") and client:get_api_user(wanted) then
      id = wanted
    else
      for u in client:each_user() do
        if u.name == wanted then id = u.id break end
      end
    end
    if not id then return nil, "no API user with id or name '" .. wanted .. "'" end
    if opts["dry-run"] then
      return { vendor = "sigfox", id = id, would = common.request_line(client, "renew_credential", id) }
    end
    local res, err = client:renew_credential(id)
    if not res then return nil, tostring(err) end
    -- an API user logs in with its id and access token
    local o = assert(common.options("sigfox"))
    o.login, o.password = id, res.accessToken
    local check = common.userapi.sigfox(o)
    local me, cerr = check:get_api_user(id)
    if not me then return nil, "the new token does not work: " .. tostring(cerr) end
    return { vendor = "sigfox", id = id, login = id, password = res.accessToken }
  end,
  arthur = function(client, wanted)
    -- a service account, never a person: post_user_creds would reset a password
    local id
    for u in client:each_user{ user_types = { "service_account" } } do
      if u.id == wanted or u.first_name == wanted then id = u.id break end
    end
    if not id then return nil, "no service account with id or name '" .. wanted .. "'" end
    if opts["dry-run"] then
      return { vendor = "arthur", id = id, would = common.request_line(client, "post_user_creds", id) }
    end
    local res, err = client:post_user_creds(id)
    if not res then return nil, tostring(err) end
    local creds = res.credentials or {}
    -- the client-credentials grant with the new secret: who am I?
    local o = assert(common.options("arthur"))
    o.access_token, o.client_id, o.client_secret = nil, creds.client_id, creds.client_secret
    local check = common.userapi.arthur(o)
    local me, cerr = check:get_users_me()
    if not me then return nil, "the new secret does not work: " .. tostring(cerr) end
    if me.id ~= id then return nil, "the new secret logs in as " .. tostring(me.id) end
    return { vendor = "arthur", id = id, client_id = creds.client_id, client_secret = creds.client_secret }
  end,
}

local failures = 0
for _, v in ipairs({ "sigfox", "arthur" }) do
  if opts[v] then
    local client, why = common.client(v)
    local rec, err
    if not client then
      rec, err = nil, why
    else
      local ok
      ok, rec, err = pcall(ROTATE[v], client, opts[v])
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
