-- Shared by the examples: the four clients, against the bundled simulator
-- when USERAPI_SIM_URL is set (sim/with-sim.sh sets it), else against real
-- tenants with the credentials the userapi command reads (USERAPI_KANDJI_TOKEN,
-- ..., or the config file; see README "Command line").
--
-- Each example starts with
--   package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
--   local common = require "common"
-- and then runs from a checkout without LUA_PATH/LUA_CPATH (lua/ and
-- build/<lua>/ next to examples/ are found), or installed.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local root = here .. "/.."
do
  local f = io.open(root .. "/lua/userapi/init.lua")
  if f then
    f:close()
    local build = root .. "/build/" .. (jit and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+")))
    package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
    package.cpath = build .. "/?.so;" .. package.cpath
  end
end

local userapi = require "userapi"
local config = require "userapi.config"
local format = require "userapi.format"
local record = require "userapi.transport.record"

-- config and format: what the userapi command reads credentials and writes output with
local M = { userapi = userapi, config = config, format = format }

--- The simulator's URL, or nil against real tenants.
M.sim = os.getenv("USERAPI_SIM_URL")
if M.sim == "" then M.sim = nil end

M.VENDORS = { "opendatasoft", "arthur", "kandji", "sigfox" }

-- where each vendor lives on the simulator, and the credentials it accepts
local SIM = {
  opendatasoft = { "/ods/api/automation/v1.0", { apikey = "ods-test-key" } },
  arthur = { "/arthur", { access_token = "arthur-test-token" } },
  kandji = { "/kandji", { token = "kandji-test-token" } },
  sigfox = { "/sigfox/v2", { login = "sigfox-login", password = "sigfox-secret" } },
}

--- The constructor options of a vendor: the simulator's, or the environment's
-- and the config file's (as `userapi` reads them).
function M.options(vendor)
  if M.sim then
    local o = { base_url = M.sim .. SIM[vendor][1] }
    for k, v in pairs(SIM[vendor][2]) do o[k] = v end
    return o
  end
  local ok, opts = pcall(config.options, vendor)
  if not ok then return nil, type(opts) == "table" and opts.message or tostring(opts) end
  return opts
end

--- A client of vendor, or nil and why not (no credentials configured).
function M.client(vendor, extra)
  local opts, why = M.options(vendor)
  if not opts then return nil, why end
  for k, v in pairs(extra or {}) do opts[k] = v end
  local ok, c = pcall(userapi[vendor], opts)
  if not ok then
    local names = {}
    for _, pair in ipairs(config.env(vendor)) do names[#names + 1] = pair[2] end
    return nil, tostring(c):gsub("^userapi%.[%w_]+: ", "") .. " (set " .. table.concat(names, ", ") .. ")"
  end
  return c
end

--- The four clients by vendor name; a vendor without credentials is left out,
-- its reason in the second table.
function M.clients()
  local clients, missing = {}, {}
  for _, v in ipairs(M.VENDORS) do
    local c, why = M.client(v)
    if c then clients[v] = c else missing[v] = why end
  end
  return clients, missing
end

--- Like clients, but exits with 2 when no vendor has credentials at all.
function M.some_clients()
  local clients, missing = M.clients()
  if next(clients) == nil then
    for _, v in ipairs(M.VENDORS) do io.stderr:write(v, ": ", missing[v], "\n") end
    M.usage("no vendor has credentials (or set USERAPI_SIM_URL for the simulator)")
  end
  return clients, missing
end

--- Options: `--name value` and `--flag` (names in `flags`) out of argv;
-- returns the options and the positional arguments.
function M.args(argv, flags)
  local opts, pos = {}, {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local name = a:match("^%-%-(.+)$")
    if not name then
      pos[#pos + 1] = a
    elseif flags[name] == true then
      opts[name] = true
    elseif flags[name] == "value" then
      i = i + 1
      if argv[i] == nil then M.usage("--" .. name .. " needs a value") end
      opts[name] = argv[i]
    else
      M.usage("unknown option " .. a)
    end
    i = i + 1
  end
  return opts, pos
end

--- Prints a usage error and exits with 2.
function M.usage(msg)
  io.stderr:write((arg and arg[0] or "example"), ": ", msg, "\n")
  os.exit(2)
end

-- A person's accounts (find, onboard, offboard, every account as one record
-- shape) are userapi.directory's: see onboard.lua, offboard.lua, audit_export.lua.

--- The request line of a call as it would be sent: "METHOD URL".
-- A twin of the client on the recording transport makes the call: the line
-- carries what the real transport would add (an API key in the query).
function M.request_line(client, opname, ...)
  local sent, opts = {}, {}
  for k, v in pairs(client.opts) do opts[k] = v end
  opts.transport, opts.rate_limit, opts.on_request = record.module(sent), false, nil
  local twin = userapi[client.vendor.name](opts)
  twin[opname](twin, ...)
  return (record.describe(sent[1], client.secrets):match("^[^\n]*"))
end

--- Where the run goes, for the first line of output.
function M.where()
  return M.sim and ("the simulator at " .. M.sim) or "the configured tenants"
end

return M
