--- The argument checks of an operation call: programmer errors raise
-- `bad argument #N to 'op' (param: why)` before anything is sent.
-- The specs of the checks are the vendor tables' `query` and `body` fields.
-- @module userapi.check
local json = require "userapi.json"
local is_unreserved = require("userapi.core").is_unreserved
local util = require "userapi.util"

local type, pairs, ipairs, tostring, error = type, pairs, ipairs, tostring, error
local next, concat, floor = next, table.concat, math.floor
local find, format = string.find, string.format

local _M = {}

local MAX_ID = 1024        -- bytes in one path parameter
local MAX_VALUE = 8192     -- bytes in one query value or body string

--- Raises `bad argument #N to 'opname' (name: msg)`.
-- @tparam string opname the operation
-- @tparam string what `"#2"` or `"#2 name.field"`: the position, then the parameter it names
-- @tparam string msg why
-- @raise always
function _M.bad(opname, what, msg)
  local pos, name = what:match("^(#%d+)[%s%.]*(.*)$")
  if name ~= "" then msg = name .. ": " .. msg end
  error(format("bad argument %s to '%s' (%s)", pos, opname, msg), 0)
end
local bad = _M.bad

--- True for an integer a double holds exactly: beyond 2^53 a number is no
-- longer the one written.
-- @param v any value
-- @treturn boolean
function _M.is_integer(v)
  return type(v) == "number" and floor(v) == v and v >= -2 ^ 53 and v <= 2 ^ 53
end
local is_integer = _M.is_integer

--- The type of v as an error message names it (`integer` for integral numbers).
-- @param v any value
-- @treturn string
function _M.describe(v)
  if is_integer(v) then return "integer" end
  return type(v)
end
local describe = _M.describe

--- Checks one path parameter; returns it as a string.
-- @tparam string opname the operation
-- @tparam int pos its position
-- @tparam string pname its name
-- @param v the value given
-- @treturn string
-- @treturn ?boolean true when it holds unreserved bytes only: percent-encoding leaves it as it is
-- @raise `bad argument` on anything but a plain, non-empty id
function _M.id(opname, pos, pname, v)
  -- the usual id: unreserved bytes only (RFC 3986 ALPHA DIGIT - . _ ~, in C:
  -- a Lua pattern cost the call about 2k instructions)
  if is_unreserved(v) and #v <= MAX_ID and v ~= "." and v ~= ".." then
    return v, true
  end
  local what = "#" .. pos .. " " .. pname
  if is_integer(v) then v = format("%d", v) end
  if type(v) ~= "string" then bad(opname, what, "string expected, got " .. describe(v)) end
  if v == "" or v == "." or v == ".." then bad(opname, what, "a non-empty id expected") end
  if #v > MAX_ID then bad(opname, what, "longer than " .. MAX_ID .. " bytes") end
  -- an id never needs these; refusing them keeps it inside its path segment
  if find(v, "[/?#%%\r\n%z]") then bad(opname, what, "contains one of / ? # % CR LF NUL") end
  -- TAB, DEL and the other control bytes: never part of an id, and a log line or header copy would carry them
  if find(v, "%c") then bad(opname, what, "contains a control byte (TAB, DEL, ...)") end
  return v
end

local function in_enum(v, enum)
  for _, e in ipairs(enum) do if e == v then return true end end
  return false
end

local check_value -- forward: objects recurse

local function check_string(opname, what, spec, v)
  if type(v) ~= "string" then bad(opname, what, "string expected, got " .. describe(v)) end
  local n = #v
  if spec.min_len and spec.min_len == spec.max_len and n ~= spec.min_len then
    bad(opname, what, format("exactly %d character(s) expected, got %d", spec.min_len, n))
  end
  if n > (spec.max_len or MAX_VALUE) then
    bad(opname, what, "longer than " .. (spec.max_len or MAX_VALUE) .. " bytes")
  end
  if spec.min_len and n < spec.min_len then bad(opname, what, "shorter than " .. spec.min_len .. " bytes") end
  if spec.enum and not in_enum(v, spec.enum) then
    bad(opname, what, "one of " .. concat(spec.enum, ", ") .. " expected, got '" .. v .. "'")
  end
  return v
