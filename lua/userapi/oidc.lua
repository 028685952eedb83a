--- Bearer tokens that renew themselves: a `token` function given by the
-- caller, or Arthur's OIDC client-credentials grant (discovery from the base
-- URL, or the pinned `token_url`, then the token endpoint), renewed 30 s
-- before expiry.
--
-- Renewal is single flight: while one request of a client renews, the
-- others wait for it (or keep a token that is still valid). With a shared
-- store (@{userapi.store}) the token is shared too: one worker or host
-- renews it behind a lock, the others wait and then use it.
-- @module userapi.oidc
local json = require "userapi.json"
local errors = require "userapi.errors"

local type, tonumber, tostring, error, pcall, ipairs = type, tonumber, tostring, error, pcall, ipairs
local find, running = string.find, coroutine.running
local _M = {}

local LEEWAY_MS = 30000
local WAIT_MS = 60000       -- the longest a request waits for another's renewal
local LOCK_MS = WAIT_MS / 2 -- a renewer that died frees the lock while the others still wait
local POLL_MS = 5
local NO_EXPIRY_MS = 3600000 -- how long a shared token without expires_in is kept
-- the longest lifetime believed: an absurd expires_in (1e300) must not reach
-- a store as an expiry it refuses; a token lasting longer is renewed sooner
local MAX_LIFETIME_S = 86400

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

-- The token endpoint: the pinned token_url, else discovery from the base URL.
local function token_endpoint(client, base)
  if client.token_endpoint then return client.token_endpoint end
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
  client.token_endpoint = doc.token_endpoint
  return doc.token_endpoint
end

-- Fetches a token with the client-credentials grant; returns token, expires_in.
local function client_credentials(client, id, secret)
  local base = { vendor = client.vendor.name, operation = "token", secrets = client.secrets }
  local endpoint, err = token_endpoint(client, base)
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

--- Installs a token provider on a client from its options (`token` function,
-- or `client_id` + `client_secret`, with `token_url` pinning the token
-- endpoint); does nothing more when `access_token` is given.
-- @tparam userapi.client.Client client
-- @tparam table opts the constructor's options
-- @raise when none of `access_token`, `token`, `client_id` + `client_secret` is
-- given, or on a `token_url` that breaks the rules of `base_url`
function _M.setup(client, opts)
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
    client.token_endpoint = opts.token_url
  end
  if not provider and opts.client_id then
    if type(opts.client_id) ~= "string" or type(opts.client_secret) ~= "string" then
      refuse("client_id", "invalid", "client_id and client_secret strings expected")
    end
    local id, secret = opts.client_id, opts.client_secret
    provider = function() return client_credentials(client, id, secret) end
  end
  if not provider and not opts.access_token then
    refuse(nil, "credentials", "access_token, token or client_id + client_secret required",
      "access_token, token or client_id + client_secret")
  end
  client.token_provider = provider
end

