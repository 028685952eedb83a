--- The SCIM User schema as the bridge knows it (RFC 7643 §4.1, §4.3): the
-- canonical spelling of each attribute, its type and plurality, so that a
-- resource sent as `{"Emails":[{"Primary":"True"}]}` is read as
-- `{ emails = { { primary = true } } }`.
-- @module userapi.scim.schema
local type, pairs, ipairs, lower = type, pairs, ipairs, string.lower

local _M = {}

_M.CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
_M.ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
_M.LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
_M.ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
_M.PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

local MULTI = { "value", "display", "type", "primary", "$ref" }
local ADDRESS = { "formatted", "streetAddress", "locality", "region", "postalCode", "country", "type", "primary" }

--- The User attributes: name -> { type, multi, sub = { names } }.
_M.USER = {
  id = { type = "string", mutability = "readOnly", returned = "always" },
  externalId = { type = "string", caseExact = true },
  userName = { type = "string", required = true, uniqueness = "server" },
  name = { type = "complex", sub = { "formatted", "familyName", "givenName", "middleName", "honorificPrefix",
                                      "honorificSuffix" } },
  displayName = { type = "string" }, nickName = { type = "string" }, profileUrl = { type = "reference" },
  title = { type = "string" }, userType = { type = "string" }, preferredLanguage = { type = "string" },
  locale = { type = "string" }, timezone = { type = "string" }, active = { type = "boolean" },
  password = { type = "string", mutability = "writeOnly", returned = "never" },
  emails = { type = "complex", multi = true, sub = MULTI },
  phoneNumbers = { type = "complex", multi = true, sub = MULTI },
  ims = { type = "complex", multi = true, sub = MULTI },
  photos = { type = "complex", multi = true, sub = MULTI },
  addresses = { type = "complex", multi = true, sub = ADDRESS },
  groups = { type = "complex", multi = true, sub = MULTI, mutability = "readOnly" },
  entitlements = { type = "complex", multi = true, sub = MULTI },
  roles = { type = "complex", multi = true, sub = MULTI },
  x509Certificates = { type = "complex", multi = true, sub = MULTI },
  meta = { type = "complex", mutability = "readOnly",
           sub = { "resourceType", "created", "lastModified", "location", "version" } },
  schemas = { type = "string", multi = true },
}

_M.ENTERPRISE_ATTRS = {
  employeeNumber = { type = "string" }, costCenter = { type = "string" }, organization = { type = "string" },
  division = { type = "string" }, department = { type = "string" },
  manager = { type = "complex", sub = { "value", "$ref", "displayName" } },
}

local BOOLEAN_SUB = { primary = true }

-- lower-case name -> canonical name, per level
local function index(attrs)
  local idx = {}
  for name, def in pairs(attrs) do
    idx[lower(name)] = name
    if def.sub then
      def.sub_index = {}
      for _, s in ipairs(def.sub) do def.sub_index[lower(s)] = s end
    end
  end
  return idx
end
local USER_INDEX, ENT_INDEX = index(_M.USER), index(_M.ENTERPRISE_ATTRS)

--- The canonical name of a User attribute (`EMAILS` -> `emails`), or nil.
function _M.canonical(name)
  if type(name) ~= "string" then return nil end
  local l = lower(name)
  if l == lower(_M.ENTERPRISE) then return _M.ENTERPRISE end
  return USER_INDEX[l]
end

--- A string boolean as providers send it ("True", "false") as a boolean.
function _M.boolean(v)
  if type(v) == "string" then
    local l = lower(v)
    if l == "true" then return true elseif l == "false" then return false end
  end
  return v
end
local boolean = _M.boolean

