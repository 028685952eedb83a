--- A client's bearer token and its renewal: the object that owns the token
-- state (the token, when it expires, who is renewing it). Tokens come from a
-- `token` function given by the caller or from Arthur's OIDC
-- client-credentials grant (@{userapi.oidc}).
--
-- A token is renewed before it expires by a fraction of its lifetime (a
-- tenth, at most 30 s): a token living 3 s is used for 2.7 s, not renewed
-- on every request. Renewal is single flight: while one request renews, the
-- others wait for it, each no longer than its own deadline (the client's
-- `timeout_ms`, or what remains of the call's). With a shared store
-- (@{userapi.store}) the token is shared too: one worker or host renews it
-- behind a lock, the others wait and then use it.
-- @module userapi.auth
local errors = require "userapi.errors"
local oidc = require "userapi.oidc"

local type, tostring, error, pcall, setmetatable = type, tostring, error, pcall, setmetatable
local find, running, min = string.find, coroutine.running, math.min

local _M = {}

local MAX_LEEWAY_MS = 30000
local LEEWAY_FRACTION = 0.1
local DEFAULT_WAIT_MS = 30000 -- the transport's default timeout_ms
local POLL_MS = 5
local NO_EXPIRY_MS = 3600000  -- how long a shared token without expires_in is kept
-- the longest lifetime believed: an absurd expires_in (1e300) must not reach
-- a store as an expiry it refuses; a token lasting longer is renewed sooner
local MAX_LIFETIME_S = 86400

--- How long before its expiry a token of this lifetime is renewed: a tenth
-- of it, at most 30 s.
-- @tparam number lifetime_ms
-- @treturn number ms
function _M.leeway(lifetime_ms) return min(MAX_LEEWAY_MS, lifetime_ms * LEEWAY_FRACTION) end
local leeway = _M.leeway

local Auth = {}
Auth.__index = Auth

--- The auth of a client, or nil when its credentials are fixed (an API key,
-- Basic, a static token).
-- @tparam userapi.client.Client client (its `vendor`, `transport`, `now`, `sleep`, `secrets`, `limiter`)
-- @tparam table opts the checked options (`token`, `client_id` + `client_secret`,
-- `token_url`, `access_token`, `timeout_ms`)
-- @treturn ?table the auth object
-- @raise as @{userapi.oidc.provider}
function _M.new(client, opts)
  if not client.vendor.discovery then return nil end
  local self = setmetatable({ client = client, wait_ms = opts.timeout_ms or DEFAULT_WAIT_MS }, Auth)
  self.provider = oidc.provider(client, opts, self)
  return self
end

function Auth:fail(message, kind)
  local client = self.client
  return nil, errors.new{ vendor = client.vendor.name, operation = "token", kind = kind or "auth",
    message = message, secrets = client.secrets }
end

--- The token the session holds now (nil before the first).
-- @treturn ?string
function Auth:current() return self.token end

-- Makes `token` the session's, valid for ttl_ms (nil: until the vendor refuses it).
function Auth:install(token, ttl_ms, lifetime_ms)
  local client = self.client
  -- kept among the secrets while it may be quoted: old errors may hold it
  if token ~= self.token then client.secrets:pass(token) end
  self.token = token
  self.expires = ttl_ms and client.now() + ttl_ms or nil
  if ttl_ms then self.lifetime = lifetime_ms or math.max(self.lifetime or 0, ttl_ms) end
  self.leeway = ttl_ms and leeway(self.lifetime) or nil
  client.transport:set_auth{ scheme = "bearer", token = token }
  return true
end

function Auth:valid(rejected)
  return self.token and self.token ~= rejected
    and (not self.expires or self.client.now() < self.expires - self.leeway)
end

-- Calls the provider; checks what it gave (data from a server never raises).
function Auth:fetch()
  local token, expires_in = self.provider()
  if type(token) ~= "string" or token == "" then
    if errors.is(expires_in) then return nil, expires_in end
    return self:fail(expires_in ~= nil and tostring(expires_in) or ("token provider returned " .. type(token)))
  end
  -- the token goes into a header line: a control byte would split or corrupt it
  if find(token, "%c") then return self:fail("the token received contains control bytes") end
  if expires_in ~= nil and (type(expires_in) ~= "number" or expires_in ~= expires_in or expires_in <= 0) then
    expires_in = nil
  end
  if expires_in and expires_in > MAX_LIFETIME_S then expires_in = MAX_LIFETIME_S end
  return token, expires_in and expires_in * 1000
end

-- A shared token worth taking: not the refused one, and not due for renewal.
-- Its lifetime is not in the store: the longest seen here stands for it (a
-- worker's first sight of a token is at most its lifetime).
function Auth:usable(token, rejected, ttl)
  return token ~= nil and token ~= rejected and ttl > leeway(math.max(self.lifetime or 0, ttl))
end

-- One renewal for every worker (host) sharing the store: the lock holder
-- fetches, the others wait for the token it saves, until their deadline.
function Auth:renew_shared(limiter, store, key, rejected, deadline)
  local client = self.client
  while true do
    local token, ttl = store:token(key)
    if self:usable(token, rejected, ttl) then return self:install(token, ttl) end
    -- the lock lives as long as a token request can take (timeout_ms): a
    -- renewer that dies frees it then
    local mine, err = store:lock_token(key, self.wait_ms)
    if mine == nil then limiter:store_failed(err) return nil end
    if mine then
      -- saved and unlocked by another in between?
      token, ttl = store:token(key)
      if self:usable(token, rejected, ttl) then
        store:unlock_token(key)
        return self:install(token, ttl)
      end
      local ok, got, ms = pcall(self.fetch, self)
      if ok and got then
        local saved, serr = store:save_token(key, got, ms or NO_EXPIRY_MS)
        if not saved then limiter:store_failed(serr) end
      end
      store:unlock_token(key)
      if not ok then error(got, 0) end
      if not got then return false, ms end
      return self:install(got, ms, ms)
    end
    if client.now() >= deadline then
      return self:fail("the token renewal by another worker did not finish within this request's deadline ("
        .. self.wait_ms .. " ms)", "timeout")
    end
    client.sleep(min(POLL_MS * 2, deadline - client.now()))
  end
end

function Auth:renew(rejected, deadline)
  local client = self.client
  local limiter = client.limiter
  local tenant = client:tenant()
  -- only under a key that names the credential: two tenants with `token`
  -- functions on one base URL would otherwise take each other's token
  local store = tenant.names_credential and limiter and limiter.shared and limiter:shared()
  if store then
    local ok, err = self:renew_shared(limiter, store, tenant.key, rejected, deadline)
    if ok then return true end
    if ok == false or err then return nil, err end
    -- nil, nil: the store failed; this client renews on its own
  end
  local token, ms = self:fetch()
  if not token then return nil, ms end
  return self:install(token, ms, ms)
end

--- Makes sure the session holds a valid token. `force` renews it: `true`, or
-- the token the vendor just refused (after a 401): a token renewed since by
-- another request is then used as is. Waits for another's renewal until
-- `deadline` (default: now + the client's `timeout_ms`). Raises nothing but
-- what the `token` function raises.
-- @tparam ?boolean|string force renew even a valid token (the refused one)
-- @tparam ?number deadline the call's deadline on the client's clock
-- @treturn[1] boolean true
-- @treturn[2] nil
-- @treturn[2] userapi.errors.Error
function Auth:refresh(force, deadline)
  local client = self.client
  deadline = min(deadline or math.huge, client.now() + self.wait_ms)
  local rejected = force == true and self.token or (type(force) == "string" and force or nil)
  local me = running() or "main"
  if self.renewing then
    if self.renewing == me then return self:fail("the token provider called the client back") end
    while self.renewing do
      if client.now() >= deadline then
        return self:fail("the token renewal by another request did not finish within this request's deadline ("
          .. self.wait_ms .. " ms)", "timeout")
      end
      client.sleep(min(POLL_MS, deadline - client.now()))
    end
  end
  if self:valid(rejected) then return true end
  self.renewing = me
  local ok, res, err = pcall(self.renew, self, rejected, deadline)
  self.renewing = nil
  if not ok then error(res, 0) end
  return res, err
end

--- Forgets the token (the client was closed): the next call gets a new one.
function Auth:forget() self.token, self.expires = nil, nil end

return _M
