--- JSON through lua-cjson, configured once for userapi: JSON null decodes to
-- `json.null` (cjson.null), which encodes back to null, so a value read from a
-- vendor can be sent back unchanged.
-- @module userapi.json

-- not a rockspec dependency (LuaRocks cannot see Debian's package): say how to get it
local found, cjson = pcall(require, "cjson.safe")
if not found then
  error("userapi needs lua-cjson: apt-get install lua-cjson (Debian, Ubuntu) or luarocks install lua-cjson\n"
        .. tostring(cjson), 0)
end

local _M = { null = cjson.null }

local codec = cjson.new()
codec.encode_sparse_array(true)
codec.decode_max_depth(200)
codec.encode_max_depth(200)

--- Decodes JSON text.
-- @function decode
-- @tparam string text
-- @return the value (JSON null as `null`)
-- @treturn[2] nil
-- @treturn[2] string why not
_M.decode = codec.decode

-- lua-cjson 2.1.0 writes every empty table as {}. An empty table stands for
-- [] where the operation's model says array, or when it is userapi.empty_array.
local array_mt = {}
_M.empty_array = setmetatable({}, array_mt)
local MARK = "\0userapi-empty-array\0"
local MARK_JSON = '"\\u0000userapi%-empty%-array\\u0000"'

local ARRAY = { array = true, array_of_objects = true }

local function mark(v, spec)
  if type(v) ~= "table" then return v end
  if next(v) == nil then
    if getmetatable(v) == array_mt or (spec and ARRAY[spec.type]) then return MARK end
    return v
  end
  local copy
  for k, x in pairs(v) do
    -- a body model (it has a kind) describes the items of an array body
    local sub = spec and ((type(k) == "string" and spec.fields and spec.fields[k])
                          or (type(k) == "number" and spec.kind and spec))
    local y = mark(x, sub)
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

return _M
