--- The budget shared across hosts and jobs: a Redis server (option `store`).
-- The rate algorithm runs in Redis as one script (EVALSHA, EVAL when the
-- server answers NOSCRIPT), on Redis's own clock, so every host and job
-- reserves from the same sliding windows atomically. The token, its renewal
-- lock, the last rate-limit headers and a vendor-asked pause are plain keys
-- with an expiry.
--
-- Every command waits at most 1 s, less when the call has less time left.
-- `fleet` (in `{ redis = ..., fleet = N }`) is how many hosts and jobs share
-- the store: when it fails each keeps 1/N of the budget (see userapi.limiter).
--
-- Clients: lua-resty-redis (Debian's `lua-nginx-redis`, on cosockets) in
-- nginx, redis-lua (`lua-redis`, over LuaSocket) elsewhere. The password
-- (which ends at the URL's last `@`) is never part of an error or a log line.
-- @module userapi.store.redis
local json = require "userapi.json"
local fingerprint = require "userapi.store.fingerprint"
local errors = require "userapi.errors"
local good_token = require("userapi.store.shdict").good_token

local type, tostring, tonumber, error, pcall, setmetatable = type, tostring, tonumber, error, pcall, setmetatable
local find, format = string.find, string.format
local ngx = ngx

local _M = {}
local Redis = {}
Redis.__index = Redis

local TIMEOUT_MS = 1000   -- the longest one command may take (less when the call's deadline is nearer)
local LEASE_MS = 3000     -- the token renewal lock, renewed every second by its holder in nginx

-- One reservation (see userapi.store.memory for the rule). KEYS: last slot,
-- pause, sequence, then one sorted set per window; ARGV: the longest
-- acceptable wait (-1: any), then n, span, margin per window. A slot farther
-- than that wait is returned but not taken.
local RESERVE = [[
-- Redis 3.2 to 4 replicate a script that reads TIME only as its effects
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or 0), tonumber(redis.call('GET', KEYS[2]) or 0))
local max_wait = tonumber(ARGV[1])
for j = 4, #KEYS do
  local n, span, margin = tonumber(ARGV[j * 3 - 10]), tonumber(ARGV[j * 3 - 9]), tonumber(ARGV[j * 3 - 8])
  redis.call('ZREMRANGEBYSCORE', KEYS[j], '-inf', now - span - margin)
  if redis.call('ZCARD', KEYS[j]) >= n then
    local nth = redis.call('ZRANGE', KEYS[j], -n, -n, 'WITHSCORES')
    slot = math.max(slot, tonumber(nth[2]) + span + margin)
  end
end
if max_wait >= 0 and slot - now > max_wait then return math.ceil(slot - now) end
local seq = redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], 3600000 * 2)
for j = 4, #KEYS do
  local span, margin = tonumber(ARGV[j * 3 - 9]), tonumber(ARGV[j * 3 - 8])
  redis.call('ZADD', KEYS[j], slot, seq)
  redis.call('PEXPIRE', KEYS[j], math.ceil(slot - now + span + margin))
end
redis.call('SET', KEYS[1], slot, 'PX', math.ceil(slot - now) + 1000)
return math.ceil(slot - now)
]]

-- The renewal lock, kept by its holder. KEYS: lock; ARGV: owner, ms.
local RENEW_LEASE = [[
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
]]
local RELEASE = [[
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
]]

-- A pause the vendor asked for, on Redis's clock. KEYS: pause; ARGV: ms.
local PAUSE = [[
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local until_ = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[1]) or 0) < until_ then
  redis.call('SET', KEYS[1], until_, 'PX', math.ceil(tonumber(ARGV[1])))
end
return 1
]]

local util = require "userapi.util"
local unescape, optional_require = util.unescape, util.optional_require

-- redis://[:password@]host[:port][/db]; the password ends at the last `@`
-- (an `@` in it, not percent-encoded, must not make the host a part of it)
local function parse_url(url, name)
  local rest = url:match("^redis://(.*)$")
  if not rest then error(name .. ": store must be a redis:// URL or { redis = { ... } }", 0) end
  local userinfo, hostport, db = rest:match("^(.*)@([^@/]*)/?(%d*)$")
  if not userinfo then userinfo, hostport, db = nil, rest:match("^([^/@]*)/?(%d*)$") end
  if not hostport or hostport == "" then error(name .. ": store URL: host expected", 0) end
  local host, port = hostport:match("^%[?([^%]]*)%]?:(%d+)$")
  host = host or hostport
  local password = userinfo and (userinfo:match("^[^:]*:(.*)$") or userinfo)
  return { host = host, port = tonumber(port) or 6379, db = tonumber(db),
           password = password and password ~= "" and unescape(password) or nil }
