--- The facts of nginx's phases, in one place: where cosockets and
-- `ngx.sleep` work, where blocking delays only nginx's start, the refusal of
-- a call in a phase that has neither, and how each kind of wait is done.
-- The transports (`userapi.transport`, `.curl`, `.nginx`) and the Redis store
-- ask here; nothing here requires them. In plain Lua there is no phase.
-- @module userapi.phase
local ngx = ngx

local _M = {}

-- phases of the lua-nginx-module where cosockets and ngx.sleep work
local COSOCKET_PHASES = { rewrite = true, access = true, content = true, timer = true, preread = true,
                          ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true }
-- blocking there delays only nginx's start (the master, or a worker before it serves)
local STARTUP_PHASES = { init = true, init_worker = true }

local get_phase = ngx and ngx.get_phase

--- The current nginx phase, or nil in plain Lua.
-- @treturn ?string
function _M.current() return get_phase and get_phase() end

--- True inside an nginx phase where cosockets work.
-- @treturn boolean
function _M.in_cosocket_phase()
  return get_phase ~= nil and COSOCKET_PHASES[get_phase()] == true
end

--- True in nginx's startup phases (init, init_worker), where blocking
-- delays only the start.
-- @tparam string phase
-- @treturn boolean
function _M.is_startup(phase) return STARTUP_PHASES[phase] == true end

--- True for a phase where cosockets work.
-- @tparam string phase
-- @treturn boolean
function _M.has_cosockets(phase) return COSOCKET_PHASES[phase] == true end

--- The error raised by a call in a phase without cosockets (the README's words).
-- @tparam string phase the nginx phase
-- @treturn string
function _M.refusal(phase)
  return "userapi: no cosockets in nginx's " .. phase .. " phase, and libcurl here would block every request"
    .. " of the worker; make the call from a timer (ngx.timer.at(0, fn)), or build the client with"
    .. " transport = \"curl\" to accept blocking"
end

--- Raises the refusal unless cosockets work here (the nginx transport's
-- guard: nginx's own error would name a file of nginx's and say less).
-- @raise the @{refusal} of the current phase
function _M.need_cosockets()
  local phase = get_phase and get_phase()
  if not COSOCKET_PHASES[phase] then error(_M.refusal(tostring(phase)), 0) end
end

--- Writes a line to nginx's error log at WARN; nothing in plain Lua.
-- Retries and throttling waits are reported through it.
_M.warn = ngx and function(msg) ngx.log(ngx.WARN, msg) end or function() end

--- The wait of the libcurl transport: ngx.sleep where nginx allows it, a
-- blocking sleep in plain Lua and in nginx's startup phases; in a request
-- phase without ngx.sleep, a wait would block the worker: it raises.
-- @tparam number ms
function _M.curl_sleep(ms)
  local phase = get_phase and get_phase()
  if not phase or STARTUP_PHASES[phase] or ms <= 0 then return require("userapi.core").sleep(ms) end
  if COSOCKET_PHASES[phase] then return ngx.sleep(ms / 1000) end
  error(("userapi: a wait of %d ms (a retry or the rate limit) in nginx's %s phase would block every request"
    .. " of the worker; make the call from a timer (ngx.timer.at(0, fn)), or set retries = false and"
    .. " rate_limit = false"):format(ms, phase), 0)
end

--- The wait of the automatic choice and of cosockets: ngx.sleep where
-- cosockets work, a blocking sleep in the startup phases, else the refusal.
-- @tparam number ms
function _M.cosocket_sleep(ms)
  local phase = get_phase()
  if COSOCKET_PHASES[phase] then return ngx.sleep(ms / 1000) end
  if not STARTUP_PHASES[phase] then error(_M.refusal(tostring(phase)), 0) end
  return require("userapi.core").sleep(ms)
end

return _M