-- Makes `token` the client's, valid for ttl_ms (nil: until the vendor refuses it).
local function install(client, token, ttl_ms)
  -- the previous token is kept among the secrets: old errors may quote it;
  -- in every form a server may echo it in (percent, form, JSON-escaped)
  if token ~= client.token then
    local forms = errors.secret_forms(token)
    for _, f in ipairs(forms) do client.secrets[#client.secrets + 1] = f end
    local counts = client.token_forms or {}
    client.token_forms = counts
    counts[#counts + 1] = #forms
    -- drop the oldest token's forms, never the configured credentials before them
    if #counts > 16 then
      local fixed = client.fixed_secrets or 0
      for _ = 1, table.remove(counts, 1) do table.remove(client.secrets, fixed + 1) end
    end
  end
  client.token = token
  client.token_expires = ttl_ms and client.now() + ttl_ms or nil
  client.transport:set_auth{ scheme = "bearer", token = token }
  return true
end

local function valid(client, rejected)
  return client.token and client.token ~= rejected
    and (not client.token_expires or client.now() < client.token_expires - LEEWAY_MS)
end

-- Calls the provider; checks what it gave (data from a server never raises).
local function fetch(client)
  local token, expires_in = client.token_provider()
  if type(token) ~= "string" or token == "" then
    if errors.is(expires_in) then return nil, expires_in end
    return auth_error(client, expires_in ~= nil and tostring(expires_in) or ("token provider returned " .. type(token)))
  end
  -- the token goes into a header line: a control byte would split or corrupt it
  if find(token, "%c") then return auth_error(client, "the token received contains control bytes") end
  if expires_in ~= nil and (type(expires_in) ~= "number" or expires_in ~= expires_in or expires_in <= 0) then
    expires_in = nil
  end
  if expires_in and expires_in > MAX_LIFETIME_S then expires_in = MAX_LIFETIME_S end
  return token, expires_in and expires_in * 1000
end

-- A shared token worth taking: not the refused one, and not due for renewal.
local function usable(token, rejected, ttl)
  return token ~= nil and token ~= rejected and ttl > LEEWAY_MS
end

-- One renewal for every worker (host) sharing the store: the lock holder
-- fetches, the others wait for the token it saves.
local function renew_shared(client, limiter, store, rejected)
  local key = limiter.key
  local deadline = client.now() + WAIT_MS
  while true do
    local token, ttl = store:token(key)
    if usable(token, rejected, ttl) then return install(client, token, ttl) end
    local mine, err = store:lock_token(key, LOCK_MS)
    if mine == nil then limiter:store_failed(err) return nil end
    if mine then
      -- saved and unlocked by another in between?
      token, ttl = store:token(key)
      if usable(token, rejected, ttl) then
        store:unlock_token(key)
        return install(client, token, ttl)
      end
      local ok, got, ms = pcall(fetch, client)
      if ok and got then
        local saved, serr = store:save_token(key, got, ms or NO_EXPIRY_MS)
        if not saved then limiter:store_failed(serr) end
      end
      store:unlock_token(key)
      if not ok then error(got, 0) end
      if not got then return false, ms end
      return install(client, got, ms)
    end
    if client.now() > deadline then
      return auth_error(client, "the token renewal by another worker did not finish in " .. WAIT_MS .. " ms")
    end
    client.sleep(POLL_MS * 2)
  end
end

local function renew(client, rejected)
  local limiter = client.limiter
  -- only under a key that names the credential: two tenants with `token`
  -- functions on one base URL would otherwise take each other's token
  local store = limiter and limiter.shared and limiter.shares_token and limiter:shared()
  if store then
    local ok, err = renew_shared(client, limiter, store, rejected)
    if ok then return true end
    if ok == false then return nil, err end
    if err then return nil, err end
    -- nil, nil: the store failed; this client renews on its own
  end
  local token, ms = fetch(client)
  if not token then return nil, ms end
  return install(client, token, ms)
end

--- Makes sure the session holds a valid token. `force` renews it: `true`, or
-- the token the vendor just refused (after a 401): a token renewed since by
-- another request is then used as is. Raises nothing but what the `token`
-- function raises: returns true, or nil and an error.
-- @tparam userapi.client.Client client
-- @tparam boolean|string force renew even a valid token (the refused one)
-- @treturn[1] boolean true
-- @treturn[2] nil
-- @treturn[2] userapi.errors.Error
function _M.refresh(client, force)
  local rejected = force == true and client.token or (type(force) == "string" and force or nil)
  local me = running() or "main"
  if client.renewing then
    if client.renewing == me then return auth_error(client, "the token provider called the client back") end
    local deadline = client.now() + WAIT_MS
    while client.renewing do
      if client.now() > deadline then
        return auth_error(client, "the token renewal by another request did not finish in " .. WAIT_MS .. " ms")
      end
      client.sleep(POLL_MS)
    end
  end
  if valid(client, rejected) then return true end
  client.renewing = me
  local ok, res, err = pcall(renew, client, rejected)
  client.renewing = nil
  if not ok then error(res, 0) end
  return res, err
end

return _M
