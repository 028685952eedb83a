--- Picks the transport of each request: nginx cosockets where the current
-- nginx phase allows them (never blocking the worker), the libcurl core
-- everywhere else (plain Lua, and nginx's init phases).
local _M = {}

-- phases of the lua-nginx-module where cosockets work
local COSOCKET_PHASES = { rewrite = true, access = true, content = true, timer = true,
                          ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true }

--- True inside an nginx phase where cosockets work.
function _M.in_cosocket_phase()
  return ngx ~= nil and ngx.get_phase ~= nil and COSOCKET_PHASES[ngx.get_phase()] == true
end
local in_cosocket_phase = _M.in_cosocket_phase

-- Under nginx a client may be made in init_by_lua and used in a request:
-- choose per call, creating each transport when first needed.
local Auto = {}
Auto.__index = Auto

local function pick(self)
  local name = in_cosocket_phase() and "nginx" or "curl"
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
    if in_cosocket_phase() then return ngx.sleep(ms / 1000) end
    return require("userapi.core").sleep(ms)
  end,
  now = function()
    if ngx then ngx.update_time() return ngx.now() * 1000 end
    return require("userapi.core").now()
  end,
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
