--- Picks the transport of each request under nginx: cosockets where the
-- current phase allows them (never blocking the worker), libcurl in the
-- startup phases (init, init_worker: blocking there delays only the start),
-- and a raised error in the request phases that have neither (set,
-- header_filter, body_filter, log, balancer, ...): a call there would block
-- every request of the worker. Plain Lua uses libcurl.
local _M = {}

local ngx = ngx

-- phases of the lua-nginx-module where cosockets and ngx.sleep work
local COSOCKET_PHASES = { rewrite = true, access = true, content = true, timer = true, preread = true,
                          ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true }
-- blocking there delays only nginx's start (the master, or a worker before it serves)
local STARTUP_PHASES = { init = true, init_worker = true }

local get_phase = ngx and ngx.get_phase

--- True inside an nginx phase where cosockets work.
function _M.in_cosocket_phase()
  return get_phase ~= nil and COSOCKET_PHASES[get_phase()] == true
end

--- The error raised by a call in a phase without cosockets.
-- @tparam string phase the nginx phase
function _M.refusal(phase)
  return "userapi: no cosockets in nginx's " .. phase .. " phase, and libcurl here would block every request"
    .. " of the worker; make the call from a timer (ngx.timer.at(0, fn)), or build the client with"
    .. " transport = \"curl\" to accept blocking"
end

--- Writes a line to nginx's error log at WARN; nothing in plain Lua.
-- Retries and throttling waits are reported through it.
_M.warn = ngx and function(msg) ngx.log(ngx.WARN, msg) end or function() end

--- The wait of the libcurl transport: ngx.sleep where nginx allows it, a
-- blocking sleep in plain Lua and in nginx's startup phases; in a request
-- phase without ngx.sleep, a wait would block the worker: it raises.
function _M.curl_sleep(ms)
  local phase = get_phase and get_phase()
  if not phase or STARTUP_PHASES[phase] or ms <= 0 then return require("userapi.core").sleep(ms) end
  if COSOCKET_PHASES[phase] then return ngx.sleep(ms / 1000) end
  error(("userapi: a wait of %d ms (a retry or the rate limit) in nginx's %s phase would block every request"
    .. " of the worker; make the call from a timer (ngx.timer.at(0, fn)), or set retries = false and"
    .. " rate_limit = false"):format(ms, phase), 0)
end

-- Under nginx a client may be made in init_by_lua and used in a request:
-- choose per call, creating each transport when first needed.
local Auto = {}
Auto.__index = Auto

local function pick(self)
  local phase = get_phase()
  local name = COSOCKET_PHASES[phase] and "nginx" or STARTUP_PHASES[phase] and "curl"
  if not name then error(_M.refusal(phase), 0) end
  local t = self[name]
  if not t then
    t = require("userapi.transport." .. name).new(self.opts)
    self[name] = t
  end
  return t
end

--- Sends one request on the transport of the current phase.
function Auto:request(req) return pick(self):request(req) end
--- A multi of the transport of the current phase.
function Auto:multi() return pick(self):multi() end
--- Sets the auth of both transports.
function Auto:set_auth(a)
  self.opts.auth = a
  if self.curl then self.curl:set_auth(a) end
  if self.nginx then self.nginx:set_auth(a) end
end
--- Closes the libcurl session, if one was made.
function Auto:close()
  if self.curl then self.curl:close() end
  self.curl = nil
end

local auto = {
  name = "auto",
  new = function(opts)
    local copy = {}
    for k, v in pairs(opts or {}) do copy[k] = v end
    return setmetatable({ opts = copy }, Auto)
  end,
  sleep = function(ms)
    local phase = get_phase()
    if COSOCKET_PHASES[phase] then return ngx.sleep(ms / 1000) end
    if not STARTUP_PHASES[phase] then error(_M.refusal(phase), 0) end
    return require("userapi.core").sleep(ms)
  end,
  now = function()
    ngx.update_time()
    return ngx.now() * 1000
  end,
  warn = _M.warn,
}

--- The transport module for a client's `transport` option: "curl", "nginx",
-- a module table, or nil for the automatic choice.
function _M.resolve(opt)
  if opt == nil then return ngx and auto or require("userapi.transport.curl") end
  if opt == "auto" then return auto end
  if type(opt) == "string" then return require("userapi.transport." .. opt) end
  return opt
end

return _M
