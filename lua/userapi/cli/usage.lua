--- Usage errors of the `userapi` command: raised as a table with `message`,
-- turned into exit code 2 by `userapi.cli.main`.
-- @module userapi.cli.usage
local setmetatable, getmetatable, select, type, error, format = setmetatable, getmetatable, select, type, error,
  string.format

local _M = {}

local USAGE_MT = { __tostring = function(e) return e.message end }

--- Raises a usage error; `msg` is a format when more arguments follow.
-- @tparam string msg
-- @param ... the format's arguments
-- @raise always
function _M.raise(msg, ...)
  if select("#", ...) > 0 then msg = format(msg, ...) end
  error(setmetatable({ message = msg }, USAGE_MT), 0)
end

--- True when e is a usage error.
-- @param e a caught error
-- @treturn boolean
function _M.is(e) return type(e) == "table" and getmetatable(e) == USAGE_MT end

return _M
