--- The one identity of a vendor tenant: the vendor, the base URL and a
-- fingerprint of the credential. The shared budget's store keys, the shared
-- token, the journal's header and the log lines all name a tenant by it;
-- nothing else rebuilds it. The store never holds the secret itself: the
-- fingerprint is a SHA-256 over the base URL and the credential's parts.
-- @module userapi.tenant
local fingerprint = require "userapi.store.fingerprint"

local type, ipairs, setmetatable, error = type, ipairs, setmetatable, error

local _M = {}

-- the option values that name a credential, in a fixed order: the login or
-- client id, then the vendor's credentials
local function credential_parts(vendor, opts)
  local parts = {}
  local names = { "client_id", "login" }
  for _, k in ipairs(vendor.credentials or {}) do names[#names + 1] = k end
  for _, k in ipairs(names) do
    if type(opts[k]) == "string" then parts[#parts + 1] = k .. "=" .. opts[k] end
  end
  return parts
end

local Tenant = {}
Tenant.__index = Tenant
Tenant.__newindex = function() error("userapi: a tenant is read-only", 2) end

--- A tenant from a client's vendor, base URL and checked options.
-- @tparam table vendor a compiled vendor table
-- @tparam string base_url the client's base URL
-- @tparam table opts the checked options
-- @treturn table the tenant (read-only): `vendor` (its name), `base_url`,
-- `fingerprint` (32 hex digits), `key` (`vendor:fingerprint`, the store's
-- name for it), `names_credential` (false when the token comes from a `token`
-- function: there is no credential to name, and the token is not shared),
-- `label` (for log lines: vendor, host, the fingerprint's first 8 digits)
function _M.new(vendor, base_url, opts)
  local parts = credential_parts(vendor, opts)
  local key = fingerprint.tenant(vendor.name, base_url, parts)
  local fp = key:sub(#vendor.name + 2)
  local host = base_url:match("^%a+://([^/?#]*)") or base_url
  return setmetatable({}, { __index = {
    vendor = vendor.name, base_url = base_url, fingerprint = fp, key = key,
    names_credential = #parts > 0, label = vendor.name .. "@" .. host .. "#" .. fp:sub(1, 8),
  }, __newindex = Tenant.__newindex, __metatable = "userapi.tenant" })
end

--- The fields of a tenant as a plain table (for a journal header, JSON).
-- @tparam table t a tenant
-- @treturn table `vendor`, `base_url`, `fingerprint`
function _M.fields(t)
  return { vendor = t.vendor, base_url = t.base_url, fingerprint = t.fingerprint }
end

return _M
