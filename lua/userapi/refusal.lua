--- Refusals raised before anything is sent: a constructor's options
-- (`kind = "options"`) and the config file of @{userapi.config}
-- (`kind = "config"`). A refusal is a table with fields, so a caller (the
-- command, the Ansible modules) reads what was refused instead of matching
-- the message; `tostring` gives the message, and string methods work on it
-- as on the message (`err:find(...)`), as they did when it was a string.
--
-- Fields: `kind`, `message`, and as known `vendor`, `option` (the option
-- refused), `reason` (`"credentials"`: missing, `missing` lists them;
-- `"base_url"`: none given; `"invalid"`: a value refused), `path`, `line`.
-- @module userapi.refusal
local setmetatable, getmetatable, type, error, tostring = setmetatable, getmetatable, type, error, tostring

local _M = {}

local Refusal = {}
Refusal.__tostring = function(e) return e.message end
Refusal.__concat = function(a, b) return tostring(a) .. tostring(b) end
-- string methods read the message: code written for the string still works
Refusal.__index = function(e, k)
  local f = string[k]
  if f then return function(self, ...) return f(self.message, ...) end end
end

--- Makes a refusal.
-- @tparam table fields `kind`, `message` and the others above (taken, not copied)
-- @treturn table the refusal
function _M.new(fields)
  return setmetatable(fields, Refusal)
end

--- Raises a refusal (no file position: the caller's input is at fault).
-- @tparam table fields as for `new`
-- @raise always
function _M.raise(fields)
  error(_M.new(fields), 0)
end

--- True when e is a refusal (of `kind`, when given).
-- @param e a caught error
-- @tparam[opt] string kind
-- @treturn boolean
function _M.is(e, kind)
  return type(e) == "table" and getmetatable(e) == Refusal and (kind == nil or e.kind == kind)
end

return _M