end

-- one checker per `type` of a parameter spec; vendor.lua refuses other types
local CHECK = {
  string = check_string,
  integer = function(opname, what, spec, v)
    if not is_integer(v) then bad(opname, what, "integer expected, got " .. describe(v)) end
    if (spec.min and v < spec.min) or (spec.max and v > spec.max) then
      bad(opname, what, format("out of range %s..%s, got %d", spec.min or "", spec.max or "", v))
    end
    return v
  end,
  -- a boolean or "true"/"false", sent as text
  flag = function(opname, what, _, v)
    if type(v) == "boolean" then return tostring(v) end
    if v ~= "true" and v ~= "false" then bad(opname, what, "boolean or \"true\"/\"false\" expected") end
    return v
  end,
  array = function(opname, what, spec, v)
    if type(v) == "string" then v = { v } end
    if type(v) ~= "table" then bad(opname, what, "array of strings expected, got " .. describe(v)) end
    local n = #v
    for k in pairs(v) do
      if type(k) ~= "number" or k < 1 or k > n then bad(opname, what, "array of strings expected") end
    end
    for i = 1, n do check_string(opname, what .. "[" .. i .. "]", spec, v[i]) end
    return v
  end,
  array_of_objects = function(opname, what, _, v)
    if type(v) ~= "table" then bad(opname, what, "array of tables expected, got " .. describe(v)) end
    for i, x in ipairs(v) do
      if type(x) ~= "table" then bad(opname, what .. "[" .. i .. "]", "table expected, got " .. describe(x)) end
    end
    return v
  end,
  object = function(opname, what, spec, v)
    if type(v) ~= "table" then bad(opname, what, "table expected, got " .. describe(v)) end
    for _, f in ipairs(spec.required or {}) do
      if v[f] == nil or v[f] == json.null then bad(opname, what, "required field '" .. f .. "' missing") end
    end
    for f, fspec in pairs(spec.fields or {}) do
      if v[f] ~= nil and v[f] ~= json.null then check_value(opname, what .. "." .. f, fspec, v[f]) end
    end
    return v
  end,
}
--- The parameter types a vendor table may use (`string`, `integer`, `flag`,
-- `array`, `array_of_objects`, `object`): type -> true.
-- @table TYPES
_M.TYPES = {}
for k in pairs(CHECK) do _M.TYPES[k] = true end

check_value = function(opname, what, spec, v)
  return CHECK[spec.type](opname, what, spec, v)
end

-- bytes that would split a request line: refused in anything bound for the URL
local function check_line(opname, what, v)
  if type(v) == "table" then
    for _, x in ipairs(v) do check_line(opname, what, x) end
  elseif type(v) == "string" and find(v, "[\r\n%z]") then
    bad(opname, what, "contains CR, LF or NUL")
  end
end

--- Checks the query parameters of a call; returns them by wire name.
-- @tparam table op the compiled operation
-- @tparam string opname its name
-- @tparam int pos the position of the parameter table
-- @tparam table params the parameters given
-- @treturn table the query, by wire name
-- @raise `bad argument` on an unknown parameter or a bad value
function _M.query(op, opname, pos, params)
  local query = {}
  for k, v in pairs(params) do
    local spec = op.query and op.query[k]
    local option = op.options and op.options[k]
    if option then
      if type(v) ~= option then bad(opname, "#" .. pos .. " " .. k, option .. " expected, got " .. describe(v)) end
    elseif not spec then
      bad(opname, "#" .. pos, "unknown parameter '" .. tostring(k) .. "'")
    else
      v = check_value(opname, "#" .. pos .. " " .. k, spec, v)
      check_line(opname, "#" .. pos .. " " .. k, v)
      if spec.style == "csv" then
        -- one comma-joined value: an item holding a comma would turn into two
        for i = 1, #v do
          if find(v[i], ",", 1, true) then bad(opname, "#" .. pos .. " " .. k, "item " .. i .. " contains ','") end
        end
        v = concat(v, ",")
      end
      query[spec.wire or k] = v
    end
  end
  return query