local function canon_complex(def, v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do
    local name = type(k) == "string" and def.sub_index[lower(k)] or k
    out[name] = BOOLEAN_SUB[name] and boolean(x) or x
  end
  return out
end

local function canon_value(def, v)
  if def.type == "boolean" then return boolean(v) end
  if def.type ~= "complex" then return v end
  if def.multi and type(v) == "table" then
    if v[1] == nil and next(v) ~= nil then return { canon_complex(def, v) } end
    local out = {}
    for i, x in ipairs(v) do out[i] = canon_complex(def, x) end
    return out
  end
  return canon_complex(def, v)
end

--- One attribute's value in canonical form: sub-attribute names spelled as
-- the schema spells them, string booleans as booleans.
-- @tparam string name a canonical attribute name
-- @param v the value
function _M.canon_attr(name, v)
  local def = _M.USER[name]
  if def then return canon_value(def, v) end
  return v
end

--- A resource in canonical form (unknown attributes are dropped: RFC 7644
-- §3.3 lets a service provider ignore what it does not know).
-- @tparam table r
-- @treturn table
function _M.canon(r)
  local out = {}
  for k, v in pairs(r) do
    local name = _M.canonical(k)
    if name == _M.ENTERPRISE then
      local ext = {}
      for ek, ev in pairs(type(v) == "table" and v or {}) do
        local en = ENT_INDEX[lower(ek)]
        if en then ext[en] = canon_value(_M.ENTERPRISE_ATTRS[en], ev) end
      end
      out[name] = ext
    elseif name then
      out[name] = canon_value(_M.USER[name], v)
    end
  end
  return out
end

--- The definition of a path's first part, for PATCH (`emails` -> its def).
function _M.def(parts)
  local first = parts[1]
  if first == lower(_M.ENTERPRISE) then
    local en = ENT_INDEX[parts[2] or ""]
    return en and _M.ENTERPRISE_ATTRS[en], en, _M.ENTERPRISE
  end
  local name = USER_INDEX[first]
  return name and _M.USER[name], name
end

-- ---- the check of a vendor's mapping (people.scim), at register ----------------------

local PAGE_KEYS = { op = "op", items = "string", total = "string", offset = "string", limit = "string",
                    page = "string", size = "string", params = "table" }
local ATTR_KEYS = { read_only = "boolean", raw = "boolean", fallback = "table" }
-- disable, enable: function(client, id) -> true | nil, err; emails = false: the vendor's
-- email is not a SCIM email (Sigfox's API users are named after their owner)
local MAPPING_KEYS = { attributes = "table", page = "table", password = "string", disable = "function",
                       enable = "function", emails = "boolean" }

--- Checks a vendor's SCIM mapping (its `people.scim`) when the vendor is
-- registered: each key, each attribute row `{ scim_path, field, read_only, raw,
-- fallback }`, the operation its page names. A misspelt key gets did-you-mean.
-- @tparam string vname the vendor's name
-- @tparam table m the mapping
-- @tparam table ops the vendor's operations, by name
-- @raise `userapi: vendor 'x': people.scim.page: unknown field 'itmes' (did you mean 'items'?)`
function _M.check_mapping(vname, m, ops)
  local did_you_mean = require("userapi.check").did_you_mean
  local function fail(where, msg) error(("userapi: vendor '%s': people.scim%s: %s"):format(vname, where, msg), 0) end
  -- the named keys of t against known (name -> a type, or "op"); list entries are the caller's
  local function keys(where, t, known)
    if type(t) ~= "table" then fail(where, "table expected, got " .. type(t)) end
    for k, v in pairs(t) do
      if type(k) ~= "number" then
        local want = known[k]
        if not want then fail(where, ("unknown field '%s'%s"):format(tostring(k), did_you_mean(k, known))) end
        if want == "op" then
          if not ops[v] then
            fail(where .. "." .. k, ("no operation '%s'%s"):format(tostring(v), did_you_mean(v, ops)))
          end
        elseif type(v) ~= want then
          fail(where .. "." .. k, want .. " expected, got " .. type(v))
        end
      end
    end
  end
  keys("", m, MAPPING_KEYS)
  if m.password ~= nil and m.password ~= "generate" then fail(".password", "\"generate\" expected") end
  for i, a in ipairs(m.attributes or {}) do
    local where = ".attributes[" .. i .. "]"
    if type(a) ~= "table" or type(a[1]) ~= "string" or type(a[2]) ~= "string" then
      fail(where, "{ scim_path, field, ... } expected")
    end
    keys(where, a, ATTR_KEYS)
  end
  if m.page then
    keys(".page", m.page, PAGE_KEYS)
    if not (m.page.op and m.page.items and m.page.total) then fail(".page", "op, items and total required") end
  end
end

return _M
