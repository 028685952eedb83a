--- Where a client's budget is shared: a Redis server (option `store`), the
-- nginx shared dict (option `shared_dict`, `"userapi"` by default, used
-- when nginx declares it), or nowhere.
-- @module userapi.store
local fingerprint = require "userapi.store.fingerprint"

local type, ipairs, error = type, ipairs, error
local ngx = ngx

local _M = {}

-- the option values that name a credential, in a fixed order
local function credential_parts(client, opts)
  local parts = {}
  local names = { "client_id", "login" }
  for _, k in ipairs(client.vendor.credentials) do names[#names + 1] = k end
  for _, k in ipairs(names) do
    if type(opts[k]) == "string" then parts[#parts + 1] = k .. "=" .. opts[k] end
  end
  return parts
end

--- The tenant key of a client: `vendor:fingerprint` of its base URL and
-- credential, the name its budget and token have in a shared store (and the
-- journal's header). The second value says whether the key names a credential.
-- @tparam userapi.client.Client client (its `vendor`, `base_url`)
-- @tparam table opts the constructor's options
-- @treturn string the key
-- @treturn boolean whether it names a credential
function _M.tenant_key(client, opts)
  local parts = credential_parts(client, opts)
  return fingerprint.tenant(client.vendor.name, client.base_url, parts), #parts > 0
end

--- The shared store of a client and its tenant key, or nil when its budget
-- is its own. The third value says whether the key names a credential: a
-- client whose token comes from a `token` function has none to name, and
-- must not take another tenant's token from the store (its rate budget is
-- still shared, by vendor and base URL).
-- @tparam userapi.client.Client client (its `vendor`, `base_url`, `now`, `sleep`, `warn`)
-- @tparam table opts the constructor's options (`store`, `shared_dict`)
-- @treturn ?table the store
-- @treturn ?string the tenant key
-- @treturn boolean whether the key names a credential (the token may be shared)
-- @raise on a bad `store` or `shared_dict`, or a named dict nginx lacks
function _M.for_client(client, opts)
  local name = "userapi." .. client.vendor.name
  local store
  if opts.store ~= nil and opts.store ~= false then
    store = require("userapi.store.redis").new(opts.store, client, name)
  else
    local dict = opts.shared_dict
    if dict ~= nil and dict ~= false and type(dict) ~= "string" then
      error(name .. ": shared_dict must be the name of a lua_shared_dict or false", 0)
    end
    -- outside nginx there is no dict: the same options serve a plain-Lua job
    if dict ~= false and ngx and ngx.shared then
      store = require("userapi.store.shdict").new(dict or "userapi", client.now, client.sleep)
      if not store and dict then
        error(name .. ": no lua_shared_dict '" .. dict .. "' (declare it in nginx.conf)", 0)
      end
    end
  end
  if not store then return nil end
  return store, _M.tenant_key(client, opts)
end

return _M
