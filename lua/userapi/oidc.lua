--- Bearer tokens that renew themselves: a `token` function given by the
-- caller, or Arthur's OIDC client-credentials grant (discovery, then the
-- token endpoint), refreshed 30 s before expiry.
-- @module userapi.oidc
local json = require "userapi.json"
local errors = require "userapi.errors"

local type, tonumber = type, tonumber
local _M = {}

local LEEWAY = 30

local function form_escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- Fetches a token with the client-credentials grant; returns token, expires_in.
local function client_credentials(client, id, secret)
  local base = { vendor = client.vendor.name, operation = "token", secrets = client.secrets }
  local endpoint = client.token_endpoint
  if not endpoint then
    local status, body, headers = client.transport:request{
      method = "GET", url = client.base_url .. client.vendor.discovery, auth = false,
      headers = { Accept = "application/json" } }
    if not status then return nil, errors.from_transport(base, body) end
    local doc = json.decode(body)
    if status ~= 200 or type(doc) ~= "table" or type(doc.token_endpoint) ~= "string" then
      return nil, errors.from_response(base, status, body, headers, doc)
    end
    endpoint = doc.token_endpoint
    client.token_endpoint = endpoint
  end
  local status, body, headers = client.transport:request{
    method = "POST", url = endpoint, auth = false,
    headers = { Accept = "application/json", ["Content-Type"] = "application/x-www-form-urlencoded" },
    body = "grant_type=client_credentials&scope=" .. form_escape("openid email profile") ..
      "&client_id=" .. form_escape(id) .. "&client_secret=" .. form_escape(secret) }
  if not status then return nil, errors.from_transport(base, body) end
  local tok = json.decode(body)
  if status ~= 200 or type(tok) ~= "table" or type(tok.access_token) ~= "string" then
    return nil, errors.from_response(base, status, body, headers, tok)
  end
  return tok.access_token, tonumber(tok.expires_in)
end

--- Installs a token provider on a client from its options (`token` function,
-- or `client_id` + `client_secret`); does nothing when neither is given.
-- @tparam userapi.client.Client client
-- @tparam table opts the constructor's options
-- @raise when none of `access_token`, `token`, `client_id` + `client_secret` is given
function _M.setup(client, opts)
  local provider = opts.token
  if provider ~= nil and type(provider) ~= "function" then
    error("userapi." .. client.vendor.name .. ": token must be a function returning a token", 3)
  end
  if not provider and opts.client_id then
    if type(opts.client_id) ~= "string" or type(opts.client_secret) ~= "string" then
      error("userapi." .. client.vendor.name .. ": client_id and client_secret strings expected", 3)
    end
    local id, secret = opts.client_id, opts.client_secret
    provider = function() return client_credentials(client, id, secret) end
  end
  if not provider and not opts.access_token then
    error("userapi." .. client.vendor.name .. ": access_token, token or client_id + client_secret required", 3)
  end
  client.token_provider = provider
end

--- Makes sure the session holds a valid token; `force` renews it (after a 401).
-- Raises nothing: returns true, or nil and an error.
-- @tparam userapi.client.Client client
-- @tparam boolean force renew even a valid token
-- @treturn[1] boolean true
-- @treturn[2] nil
-- @treturn[2] userapi.errors.Error
function _M.refresh(client, force)
  -- the client's clock, in seconds: injected in tests, monotonic otherwise
  local now = client.now() / 1000
  if not force and client.token and (not client.token_expires or now < client.token_expires - LEEWAY) then
    return true
  end
  local token, expires_in = client.token_provider()
  if type(token) ~= "string" or token == "" then
    if errors.is(expires_in) then return nil, expires_in end
    return nil, errors.new{ vendor = client.vendor.name, operation = "token", kind = "auth",
      message = expires_in ~= nil and tostring(expires_in) or ("token provider returned " .. type(token)),
      secrets = client.secrets }
  end
  -- the previous token is kept among the secrets: old errors may quote it
  if token ~= client.token then
    client.secrets[#client.secrets + 1] = token
    -- drop the oldest token, never the configured credentials before it
    local fixed = client.fixed_secrets or 0
    if #client.secrets > fixed + 16 then table.remove(client.secrets, fixed + 1) end
  end
  client.token = token
  client.token_expires = expires_in and client.now() / 1000 + expires_in or nil
  client.transport:set_auth{ scheme = "bearer", token = token }
  return true
end

return _M
