--- Picks the transport of each request under nginx: cosockets where the
-- current phase allows them (never blocking the worker), libcurl in the
-- startup phases (init, init_worker: blocking there delays only the start),
-- and a raised error in the request phases that have neither (set,
-- header_filter, body_filter, log, balancer, ...): a call there would block
-- every request of the worker. Plain Lua uses libcurl. The phase facts
-- themselves are @{userapi.phase}'s.
local phase = require "userapi.phase"

local _M = {}

local ngx = ngx

-- Under nginx a client may be made in init_by_lua and used in a request:
-- choose per call, creating each transport when first needed.
local Auto = {}
Auto.__index = Auto

local function pick(self)
  local now = phase.current()
  local name = phase.has_cosockets(now) and "nginx" or phase.is_startup(now) and "curl"
  if not name then error(phase.refusal(now), 0) end
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
  sleep = phase.cosocket_sleep,
  now = function()
    ngx.update_time()
    return ngx.now() * 1000
  end,
  warn = phase.warn,
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
