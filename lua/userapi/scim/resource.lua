--- A person as a SCIM User: the vendor's account (a record of the people
-- layer) seen through the vendor's `people.scim` mapping, over what the bridge
-- keeps in its store for attributes the vendor cannot hold. The vendor wins
-- for what it holds; the SCIM `id` is the vendor's id.
-- @module userapi.scim.resource
local schema = require "userapi.scim.schema"
local filter = require "userapi.scim.filter"
local json = require "userapi.json"

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local lower = string.lower

local _M = {}

-- a deep copy (metatables kept: an empty JSON array stays one)
local function copy(v)
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = copy(x) end
  return setmetatable(c, getmetatable(v))
end

-- an enterprise attribute's path ("urn:...:enterprise:2.0:User:department"):
-- the extension's object and the rest of the path
local function in_extension(r, path, create)
  if path:sub(1, #schema.ENTERPRISE + 1) ~= schema.ENTERPRISE .. ":" then return r, path end
  if type(r[schema.ENTERPRISE]) ~= "table" then
    if not create then return nil, path end
    r[schema.ENTERPRISE] = {}
  end
  return r[schema.ENTERPRISE], path:sub(#schema.ENTERPRISE + 2)
end

-- a dotted path's parts, split once: the mapping's paths are few and asked every request
local split = setmetatable({}, { __index = function(t, path)
  local parts = {}
  for part in path:gmatch("[^%.]+") do parts[#parts + 1] = part end
  t[path] = parts
  return parts
end })

--- The value at a dotted path (`name.givenName`, `displayName`, or an
-- enterprise attribute after the extension's URN and a colon).
function _M.get_path(r, path)
  local v
  v, path = in_extension(r, path, false)
  for _, part in ipairs(split[path]) do
    if type(v) ~= "table" then return nil end
    v = filter.get(v, lower(part))
  end
  return v
end

--- Sets the value at a dotted path, making the objects on the way.
function _M.set_path(r, path, value)
  r, path = in_extension(r, path, true)
  local parts = split[path]
  local obj = r
  for i = 1, #parts - 1 do
    if type(obj[parts[i]]) ~= "table" then obj[parts[i]] = {} end
    obj = obj[parts[i]]
  end
  obj[parts[#parts]] = value
end

--- Whether a string looks like an email address.
-- @param s
-- @treturn boolean
function _M.is_address(s) return type(s) == "string" and s:match("^[^@%s]+@[^@%s]+%.[^@%s]+$") ~= nil end
local is_address = _M.is_address

--- The email a vendor account gets from a resource: the primary email when
-- it is an address, else the first email that is one, else the userName
-- when it is one.
-- @treturn ?string lower-cased
function _M.email_of(r)
  local emails = type(r.emails) == "table" and r.emails or {}
  for _, e in ipairs(emails) do
    if type(e) == "table" and e.primary == true and is_address(e.value) then return lower(e.value) end
  end
  for _, e in ipairs(emails) do
    if type(e) == "table" and is_address(e.value) then return lower(e.value) end
  end
  if is_address(r.userName) then return lower(r.userName) end
end

--- Whether the resource lists this email among its emails.
function _M.has_email(r, email)
  for _, e in ipairs(type(r.emails) == "table" and r.emails or {}) do
    if type(e) == "table" and type(e.value) == "string" and lower(e.value) == email then return true end
  end
  return false
end

-- the account's email among the resource's emails: kept where the provider
-- put it, or added as the primary work email
local function with_email(r, email)
  if not email or _M.has_email(r, email) then return end
  local list = type(r.emails) == "table" and r.emails or {}
  for _, e in ipairs(list) do if type(e) == "table" then e.primary = false end end
  table.insert(list, 1, { value = email, type = "work", primary = true })
  r.emails = list
end

--- The SCIM User of an account.
-- @tparam table app the application (`mapping`, `base`)
-- @tparam table record the people layer's record of the account
-- @tparam ?table stored what the store holds for it
-- @treturn table the resource
function _M.render(app, record, stored)
  local r = stored and copy(stored) or {}
  local meta = r.meta or {}
  r.meta, r.password = nil, nil
  for _, a in ipairs(app.mapping.attributes or {}) do
    local v = (a.raw and record.raw or record)[a[2]]
    if v ~= nil and v ~= "" then _M.set_path(r, a[1], v) end
  end
  if app.mapping.emails ~= false then with_email(r, record.email) end
  r.id = tostring(record.id)
  r.userName = r.userName or record.email or r.id
  -- a pending invitation counts as active: the account exists, not disabled
  if record.active ~= nil then r.active = record.active ~= false or record.pending == true end
  if r.active == nil then r.active = true end
  local schemas = { schema.CORE }
  if r[schema.ENTERPRISE] then schemas[2] = schema.ENTERPRISE end
  r.schemas = schemas
  r.meta = { resourceType = "User", created = record.created_at or meta.created,
             lastModified = record.updated_at or meta.lastModified or record.created_at or meta.created,
             location = app.base .. "/Users/" .. r.id }
  return r
end

--- What the store keeps of a resource: all but what is derived or secret.
function _M.storable(r, created)
  local s = copy(r)
  s.id, s.schemas, s.password = nil, nil, nil
  s.meta = { created = created, lastModified = os.date("!%Y-%m-%dT%H:%M:%SZ") }
  return json.encode(s)
end

local ALWAYS = { id = true, schemas = true }

--- The resource cut to `attributes` or without `excludedAttributes` (RFC 7644 §3.9).
-- @tparam table r
-- @tparam ?string attributes comma-separated
-- @tparam ?string excluded comma-separated
function _M.project(r, attributes, excluded)
  local function names(s)
    local set = {}
    for a in s:gmatch("[^,]+") do
      a = a:match("^%s*(.-)%s*$"):gsub("%[.*$", "")
      local parts = filter.split_path(a)
      set[parts[1]] = set[parts[1]] or {}
      if parts[2] then set[parts[1]][parts[2]] = true else set[parts[1]].all = true end
    end
    return set
  end
  if attributes and attributes ~= "" then
    local want, out = names(attributes), {}
    for k, v in pairs(r) do
      local w = want[lower(k)]
      if ALWAYS[k] or (w and w.all) then
        out[k] = v
      elseif w and type(v) == "table" then
        local part = {}
        for sk, sv in pairs(v) do if w[lower(sk)] then part[sk] = sv end end
        out[k] = part
      end
    end
    return out
  end
  if excluded and excluded ~= "" then
    local drop = names(excluded)
    for k in pairs(r) do
      local d = drop[lower(k)]
      if d and d.all and not ALWAYS[k] then r[k] = nil end
    end
  end
  return r
end

return _M