end

local function is_array(t)
  local n = #t
  if n == 0 then return next(t) == nil end
  for k in pairs(t) do if type(k) ~= "number" or k > n then return false end end
  return true
end

--- Checks the body of a call against the operation's `body` spec.
-- @tparam table op the compiled operation
-- @tparam string opname its name
-- @tparam int pos the position of the body
-- @param body the body given
-- @treturn table the body
-- @raise `bad argument` on a missing field or a bad value
function _M.body(op, opname, pos, body)
  local spec, what = op.body, "#" .. pos
  if type(body) ~= "table" then bad(opname, what, "table expected, got " .. describe(body)) end
  local array = is_array(body) and next(body) ~= nil
  local object = { type = "object", required = spec.required, fields = spec.fields }
  if spec.kind == "array" or (spec.kind == "object_or_array" and array) then
    if not array then bad(opname, what, "non-empty array of objects expected") end
    for i, item in ipairs(body) do check_value(opname, what .. "[" .. i .. "]", object, item) end
  else
    if array then bad(opname, what, "object expected, got an array") end
    check_value(opname, what, object, body)
  end
  return body
end

--- The candidate nearest to name (a few edits away at most), for "did you mean".
-- @tparam string name what was written
-- @tparam {string,...}|table candidates the valid names (an array, or the keys of a table)
-- @treturn ?string the nearest, or nil when none is close
-- @usage check.nearest("subdomian", { "subdomain", "region" })  --> "subdomain"
_M.nearest = util.nearest

--- Raises the error of a vendor table that is wrong, before any client is
-- made: `userapi: vendor 'x': <where><msg>`. Every part check raises this way.
-- @tparam string vname the vendor's name
-- @tparam string where the place, as a prefix (`"paging.style: "`, `"op 'x': "`, `""`)
-- @tparam string msg what is wrong
-- @raise always
function _M.part_error(vname, where, msg)
  error(format("userapi: vendor '%s': %s%s", tostring(vname), where, msg), 0)
end
local part_error = _M.part_error

--- Checks the keys of one part of a vendor table: an unknown key is refused
-- naming the nearest known one, a value of the wrong type naming the type.
-- @tparam string vname the vendor's name
-- @tparam string where the part, as a prefix (`"paging: "`)
-- @tparam table t the part
-- @tparam table known key -> a Lua type name, or "any"
-- @raise `userapi: vendor 'x': paging: unknown field 'sytle' (did you mean 'style'?)`
function _M.fields(vname, where, t, known)
  for k, v in pairs(t) do
    local want = known[k]
    if not want then
      part_error(vname, where, "unknown field '" .. tostring(k) .. "'" .. _M.did_you_mean(k, known))
    end
    if want ~= "any" and type(v) ~= want then
      part_error(vname, where, format("%s: %s expected, got %s", tostring(k), want, type(v)))
    end
  end
end

--- Checks that a vendor table's value is one of a list of names.
-- @tparam string vname the vendor's name
-- @tparam string where the place, as a prefix (`"paging.style: "`)
-- @param v the value
-- @tparam {string,...} names the valid values
-- @raise `userapi: vendor 'x': paging.style: 'curser' is not one of cursor, offset, page (did you mean 'cursor'?)`
function _M.one_of(vname, where, v, names)
  for _, n in ipairs(names) do if v == n then return v end end
  part_error(vname, where, format("%s is not one of %s%s", type(v) == "string" and ("'" .. v .. "'") or type(v),
    concat(names, ", "), _M.did_you_mean(v, names)))
end

--- ` (did you mean 'x'?)` for the nearest candidate, or "".
-- @tparam string name what was written
-- @tparam table candidates as for `nearest`
-- @treturn string
function _M.did_you_mean(name, candidates)
  local near = _M.nearest(name, candidates)
  return near and (" (did you mean '" .. near .. "'?)") or ""
end

return _M