end

local function config(opt, name)
  local cfg
  if type(opt) == "string" then
    cfg = parse_url(opt, name)
  elseif type(opt) == "table" and type(opt.redis) == "string" then
    cfg = parse_url(opt.redis, name)
  elseif type(opt) == "table" and type(opt.redis) == "table" then
    local r = opt.redis
    cfg = { host = r.host or "127.0.0.1", port = r.port or 6379, password = r.password, db = r.db, prefix = r.prefix }
  else
    error(name .. ": store must be a redis:// URL or { redis = { host, port, password, db, prefix }, fleet = N }", 0)
  end
  local fleet = type(opt) == "table" and opt.fleet or 1
  if type(fleet) ~= "number" or fleet < 1 or fleet % 1 ~= 0 then
    error(name .. ": store: fleet must be a positive integer (the hosts and jobs sharing this Redis)", 0)
  end
  cfg.fleet = fleet
  if type(cfg.host) ~= "string" or find(cfg.host, "[%s%c/@]") then error(name .. ": store: bad Redis host", 0) end
  if type(cfg.port) ~= "number" or cfg.port % 1 ~= 0 or cfg.port < 1 or cfg.port > 65535 then
    error(name .. ": store: Redis port must be an integer 1..65535", 0)
  end
  if cfg.password ~= nil and type(cfg.password) ~= "string" then
    error(name .. ": store: password must be a string", 0)
  end
  if cfg.db ~= nil and (type(cfg.db) ~= "number" or cfg.db % 1 ~= 0 or cfg.db < 0) then
    error(name .. ": store: db must be a non-negative integer", 0)
  end
  cfg.prefix = cfg.prefix or "userapi:"
  if type(cfg.prefix) ~= "string" then error(name .. ": store: prefix must be a string", 0) end
  return cfg
end

--- A store on the Redis server of option `opt`.
-- @tparam string|table opt `"redis://[:password@]host[:port][/db]"` or
-- `{ redis = { host, port, password, db, prefix } }` (prefix `"userapi:"` by default)
-- @tparam userapi.client.Client client
-- @tparam string name `userapi.<vendor>`, for errors
-- @treturn table the store
-- @raise on a malformed option
function _M.new(opt, client, name)
  local cfg = config(opt, name)
  local self = setmetatable({ cfg = cfg, client = client, shas = {}, fleet = cfg.fleet, owner = {}, remote = true },
    Redis)
  -- no command waits longer than the client's own timeout
  self.timeout_ms = math.min(TIMEOUT_MS, client.opts and client.opts.timeout_ms or TIMEOUT_MS)
  -- a password-aware pool: a kept-alive connection is authenticated for this password and db only
  self.pool = format("userapi:%s:%d:%d:%s", cfg.host, cfg.port, cfg.db or 0,
    fingerprint.sha256(cfg.password or ""):sub(1, 16))
  return self
end

function Redis:describe() return format("redis %s:%d", self.cfg.host, self.cfg.port) end

