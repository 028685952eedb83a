--- `userapi rotate VENDOR:ID|NAME...`: new credentials for service accounts
-- (@{userapi.rotate}), each tried before it is written out.
--
-- The new secrets go to one place only: `--out FILE` (created 0600 and
-- exclusively: an existing file is refused) or standard output when it is
-- not a terminal. Each is written (and synced) as soon as it exists: a run
-- that dies later has not lost it. Progress goes to stderr.
--
-- With `--journal FILE`, an account is recorded as begun before its
-- rotation and as done once its secret is written; a rerun skips the done
-- ones and refuses to rotate again one begun but not done (in doubt: the
-- vendor may have made a secret that nobody kept), unless `--force`.
-- Exit codes: 0 all rotated and verified, 1 a failure or an account in doubt, 2 usage.
-- @module userapi.cli.rotate
local config = require "userapi.config"
local core = require "userapi.core"
local json = require "userapi.json"
local fmt_ = require "userapi.format"
local rotate = require "userapi.rotate"
local people_journal = require "userapi.cli.people_journal"
local usage_ = require "userapi.cli.usage"
local streams_ = require "userapi.cli.streams"

local ipairs, tostring, error, pcall = ipairs, tostring, error, pcall
local format = string.format
local usage, did_you_mean = usage_.raise, usage_.did_you_mean
local term = fmt_.escape_terminal

local _M = {}

-- "sigfox:5f3a..." or "arthur:userapi automation" -> { vendor, wanted }
local function targets(positional)
  local list = {}
  for i = 2, #positional do
    local typed, wanted = positional[i]:match("^([^:]+):(.+)$")
    if not typed then usage("rotate: VENDOR:ID or VENDOR:NAME expected, got '%s'", positional[i]) end
    local name = config.vendor_name(typed)
    if not name then
      usage("rotate: unknown vendor '%s'%s", typed, did_you_mean(typed, require("userapi").vendors))
    end
    local p = require("userapi").vendors[name].people
    if not (p and p.rotate) then
      usage("rotate: %s has no credentials to rotate (its people part declares no rotate)", name)
    end
    list[#list + 1] = { vendor = name, wanted = wanted }
  end
  if #list == 0 then usage("rotate: which account? userapi rotate VENDOR:ID|NAME...") end
  return list
end

-- where the secrets go: a new private file, or a stdout that is no terminal
local function secrets_out(o, streams)
  if not o.out then
    if streams.isatty("stdout") then
      usage("rotate: the new secrets would show on the terminal: give --out FILE, or redirect stdout")
    end
    return { write = function(line) streams.stdout:write(line) streams.stdout:flush() end, where = "stdout" }
  end
  local f, err, why = core.open_private(o.out, "new")
  if not f then
    if why == "exists" then usage("--out %s exists: secrets never overwrite a file (give a new name)", o.out) end
    usage("--out %s", tostring(err))
  end
  return {
    write = function(line)
      local ok, werr = f:write(line)
      if ok then ok, werr = f:sync() end
      if not ok then error(tostring(werr), 0) end
    end,
    close = function() f:close() end,
    where = o.out,
  }
end

local function say(streams, fmt, ...) streams.stderr:write(term(format(fmt, ...)), "\n") end

-- one account: 0 rotated (or done before), 1 failed or in doubt; true second when
-- its secret could not be written (no other account is rotated then)
local function rotate_one(t, client, out, journal, o, streams)
  local label = t.vendor .. ":" .. t.wanted
  local account, err = rotate.account(client, t.wanted)
  if not account then
    say(streams, "userapi: rotate %s: %s", label, tostring(err))
    return 1
  end
  local key = t.vendor .. ":" .. account.id
  if journal and journal.done[key] then
    say(streams, "%s: rotated by an earlier run (resumed); its secret went to that run's output", key)
    return 0
  end
  if journal and journal.begun[key] and not o.force then
    say(streams, "userapi: rotate %s: in doubt: a run was killed while rotating it; its new secret, if the "
      .. "vendor made one, is in that run's output (check that it logs in). To rotate it again: "
      .. "userapi rotate %s --journal %s --force", key, key, o.journal)
    return 1
  end
  if journal then journal:begin(key) end
  local rec
  rec, err = rotate.renew(client, account)
  if not rec then
    say(streams, "userapi: rotate %s: %s", key, tostring(err))
    -- refused: nothing changed, a rerun tries it again
    if journal then journal:failed(key) end
    return 1
  end
  local written, werr = pcall(out.write, json.encode(rec) .. "\n")
  if not written then
    -- the vendor made a secret nobody holds: say so, rotate nothing more
    local why = streams_.write_error(werr)
    say(streams, "userapi: rotate %s: rotated (the old credential no longer works), but its new secret could "
      .. "not be written to %s: %s; rotate it again once the output works", key, out.where,
      why and why.message or tostring(werr))
    if journal then journal:failed(key) end
    return 1, true
  end
  if journal then journal:finish(key, { verified = rec.verified }) end
  if not rec.verified then
    say(streams, "userapi: rotate %s: rotated, but %s (the new secret is written to %s)", key, tostring(err),
      out.where)
    return 1
  end
  say(streams, "%s: rotated and verified (%s)", key, out.where)
  return 0
end

--- `userapi rotate VENDOR:ID|NAME...`
-- @tparam table o the parsed command line
-- @tparam table ctx `{ streams, getenv, client }`
-- @treturn int 0, or 1 when an account failed or is in doubt
function _M.rotate_command(o, ctx)
  local list = targets(o.positional)
  local clients = {}
  for _, t in ipairs(list) do clients[t.vendor] = clients[t.vendor] or ctx.client(t.vendor) end
  -- the journal first: a refused one leaves no empty secrets file behind
  local journal = o.journal and people_journal.open(o.journal, "rotate")
  local out = secrets_out(o, ctx.streams)
  local code = 0
  for _, t in ipairs(list) do
    local one, stop = rotate_one(t, clients[t.vendor], out, journal, o, ctx.streams)
    if one ~= 0 then code = 1 end
    if stop then break end
  end
  if journal then journal:close() end
  if out.close then out.close() end
  return code
end

return _M
