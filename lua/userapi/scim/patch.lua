--- SCIM PATCH (RFC 7644 §3.5.2) over a resource in canonical form, as the
-- providers send it: op names in any case (`Replace`), string booleans
-- (`"False"`), a value object without a path (its keys may be paths
-- themselves: `{"name.givenName": "Ada"}`), filtered paths
-- (`emails[type eq "work"].value`), and an `add` whose filter matches
-- nothing, which adds the element the filter describes.
-- Errors raise `{ scim = scimType, detail = ... }`.
-- @module userapi.scim.patch
local filter = require "userapi.scim.filter"
local schema = require "userapi.scim.schema"
local json = require "userapi.json"

local type, ipairs, pairs, error, lower = type, ipairs, pairs, error, string.lower

local _M = {}

local function fail(kind, msg) error({ scim = kind, detail = msg }, 0) end

local IGNORED = { id = true, meta = true, schemas = true }

local function is_array(v) return type(v) == "table" and (v[1] ~= nil or json.is_empty_array(v)) end

local function merge(into, v)
  if type(into) ~= "table" or is_array(into) or type(v) ~= "table" then return v end
  for k, x in pairs(v) do
    if x == json.null then into[k] = nil else into[k] = x end
  end
  return into
end

-- the `attr eq value` pairs of a filter's and-tree: the element an add
-- with a filter that matches nothing creates
local function described(node, into)
  if node.op == "and" then
    described(node.a, into)
    described(node.b, into)
  elseif node.op == "eq" and #node.path == 1 then
    into[node.path[1]] = node.value
  end
  return into
end

-- the object holding the attribute a path names, and the attribute's key and definition
local function target(r, parts, create)
  local def, name, ext = schema.def(parts)
  if not def then fail("invalidPath", "unknown attribute '" .. table.concat(parts, ".") .. "'") end
  local obj, rest = r, 2
  if ext then
    if type(r[ext]) ~= "table" then
      if not create then return nil end
      r[ext] = {}
    end
    obj, rest = r[ext], 3
  end
  local subname = parts[rest]
  if subname then
    if not def.sub_index then fail("invalidPath", "'" .. name .. "' has no sub-attributes") end
    if def.multi then fail("invalidPath", "a sub-attribute of '" .. name .. "' needs a filter: " .. name .. "[...]") end
    if type(obj[name]) ~= "table" then
      if not create then return nil end
      obj[name] = {}
    end
    return obj[name], def.sub_index[subname] or subname, { type = subname == "primary" and "boolean" or "string" }
  end
  return obj, name, def
end

local function value_of(def, name, v)
  if def.type == "boolean" then return schema.boolean(v) end
  if def.sub_index then return schema.canon_attr(name, v) end
  return v
end

local function set_plain(op, obj, key, def, v)
  if v == json.null or (op == "remove") then obj[key] = nil return end
  v = value_of(def, key, v)
  if def.multi then
    local list = v
    if type(list) ~= "table" or not is_array(list) then list = { list } end
    if op == "add" and is_array(obj[key]) then
      for _, x in ipairs(list) do obj[key][#obj[key] + 1] = x end
    else
      obj[key] = list
    end
  elseif def.type == "complex" then
    obj[key] = merge(type(obj[key]) == "table" and obj[key] or {}, v)
  else
    obj[key] = v
  end
end

local function apply_filtered(op, r, p, v)
  local obj, key, def = target(r, p.path, op ~= "remove")
  if not obj then
    if op == "remove" then return end
    fail("noTarget", "no value matches the filter")
  end
  if not def.multi then fail("invalidPath", "a filter applies to a multi-valued attribute") end
  local list = is_array(obj[key]) and obj[key] or {}
  local subname = p.sub and (def.sub_index[p.sub] or p.sub)
  local kept, hits = {}, 0
  for _, elem in ipairs(list) do
    if type(elem) == "table" and filter.match(p.filter, elem) then
      hits = hits + 1
      if op == "remove" then
        if subname then elem[subname] = nil; kept[#kept + 1] = elem end
      elseif subname then
        elem[subname] = subname == "primary" and schema.boolean(v) or v
        kept[#kept + 1] = elem
      else
        kept[#kept + 1] = merge(elem, schema.canon_attr(key, v))
      end
    else
      kept[#kept + 1] = elem
    end
  end
  if hits == 0 then
    if op == "replace" then fail("noTarget", "no value of '" .. key .. "' matches the filter") end
    if op == "add" then
      local elem = {}
      for k, x in pairs(described(p.filter, {})) do elem[def.sub_index[k] or k] = x end
      if subname then elem[subname] = v else elem = merge(elem, schema.canon_attr(key, v)) end
      kept[#kept + 1] = schema.canon_attr(key, { elem })[1]
    end
  end
  obj[key] = #kept > 0 and kept or nil
end

local function apply_one(op, r, path, v)
  if path == nil or path == "" then
    if op == "remove" then fail("noTarget", "remove needs a path") end
    if type(v) ~= "table" or is_array(v) then
      fail("invalidValue", "an operation without a path needs an object value")
    end
    for k, x in pairs(v) do
      if type(k) == "string" and lower(k) == lower(schema.ENTERPRISE) and type(x) == "table" then
        for ek, ex in pairs(x) do apply_one(op, r, schema.ENTERPRISE .. ":" .. ek, ex) end
      elseif type(k) == "string" and not IGNORED[lower(k)] then
        apply_one(op, r, k, x)
      end
    end
    return
  end
  if type(path) ~= "string" then fail("invalidPath", "path must be a string") end
  local p = filter.patch_path(path)
  if IGNORED[p.path[1]] and #p.path == 1 then
    if p.path[1] == "schemas" then return end
    fail("mutability", "'" .. path .. "' is read-only")
  end
  if p.filter then return apply_filtered(op, r, p, v) end
  local obj, key, def = target(r, p.path, op ~= "remove")
  if obj then set_plain(op, obj, key, def, v) end
end

--- Applies the Operations of a PatchOp body to a resource (changed in place).
-- @tparam table r the resource, canonical
-- @tparam table body the decoded PatchOp request
-- @raise `{ scim = "invalidSyntax" | "invalidPath" | "noTarget" | "invalidValue" | "mutability" }`
function _M.apply(r, body)
  local ops = type(body) == "table" and filter.get(body, "operations")
  if type(ops) ~= "table" or not is_array(ops) or ops[1] == nil then
    fail("invalidSyntax", "a PatchOp body with Operations expected")
  end
  for _, o in ipairs(ops) do
    if type(o) ~= "table" then fail("invalidSyntax", "each operation must be an object") end
    local op = filter.get(o, "op")
    op = type(op) == "string" and lower(op) or nil
    if op ~= "add" and op ~= "replace" and op ~= "remove" then
      fail("invalidSyntax", "op must be add, replace or remove")
    end
    local v = filter.get(o, "value")
    if op ~= "remove" and v == nil then fail("invalidValue", op .. " needs a value") end
    apply_one(op, r, filter.get(o, "path"), v)
  end
  return r
end

return _M