-- the error as logged: "redis host:port: message", the password cut out
-- (as given and percent-encoded, as a redis:// URL carries it)
function Redis:fail(err)
  -- redis-lua raises "<file>:<line>: redis error: ...": keep what the server said
  local msg = tostring(err):gsub("^[^\n]-%.lua:%d+: ", ""):gsub("^redis error: ", "")
  local pw = self.cfg.password
  if pw and pw ~= "" then msg = errors.redact(msg, errors.secret_forms(pw)) end
  return nil, self:describe() .. ": " .. msg
end

-- ---- the two clients ------------------------------------------------------

local function in_cosocket_phase()
  return require("userapi.phase").in_cosocket_phase()
end

-- lua-resty-redis: a pooled connection per command, authenticated once.
function Redis:resty(timeout, cmd, ...)
  local resty = optional_require("resty.redis") or optional_require("nginx.redis") -- Debian's name for it
  if not resty then return self:fail("lua-resty-redis is not installed (Debian: lua-nginx-redis)") end
  local red = resty:new()
  red:set_timeout(timeout) -- Debian's 0.27 has no set_timeouts
  local cfg = self.cfg
  local res, err = red:connect(cfg.host, cfg.port, { pool = self.pool })
  if not res then return self:fail(err) end
  if red:get_reused_times() == 0 then
    if cfg.password then
      res, err = red:auth(cfg.password)
      if not res then red:close() return self:fail(err) end
    end
    if cfg.db then
      res, err = red:select(cfg.db)
      if not res then red:close() return self:fail(err) end
    end
  end
  res, err = red[cmd](red, ...)
  -- an error reply is false, err; a broken connection nil, err
  if not res then
    if res == nil then red:close() else red:set_keepalive(10000, 32) end
    return self:fail(err)
  end
  red:set_keepalive(10000, 32)
  if res == ngx.null then return false end
  return res
end

local function load_redis_lua()
  local redis = optional_require("redis")
  if redis then return redis end
  -- Debian's lua-redis installs for 5.1 to 5.3; the same file serves 5.4
  local path = package.searchpath("redis", "/usr/share/lua/5.3/?.lua;/usr/local/share/lua/5.3/?.lua")
  if not path then return nil end
  return dofile(path)
end

-- redis-lua over LuaSocket: one connection per store, remade after a failure.
function Redis:luasocket(timeout, cmd, ...)
  local conn = self.conn
  if not conn then
    local redis = load_redis_lua()
    if not redis then return self:fail("redis-lua is not installed (Debian: lua-redis)") end
    local ok, c = pcall(redis.connect, { host = self.cfg.host, port = self.cfg.port, timeout = timeout / 1000 })
    if not ok then return self:fail(c) end
    conn = c
    if self.cfg.password then
      local done, err = pcall(conn.auth, conn, self.cfg.password)
      if not done then pcall(conn.quit, conn) return self:fail(err) end
    end
    if self.cfg.db then
      local done, err = pcall(conn.select, conn, self.cfg.db)
      if not done then pcall(conn.quit, conn) return self:fail(err) end
    end
    self.conn = conn
  end
  pcall(conn.network.socket.settimeout, conn.network.socket, timeout / 1000)
  local ok, res = pcall(conn[cmd], conn, ...)
  if not ok then
    -- a server's error reply leaves the connection usable; a broken socket does not
    if not find(tostring(res), "redis error: ", 1, true) then
      pcall(conn.quit, conn)
      self.conn = nil
    end
    return self:fail(res)
  end
  if res == nil then return false end
  return res
end

--- One Redis command within `timeout` ms: its reply, false for a nil reply,
-- or nil and an error.
function Redis:within(timeout, cmd, ...)
  timeout = math.max(1, math.floor(math.min(timeout or self.timeout_ms, self.timeout_ms)))
  local res, err
  if ngx and in_cosocket_phase() then res, err = self:resty(timeout, cmd, ...)
  else res, err = self:luasocket(timeout, cmd, ...) end
  -- it answers: the requests waiting for this one's answer may ask it too (userapi.limiter)
  local h = self.health
  if h and res ~= nil then h.proven, h.probe_until = true, nil end
  return res, err
end

--- One Redis command within the store's timeout (1 s, or the client's `timeout_ms` if shorter).
function Redis:call(cmd, ...) return self:within(nil, cmd, ...) end

-- EVALSHA, loading the script once; EVAL when the server forgot it (NOSCRIPT).
function Redis:script(src, keys, args, timeout)
  local n = #keys
  local all = {}
  for i = 1, n do all[i] = keys[i] end
  for i = 1, #args do all[n + i] = args[i] end
  local sha = self.shas[src]
  if not sha then
    local err
    sha, err = self:within(timeout, "script", "load", src)
    if not sha then return nil, err end
    if type(sha) ~= "string" or not sha:match("^%x+$") then return self:fail("SCRIPT LOAD answered no SHA") end
    self.shas[src] = sha
  end
  local res, err = self:within(timeout, "evalsha", sha, n, (table.unpack or unpack)(all))
  if res == nil and find(tostring(err), "NOSCRIPT", 1, true) then
    res, err = self:within(timeout, "eval", src, n, (table.unpack or unpack)(all))
  end
  return res, err
