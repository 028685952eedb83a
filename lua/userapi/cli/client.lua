--- The `userapi` command's client: options from @{userapi.config}, the
-- secret from standard input, the recording transport of a dry run, and the
-- constructor's refusals as usage errors naming what to set.
-- @module userapi.cli.client
local userapi = require "userapi"
local config = require "userapi.config"
local fmt_ = require "userapi.format"
local record = require "userapi.transport.record"
local refusal = require "userapi.refusal"
local proxy = require "userapi.cli.proxy"
local usage = require("userapi.cli.usage").raise

local ipairs, tostring, pcall = ipairs, tostring, pcall
local format = string.format
local term = fmt_.escape_terminal

local _M = {}

local trim = require("userapi.util").trim

-- ---- the client ------------------------------------------------------------------

-- --token-from-stdin: the vendor's secret replaces the credentials it excludes
local function secret_from_stdin(vendor, copts, stdin)
  local secret = config.option_of_kind(vendor, "secret")
  if not secret then usage("--token-from-stdin: %s names no secret option (cli.secret)", vendor.name) end
  local line = stdin:read("*l")
  line = line and trim(line) or ""
  if line == "" then usage("--token-from-stdin: standard input is empty") end
  for _, group in ipairs((vendor.cli or {}).alternatives or {}) do
    for _, k in ipairs(group) do copts[k] = nil end
  end
  copts[secret] = line
end

-- the constructor's refusal (userapi.refusal) as a usage error, naming what
-- is missing and where to put it: read from its fields, not its message
-- `route`: where the proxy came from (config or which variable), said when the library refuses it
local function client_failure(vname, vendor, err, getenv, profile, route)
  if not refusal.is(err) then error(err, 0) end
  local what
  if err.reason == "credentials" then
    what = err.missing
  elseif err.reason == "base_url" then
    local host = config.option_of_kind(vendor, "host")
    what = (host and (host .. " or ") or "") .. "base_url"
  end
  if what then
    usage("missing credentials for %s (%s): %s", vname, what, config.hint(vendor, getenv, profile))
  end
  local msg = err.message:gsub("^userapi%.[%w_]+: ", "")
  if route and (err.option == "proxy" or msg:find("(proxy: ", 1, true)) then msg = msg .. "; " .. route end
  usage("%s: %s", vname, msg)
end

--- The client of the command line's vendor.
-- @tparam table o the parsed options
-- @tparam string vname the vendor
-- @tparam table vendor its table
-- @tparam function getenv the environment
-- @tparam table streams the command's streams (`exchanges` counts the answers)
-- @tparam ?table sent the dry run's list of recorded requests
-- @treturn userapi.client.Client
-- @raise a usage error naming the missing credentials and where to put them
function _M.make(o, vname, vendor, getenv, streams, sent)
  local profile = o.profile or getenv("USERAPI_PROFILE") or "default"
  local copts = config.options(vendor, getenv, profile)
  if o["token-from-stdin"] then secret_from_stdin(vendor, copts, streams.stdin) end
  if o["base-url"] then copts.base_url = o["base-url"] end
  local route
  if sent then
    copts.transport, copts.rate_limit = record.module(sent), false
  else
    route = proxy.apply(copts, vendor, getenv)
    if o.verbose then streams.stderr:write(term(("userapi: %s: %s"):format(vname, route)), "\n") end
    -- counted: once the server has answered, what the library refuses came from it
    local err_out, verbose = streams.stderr, o.verbose
    copts.on_request = function(e)
      streams.exchanges = streams.exchanges + 1
      if not verbose then return end
      err_out:write(term(format("%s %s %s -> %s%s", e.operation, e.method, e.url,
        e.status and tostring(e.status) or tostring(e.error), e.ms and format(" (%.0f ms)", e.ms) or "")), "\n")
    end
  end
  local ok, client = pcall(userapi[vname], copts)
  if not ok then client_failure(vname, vendor, client, getenv, profile, copts.proxy and route) end
  return client
end


return _M
