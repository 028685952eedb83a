--- ServiceProviderConfig, ResourceTypes and Schemas (RFC 7644 §4, RFC 7643
-- §5-7) of one application, saying only what it supports: Users always,
-- Groups never yet, no bulk, sort, etag or password change; the User
-- attributes the vendor cannot change marked readOnly.
-- @module userapi.scim.discovery
local schema = require "userapi.scim.schema"

local pairs, ipairs, sort = pairs, ipairs, table.sort

local _M = {}

local function list(items)
  return { schemas = { schema.LIST }, totalResults = #items, startIndex = 1, itemsPerPage = #items,
           Resources = items }
end

--- The ServiceProviderConfig of an application (RFC 7644 §5).
-- @tparam table app the application
-- @treturn table
function _M.service_provider_config(app)
  return {
    schemas = { "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig" },
    documentationUri = "https://github.com/userapi/userapi#scim",
    patch = { supported = true },
    bulk = { supported = false, maxOperations = 0, maxPayloadSize = 0 },
    filter = { supported = true, maxResults = app.max_results },
    changePassword = { supported = false },
    sort = { supported = false },
    etag = { supported = false },
    authenticationSchemes = { {
      type = "oauthbearertoken", name = "OAuth Bearer Token", primary = true,
      description = "A bearer token configured for this application",
    } },
    meta = { resourceType = "ServiceProviderConfig", location = app.base .. "/ServiceProviderConfig" },
  }
end

local function user_type(app)
  return {
    schemas = { "urn:ietf:params:scim:schemas:core:2.0:ResourceType" },
    id = "User", name = "User", endpoint = "/Users", description = "User Account",
    schema = schema.CORE,
    schemaExtensions = { { schema = schema.ENTERPRISE, required = false } },
    meta = { resourceType = "ResourceType", location = app.base .. "/ResourceTypes/User" },
  }
end

--- The ResourceTypes list, or one of them by id (nil when unknown).
-- @tparam table app
-- @tparam ?string id
-- @treturn ?table
function _M.resource_types(app, id)
  if id == nil then return list({ user_type(app) }) end
  if id == "User" then return user_type(app) end
end

-- attributes the vendor holds but cannot change through its API
local function read_only(app)
  local ro = {}
  local fields = app.people.fields or {}
  for _, a in ipairs(app.mapping.attributes or {}) do
    if a.read_only or not fields[a[2]] or not app.people.update then ro[a[1]] = true end
  end
  if not app.people.update then ro.emails = true end
  if not app.mapping.disable then ro.active = nil end -- deactivation: see on_deactivate
  return ro
end

local function attribute(name, def, ro, prefix)
  local full = prefix and (prefix .. "." .. name) or name
  local a = {
    name = name, type = def.type, multiValued = def.multi == true, required = def.required == true,
    caseExact = def.caseExact == true, mutability = ro[full] and "readOnly" or def.mutability or "readWrite",
    returned = def.returned or "default", uniqueness = def.uniqueness or "none",
    description = name,
  }
  if def.sub then
    local subs = {}
    for _, s in ipairs(def.sub) do
      subs[#subs + 1] = attribute(s, { type = s == "primary" and "boolean" or "string" }, ro, full)
    end
    a.subAttributes = subs
  end
  return a
end

local function attributes(defs, ro)
  local names = {}
  for name in pairs(defs) do
    if name ~= "schemas" and name ~= "meta" and name ~= "id" then names[#names + 1] = name end
  end
  sort(names)
  local out = {}
  for _, name in ipairs(names) do out[#out + 1] = attribute(name, defs[name], ro) end
  return out
end

local function schemas(app)
  local ro = read_only(app)
  return {
    { schemas = { "urn:ietf:params:scim:schemas:core:2.0:Schema" }, id = schema.CORE, name = "User",
      description = "User Account", attributes = attributes(schema.USER, ro),
      meta = { resourceType = "Schema", location = app.base .. "/Schemas/" .. schema.CORE } },
    { schemas = { "urn:ietf:params:scim:schemas:core:2.0:Schema" }, id = schema.ENTERPRISE, name = "EnterpriseUser",
      description = "Enterprise User", attributes = attributes(schema.ENTERPRISE_ATTRS, {}),
      meta = { resourceType = "Schema", location = app.base .. "/Schemas/" .. schema.ENTERPRISE } },
  }
end

--- The Schemas list, or one schema by its URN (nil when unknown).
-- @tparam table app
-- @tparam ?string id
-- @treturn ?table
function _M.schemas(app, id)
  local all = schemas(app)
  if id == nil then return list(all) end
  for _, s in ipairs(all) do if s.id == id then return s end end
end

return _M
