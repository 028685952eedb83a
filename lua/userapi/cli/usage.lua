--- Usage errors of the `userapi` command: raised as a table with `message`,
-- turned into exit code 2 by `userapi.cli.main`.
-- @module userapi.cli.usage
local setmetatable, getmetatable, select, type, error, pairs, ipairs = setmetatable, getmetatable, select, type,
  error, pairs, ipairs
local format = string.format
local distance = require("userapi.util").distance
local refusal = require "userapi.refusal"

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

--- The nearest of the candidates to a mistyped name, as a message suffix:
-- `" (did you mean 'format'?)"`, or `""` when none is near.
-- @tparam string name what was typed
-- @tparam table candidates names: an array, or a table keyed by them
-- @tparam[opt=""] string prefix written before the suggestion (`"--"`)
-- @treturn string
function _M.did_you_mean(name, candidates, prefix)
  local best, best_d = nil, math.huge
  local list = candidates
  if #candidates == 0 then
    list = {}
    for k in pairs(candidates) do list[#list + 1] = k end
  end
  table.sort(list)
  local typed = name:lower():gsub("%-", "_")
  for _, c in ipairs(list) do
    local d = distance(typed, (c:lower():gsub("%-", "_")))
    if d < best_d then best, best_d = c, d end
  end
  if best and best_d <= math.max(1, math.min(3, math.floor(#name / 3))) then
    return " (did you mean '" .. (prefix or "") .. best .. "'?)"
  end
  return ""
end

--- True when e is a usage error.
-- @param e a caught error
-- @treturn boolean
-- (the library's refusals before sending, a config file's included: userapi.refusal)
function _M.is(e) return type(e) == "table" and (getmetatable(e) == USAGE_MT or refusal.is(e)) end

--- The whole of a file a flag names, or a usage error naming the flag (a
-- missing file, a directory).
-- @tparam string path
-- @tparam string flag the flag, for the message (`--body`)
-- @treturn string
-- @raise a usage error
function _M.read_file(path, flag)
  local f, err = io.open(path, "rb")
  if not f then _M.raise("%s: cannot read %s", flag, tostring(err)) end
  local text = f:read("*a")
  f:close()
  if not text then _M.raise("%s %s: cannot read it (a directory?)", flag, path) end
  return text
end

return _M
