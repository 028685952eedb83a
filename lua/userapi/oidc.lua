--- Where a renewed bearer token comes from: a `token` function given by the
-- caller, or Arthur's OIDC client-credentials grant (discovery from the base
-- URL, or the pinned `token_url`, then the token endpoint). The token's
-- state and its renewal are @{userapi.auth}'s.
-- @module userapi.oidc
local json = require "userapi.json"
local errors = require "userapi.errors"

local type, tonumber = type, tonumber
local _M = {}


-- a form value: everything but RFC 3986's unreserved bytes percent-encoded
local form_escape = require("userapi.core").escape


--- Why a token endpoint is refused, or nil: the rules of `base_url`
-- (@{userapi.options.url_problem}, the one function for both).
-- @function endpoint_problem
-- @tparam string url the endpoint
-- @tparam boolean allow_insecure the client's `allow_insecure`
-- @treturn ?string
_M.endpoint_problem = require("userapi.options").url_problem

local function auth_error(client, message)
  return nil, errors.new{ vendor = client.vendor.name, operation = "token", kind = "auth",
    message = message, secrets = client.secrets }
end

-- The token endpoint: the pinned token_url, else discovery from the base URL
-- (asked once, kept by the auth object).
local function token_endpoint(client, auth, base)
  if auth.endpoint then return auth.endpoint end
  local status, body, headers = client.transport:request{
    method = "GET", url = client.base_url .. client.vendor.discovery, auth = false,
    headers = { Accept = "application/json" } }
  if not status then return nil, errors.from_transport(base, body) end
  local doc = json.decode(body)
  if status ~= 200 or type(doc) ~= "table" or type(doc.token_endpoint) ~= "string" then
    return nil, errors.from_response(base, status, body, headers, doc)
  end
  local problem = _M.endpoint_problem(doc.token_endpoint, client.opts.allow_insecure)
  if problem then
    return auth_error(client, "discovery named a token_endpoint that is refused: " .. problem)
  end
  auth.endpoint = doc.token_endpoint
  return doc.token_endpoint
end

-- Fetches a token with the client-credentials grant; returns token, expires_in.
local function client_credentials(client, auth, id, secret)
  local base = { vendor = client.vendor.name, operation = "token", secrets = client.secrets }
  local endpoint, err = token_endpoint(client, auth, base)
  if not endpoint then return nil, err end
  local scope = client.vendor.token_scope
  local status, body, headers = client.transport:request{
    method = "POST", url = endpoint, auth = false,
    headers = { Accept = "application/json", ["Content-Type"] = "application/x-www-form-urlencoded" },
    body = "grant_type=client_credentials" .. (scope and "&scope=" .. form_escape(scope) or "") ..
      "&client_id=" .. form_escape(id) .. "&client_secret=" .. form_escape(secret) }
  if not status then return nil, errors.from_transport(base, body) end
  local tok = json.decode(body)
  if status ~= 200 or type(tok) ~= "table" or type(tok.access_token) ~= "string" then
    return nil, errors.from_response(base, status, body, headers, tok)
  end
  return tok.access_token, tonumber(tok.expires_in)
end

--- The token provider of a client from its options (`token` function, or
-- `client_id` + `client_secret`, with `token_url` pinning the token
-- endpoint); nil when `access_token` is given alone.
-- @tparam userapi.client.Client client
-- @tparam table opts the constructor's options
-- @tparam table auth the auth object (@{userapi.auth}): keeps the endpoint
-- @treturn ?function the provider: `() -> token, expires_in` or `nil, err`
-- @raise when none of `access_token`, `token`, `client_id` + `client_secret` is
-- given, or on a `token_url` that breaks the rules of `base_url`
function _M.provider(client, opts, auth)
  local name = "userapi." .. client.vendor.name
  -- a constructor's refusal: structured (userapi.refusal), its message the one users read
  local function refuse(option, reason, message, missing)
    require("userapi.refusal").raise{ kind = "options", vendor = client.vendor.name, option = option,
      reason = reason, missing = missing, message = name .. ": " .. message }
  end
  local provider = opts.token
  if provider ~= nil and type(provider) ~= "function" then
    refuse("token", "invalid", "token must be a function returning a token")
  end
  if opts.token_url ~= nil then
    local problem = _M.endpoint_problem(opts.token_url, opts.allow_insecure)
    if problem then refuse("token_url", "invalid", "token_url refused: " .. problem) end
    auth.endpoint = opts.token_url
  end
  if not provider and opts.client_id then
    if type(opts.client_id) ~= "string" or type(opts.client_secret) ~= "string" then
      refuse("client_id", "invalid", "client_id and client_secret strings expected")
    end
    local id, secret = opts.client_id, opts.client_secret
    provider = function() return client_credentials(client, auth, id, secret) end
  end
  if not provider and not opts.access_token then
    refuse(nil, "credentials", "access_token, token or client_id + client_secret required",
      "access_token, token or client_id + client_secret")
  end
  return provider
end

return _M