end

-- ---- the store interface (see userapi.store.shdict) -------------------------

function Redis:key(tenant, what) return self.cfg.prefix .. tenant .. ":" .. what end

--- Reserves the tenant's next slot if at most `max_wait` ms away; returns
-- the milliseconds to wait (a farther slot is returned, not taken), or nil, err.
-- `timeout` bounds the commands (the call's remaining time).
function Redis:reserve(tenant, windows, max_wait, timeout)
  local keys = { self:key(tenant, "last"), self:key(tenant, "pause"), self:key(tenant, "seq") }
  local args = { (max_wait and max_wait < math.huge) and math.floor(max_wait) or -1 }
  for _, w in ipairs(windows) do
    keys[#keys + 1] = self:key(tenant, "w" .. w.span)
    args[#args + 1], args[#args + 2], args[#args + 3] = w.n, w.span, w.margin
  end
  local res, err = self:script(RESERVE, keys, args, timeout)
  if not res then return nil, err end
  local ms = tonumber(res)
  if not ms then return self:fail("the reservation answered no number") end
  return ms
end

--- Holds every host's later slots until `ms` from now.
function Redis:pause(tenant, ms)
  local res, err = self:script(PAUSE, { self:key(tenant, "pause") }, { math.ceil(ms) })
  return res and true, err
end

function Redis:save_headers(tenant, headers)
  local res, err = self:call("set", self:key(tenant, "headers"), json.encode(headers), "PX", 3600000)
  return res and true, err
end

--- The last rate-limit headers any host saw, or nil (and an error when Redis failed).
function Redis:headers(tenant)
  local v, err = self:call("get", self:key(tenant, "headers"))
  if v == nil then return nil, err end
  local t = type(v) == "string" and json.decode(v)
  return type(t) == "table" and t or nil
end

--- The tenant's token and the milliseconds it stays valid, or nil (also for
-- a value no header line can carry: it is checked as the endpoint's is).
function Redis:token(tenant)
  local key = self:key(tenant, "token")
  local v = self:call("get", key)
  if not good_token(v) then return nil end
  local ttl = tonumber(self:call("pttl", key))
  if not ttl or ttl <= 0 then return nil end
  return v, ttl
end

function Redis:save_token(tenant, token, ttl_ms)
  local res, err = self:call("set", self:key(tenant, "token"), token, "PX", math.ceil(ttl_ms))
  return res and true, err
end

local leases = 0

-- In nginx, a timer renews the lease every second while this worker holds it
-- (for `ttl_ms` at most); elsewhere a blocking fetch cannot, and the lock
-- lasts `ttl_ms`. Returns the lease's length.
function Redis:keep_lease(key, owner, ttl_ms)
  if not (ngx and ngx.timer and in_cosocket_phase()) then return ttl_ms end
  local until_ = ngx.now() * 1000 + ttl_ms
  local function renew(premature)
    if premature or self.owner[key] ~= owner or ngx.now() * 1000 >= until_ then return end
    if self:script(RENEW_LEASE, { key }, { owner, LEASE_MS }) == 1 then ngx.timer.at(LEASE_MS / 3000, renew) end
  end
  local ok, timer = pcall(ngx.timer.at, LEASE_MS / 3000, renew)
  return (ok and timer) and math.min(LEASE_MS, ttl_ms) or ttl_ms
end

--- Takes the renewal lock: true when this caller renews, false when another
-- does. In nginx it is a 3 s lease its holder renews every second: a worker
-- killed while renewing frees it within 3 s.
function Redis:lock_token(tenant, ttl_ms)
  leases = leases + 1
  local key = self:key(tenant, "renewing")
  local owner = (ngx and ngx.worker and ngx.worker.pid() or "lua") .. ":" .. leases .. ":" .. tostring(self)
  self.owner[key] = owner
  local lease = self:keep_lease(key, owner, ttl_ms)
  local res, err = self:call("set", key, owner, "NX", "PX", math.ceil(lease))
  if not res then self.owner[key] = nil end
  if res == nil then return nil, err end
  return res ~= false
end

function Redis:unlock_token(tenant)
  local key = self:key(tenant, "renewing")
  local owner = self.owner[key]
  self.owner[key] = nil
  if owner then self:script(RELEASE, { key }, { owner }) end
  return true
end

return _M
