--- The class of a vendor's clients: the generic methods and one method per
-- operation, with the errors a wrong call deserves (a misspelt method, a
-- dot instead of a colon) instead of "attempt to call a nil value".
-- @module userapi.class
local check = require "userapi.check"
local vendors = require "userapi.vendor"

local type, pairs, error, setmetatable, getmetatable = type, pairs, error, setmetatable, getmetatable
local format = string.format

local _M = {}

local classes = setmetatable({}, { __mode = "k" })  -- compiled vendor -> class

-- A method that is not there: a near miss of an operation or a method
-- gives a function raising a did-you-mean (`kandji:list_user()`); any other
-- name stays nil, as fields the client leaves unset must.
-- the did-you-mean raiser, made apart: a closure made inside the __index
-- function would keep LuaJIT from compiling every lookup of an unset field
local function raiser(vendor, k, near)
  return function()
    error(format("bad argument #1 to '%s' (%s has no operation or method '%s'; did you mean '%s'?)",
                 k, vendor.name, k, near), 0)
  end
end

-- a generic method the vendor lacks the capability for: its call says why
local function unavailable(k, why)
  return function() error(format("bad argument #1 to '%s' (%s)", k, why), 0) end
end

local function missing(vendor, methods, Client)
  local names = {}
  for k in pairs(methods) do if type(k) == "string" and not k:find("^_") then names[#names + 1] = k end end
  local memo = {}
  for k, why in pairs(vendor.unavailable) do memo[k] = unavailable(k, why) end
  return function(_, k)
    if type(k) ~= "string" then return nil end
    if memo[k] then return memo[k] end
    -- a generic method added after the class was made
    if Client[k] ~= nil then return Client[k] end
    local f = memo[k]
    if f == nil then
      local near = check.nearest(k, names)
      f = near and raiser(vendor, k, near) or false
      memo[k] = f
    end
    return f or nil
  end
end

--- The class (metatable) of a vendor's clients: the generic methods of
-- `Client` plus one method per operation, made once per vendor. A method
-- called with a dot instead of a colon, or a near miss of a method's name,
-- raises `bad argument` with what to write instead. A generic method the
-- vendor lacks the capability for (`each_user` without paging, `ensure_user`
-- without a create operation: the compiled vendor's `unavailable`) is not
-- in the class; a call of it raises `bad argument` saying why.
-- @tparam table vendor a vendor table, raw or compiled
-- @tparam table Client the generic methods (@{userapi.client.Client})
-- @tparam function call_op `Client:call` with the operation already looked up:
-- `call_op(client, op, opname, ...)` (an operation's method finds its op once, here)
-- @treturn table the metatable of the vendor's clients
function _M.of(vendor, Client, call_op)
  vendor = vendors.compile(vendor)
  local cls = classes[vendor]
  if cls then return cls end
  -- the generic methods copied in: one table lookup per call instead of two
  local methods = {}
  for k, v in pairs(Client) do methods[k] = v end
  -- each_user, bulk, ensure_*: only with the capability behind them (userapi.vendor)
  for k in pairs(vendor.unavailable) do methods[k] = nil end
  cls = { __index = methods, __close = Client.close }
  cls.__tostring = function(self) return "userapi." .. vendor.name .. ": " .. self.base_url end
  for opname, op in pairs(vendor.ops) do
    methods[opname] = function(self, ...)
      if getmetatable(self) ~= cls then
        error(format("bad argument #1 to '%s' (client expected, got %s: call it as %s:%s(...))",
                     opname, type(self), vendor.name, opname), 0)
      end
      return call_op(self, op, opname, ...)
    end
  end
  setmetatable(methods, { __index = missing(vendor, methods, Client) })
  classes[vendor] = cls
  return cls
end

return _M
