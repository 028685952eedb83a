--- JSON through lua-cjson, configured once for userapi: JSON null decodes to
-- `json.null` (cjson.null), which encodes back to null, so a value read from a
-- vendor can be sent back unchanged.
--
-- Numbers: Debian's lua-cjson decodes every number as a float on Lua 5.3 and
-- 5.4, so `42` reads as `42.0` (`math.type` "float", `tostring` "42.0"); on
-- LuaJIT and 5.1 a number is a number. userapi does not convert them (a walk
-- of every decoded value would cost about as much as the decode): everywhere
-- it takes a number back (ids, query values, bodies) an integral float goes
-- out as an integer, `42`, and the command prints `42`. For an integer of
-- your own, `math.tointeger(v)` (5.3+). lua-cjson writes at most 14
-- significant digits (Debian's caps the precision there): a number with
-- more (none of the four vendors' ids, which are strings) goes back rounded.
-- @module userapi.json

-- not a rockspec dependency (LuaRocks cannot see Debian's package): say how to get it
local cjson, why = require("userapi.util").optional_require("cjson.safe")
if not cjson then
  error("userapi needs lua-cjson: apt-get install lua-cjson (Debian, Ubuntu) or luarocks install lua-cjson\n"
        .. tostring(why), 0)
end

local type, pairs, next, getmetatable, setmetatable = type, pairs, next, getmetatable, setmetatable
local find, match, sub, byte, concat = string.find, string.match, string.sub, string.byte, table.concat

local _M = { null = cjson.null }

local codec = cjson.new()
codec.encode_sparse_array(true)
codec.decode_max_depth(200)
codec.encode_max_depth(200)

-- lua-cjson 2.1.0 writes every empty table as {}. An empty table stands for
-- [] where the operation's model says array, or when it carries array_mt:
-- userapi.empty_array, and every empty array decoded from a vendor.
local array_mt = {}
_M.empty_array = setmetatable({}, array_mt)
local MARK = "\0userapi-empty-array\0"
local MARK_JSON = '"\\u0000userapi%-empty%-array\\u0000"'
local MARK_JSON_TEXT = "\\u0000userapi-empty-array\\u0000"

-- OpenResty's lua-cjson marks decoded arrays itself; Debian's 2.1.0 cannot
local native = type(codec.decode_array_with_array_mt) == "function"
if native then codec.decode_array_with_array_mt(true) end
local ARRAY_MTS = { [array_mt] = true }
if cjson.array_mt then ARRAY_MTS[cjson.array_mt] = true end
if cjson.empty_array_mt then ARRAY_MTS[cjson.empty_array_mt] = true end

--- True when t is an empty table that stands for a JSON array (`[]`):
-- `userapi.empty_array`, or an empty array decoded from JSON.
-- @param t any value
-- @treturn boolean
function _M.is_empty_array(t)
  return type(t) == "table" and next(t) == nil and ARRAY_MTS[getmetatable(t) or false] == true
end

-- The text with each empty array outside strings written as [MARK]: the
-- decoded table then says which {} was []. nil when there is none. The C
-- core tells first, in one pass, whether the text may hold one ("[", blanks,
-- "]", strings not told apart); the scan below is for those that may.
local may_hold_empty_array = require("userapi.core").may_hold_empty_array

local function mark_empty_arrays(text)
  local parts, copied, i = {}, 1, 1
  while true do
    local j = find(text, '["%[]', i)
    if not j then break end
    if byte(text, j) == 34 then
      -- a string: skip to its closing quote
      local k = j + 1
      while true do
        local q = find(text, '["\\]', k)
        if not q then return nil end -- unterminated: the decoder will say so
        if byte(text, q) == 92 then k = q + 2 else i = q + 1 break end
      end
    else
      local after = match(text, "^%[%s*%]()", j)
      if after then
        parts[#parts + 1] = sub(text, copied, j - 1)
        parts[#parts + 1] = '["' .. MARK_JSON_TEXT .. '"]'
        copied = after
      end
      i = (after or j + 1)
    end
  end
  parts[#parts + 1] = sub(text, copied)
  return concat(parts)
end

local function is_mark(t) return t[1] == MARK and t[2] == nil and next(t, 1) == nil end

-- replaces each { MARK } by an empty array
local function unmark(v)
  if type(v) ~= "table" then return v end
  if is_mark(v) then return setmetatable({}, array_mt) end
  for k, x in pairs(v) do
    if type(x) == "table" then v[k] = unmark(x) end
  end
  return v
end

--- Decodes JSON text. An empty array decodes as an empty table marked as
-- an array (`is_empty_array`), so it prints and is sent back as `[]`.
-- @tparam string text
-- @return the value (JSON null as `null`)
-- @treturn[2] nil
-- @treturn[2] string why not
function _M.decode(text)
  if native or type(text) ~= "string" or not may_hold_empty_array(text) then return codec.decode(text) end
  local marked = mark_empty_arrays(text)
  if not marked then return codec.decode(text) end
  local v = codec.decode(marked)
  if v == nil then return codec.decode(text) end -- the error as the text has it
  return unmark(v)
end

local ARRAY = { array = true, array_of_objects = true }

local function mark(v, spec)
  if type(v) ~= "table" then return v end
  if next(v) == nil then
    if ARRAY_MTS[getmetatable(v) or false] or (spec and ARRAY[spec.type]) then return MARK end
    return v
  end
  local copy
  for k, x in pairs(v) do
    -- a body model (it has a kind) describes the items of an array body
    local sub_spec = spec and ((type(k) == "string" and spec.fields and spec.fields[k])
                          or (type(k) == "number" and spec.kind and spec))
    local y = mark(x, sub_spec)
    if y ~= x then
      if not copy then
        copy = {}
        for kk, xx in pairs(v) do copy[kk] = xx end
      end
      copy[k] = y
    end
  end
  return copy or v
end

--- Encodes v; `spec` (an operation's body model) tells which empty tables are arrays.
-- @param v the value
-- @tparam[opt] table spec a body model: its `array` fields encode `{}` as `[]`
-- @treturn ?string the JSON text
-- @treturn[2] nil
-- @treturn[2] string why not
function _M.encode(v, spec)
  local s, err = codec.encode(mark(v, spec))
  if not s then return nil, err end
  if s:find("userapi-empty-array", 1, true) then s = s:gsub(MARK_JSON, "[]") end
  return s
end

-- ---- sorted keys --------------------------------------------------------------

local format, floor = string.format, math.floor

--- The keys of a table, sorted by their string form.
-- @tparam table t
-- @treturn {any,...}
function _M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end
local sorted_keys = _M.sorted_keys

-- a non-empty table whose keys are 1..n
local function is_array(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local ESC = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f', ['\n'] = '\\n',
              ['\r'] = '\\r', ['\t'] = '\\t' }

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return ESC[c] or format("\\u%04x", c:byte()) end) .. '"'
end

local function number(v)
  if v ~= v or v == math.huge or v == -math.huge then return "null" end
  if floor(v) == v and v > -2^53 and v < 2^53 then return format("%d", v) end
  return format("%.14g", v)
end

--- Renders a value as JSON with sorted keys, the same text for the same
-- value on every run (the command's output, the journal's item keys):
-- compact, or indented by `indent` spaces when given; `/` not escaped.
-- Empty tables are `{}`, except empty arrays read from JSON (and
-- `userapi.empty_array`): `[]`.
-- @param v any value read from a vendor
-- @tparam[opt] number indent spaces per level; compact when nil
-- @tparam[opt=0] number depth the starting level
-- @treturn string
function _M.encode_sorted(v, indent, depth)
  depth = depth or 0
  local t = type(v)
  if v == nil or v == _M.null then return "null" end
  if t == "string" then return quote(v) end
  if t == "number" then return number(v) end
  if t == "boolean" then return tostring(v) end
  if t ~= "table" then return quote(tostring(v)) end
  if next(v) == nil then return _M.is_empty_array(v) and "[]" or "{}" end
  local nl, pad, inner, colon = "", "", "", ":"
  if indent then
    nl, pad, inner, colon = "\n", (" "):rep(indent * depth), (" "):rep(indent * (depth + 1)), ": "
  end
  local parts = {}
  if is_array(v) then
    for i = 1, #v do parts[i] = inner .. _M.encode_sorted(v[i], indent, depth + 1) end
    return "[" .. nl .. concat(parts, "," .. nl) .. nl .. pad .. "]"
  end
  for i, k in ipairs(sorted_keys(v)) do
    parts[i] = inner .. quote(tostring(k)) .. colon .. _M.encode_sorted(v[k], indent, depth + 1)
  end
  return "{" .. nl .. concat(parts, "," .. nl) .. nl .. pad .. "}"
end

return _M
