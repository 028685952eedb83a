--- The budget shared across hosts and jobs: a Redis server (option `store`).
-- The rate algorithm runs in Redis as one script (EVALSHA, EVAL when the
-- server answers NOSCRIPT), on Redis's own clock, so every host and job
-- reserves from the same sliding windows atomically. The token, its renewal
-- lock, the last rate-limit headers and a vendor-asked pause are plain keys
-- with an expiry.
--
-- Clients: lua-resty-redis (Debian's `lua-nginx-redis`, on cosockets) in
-- nginx, redis-lua (`lua-redis`, over LuaSocket) elsewhere. The password is
-- never part of an error or a log line.
-- @module userapi.store.redis
local json = require "userapi.json"
local fingerprint = require "userapi.store.fingerprint"
local errors = require "userapi.errors"

local type, tostring, tonumber, error, pcall, setmetatable = type, tostring, tonumber, error, pcall, setmetatable
local find, format = string.find, string.format
local ngx = ngx

local _M = {}
local Redis = {}
Redis.__index = Redis

local TIMEOUT_MS = 1000

-- One reservation (see userapi.store.memory for the rule). KEYS: last slot,
-- pause, sequence, then one sorted set per window; ARGV: n, span, margin per window.
local RESERVE = [[
-- Redis 3.2 to 4 replicate a script that reads TIME only as its effects
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or 0), tonumber(redis.call('GET', KEYS[2]) or 0))
for j = 4, #KEYS do
  local n, span, margin = tonumber(ARGV[j * 3 - 11]), tonumber(ARGV[j * 3 - 10]), tonumber(ARGV[j * 3 - 9])
  redis.call('ZREMRANGEBYSCORE', KEYS[j], '-inf', now - span - margin)
  if redis.call('ZCARD', KEYS[j]) >= n then
    local nth = redis.call('ZRANGE', KEYS[j], -n, -n, 'WITHSCORES')
    slot = math.max(slot, tonumber(nth[2]) + span + margin)
  end
end
local seq = redis.call('INCR', KEYS[3])
for j = 4, #KEYS do
  local span, margin = tonumber(ARGV[j * 3 - 10]), tonumber(ARGV[j * 3 - 9])
  redis.call('ZADD', KEYS[j], slot, seq)
  redis.call('PEXPIRE', KEYS[j], math.ceil(slot - now + span + margin))
end
redis.call('SET', KEYS[1], slot, 'PX', math.ceil(slot - now) + 1000)
return math.ceil(slot - now)
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

-- redis://[:password@]host[:port][/db]
local function parse_url(url, name)
  local rest = url:match("^redis://(.*)$")
  if not rest then error(name .. ": store must be a redis:// URL or { redis = { ... } }", 0) end
  local userinfo, hostport, db = rest:match("^([^@]*)@([^/]*)/?(%d*)$")
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
  elseif type(opt) == "table" and type(opt.redis) == "table" then
    local r = opt.redis
    cfg = { host = r.host or "127.0.0.1", port = r.port or 6379, password = r.password, db = r.db, prefix = r.prefix }
  else
    error(name .. ": store must be a redis:// URL or { redis = { host, port, password, db, prefix } }", 0)
  end
  if type(cfg.host) ~= "string" or find(cfg.host, "[%s%c/]") then error(name .. ": store: bad Redis host", 0) end
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
  local self = setmetatable({ cfg = cfg, client = client, shas = {} }, Redis)
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
function Redis:resty(cmd, ...)
  local resty = optional_require("resty.redis") or optional_require("nginx.redis") -- Debian's name for it
  if not resty then return self:fail("lua-resty-redis is not installed (Debian: lua-nginx-redis)") end
  local red = resty:new()
  red:set_timeout(TIMEOUT_MS) -- Debian's 0.27 has no set_timeouts
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
function Redis:luasocket(cmd, ...)
  local conn = self.conn
  if not conn then
    local redis = load_redis_lua()
    if not redis then return self:fail("redis-lua is not installed (Debian: lua-redis)") end
    local ok, c = pcall(redis.connect, { host = self.cfg.host, port = self.cfg.port, timeout = TIMEOUT_MS / 1000 })
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

--- One Redis command: its reply, false for a nil reply, or nil and an error.
function Redis:call(cmd, ...)
  if ngx and in_cosocket_phase() then return self:resty(cmd, ...) end
  return self:luasocket(cmd, ...)
end

-- EVALSHA, loading the script once; EVAL when the server forgot it (NOSCRIPT).
function Redis:script(src, keys, args)
  local n = #keys
  local all = {}
  for i = 1, n do all[i] = keys[i] end
  for i = 1, #args do all[n + i] = args[i] end
  local sha = self.shas[src]
  if not sha then
    local err
    sha, err = self:call("script", "load", src)
    if not sha then return nil, err end
    self.shas[src] = sha
  end
  local res, err = self:call("evalsha", sha, n, (table.unpack or unpack)(all))
  if res == nil and find(tostring(err), "NOSCRIPT", 1, true) then
    res, err = self:call("eval", src, n, (table.unpack or unpack)(all))
  end
  return res, err
end

-- ---- the store interface (see userapi.store.shdict) -------------------------

function Redis:key(tenant, what) return self.cfg.prefix .. tenant .. ":" .. what end

--- Reserves the tenant's next slot; returns the milliseconds to wait, or nil, err.
function Redis:reserve(tenant, windows)
  local keys = { self:key(tenant, "last"), self:key(tenant, "pause"), self:key(tenant, "seq") }
  local args = {}
  for _, w in ipairs(windows) do
    keys[#keys + 1] = self:key(tenant, "w" .. w.span)
    args[#args + 1], args[#args + 2], args[#args + 3] = w.n, w.span, w.margin
  end
  local res, err = self:script(RESERVE, keys, args)
  if not res then return nil, err end
  return tonumber(res)
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

function Redis:headers(tenant)
  local v = self:call("get", self:key(tenant, "headers"))
  return v and json.decode(v) or nil
end

--- The tenant's token and the milliseconds it stays valid, or nil.
function Redis:token(tenant)
  local key = self:key(tenant, "token")
  local v = self:call("get", key)
  if not v then return nil end
  local ttl = tonumber(self:call("pttl", key))
  if not ttl or ttl <= 0 then return nil end
  return v, ttl
end

function Redis:save_token(tenant, token, ttl_ms)
  local res, err = self:call("set", self:key(tenant, "token"), token, "PX", math.ceil(ttl_ms))
  return res and true, err
end

--- Takes the renewal lock: true when this caller renews, false when another does.
function Redis:lock_token(tenant, ttl_ms)
  local res, err = self:call("set", self:key(tenant, "renewing"), "1", "NX", "PX", math.ceil(ttl_ms))
  if res == nil then return nil, err end
  return res ~= false
end

function Redis:unlock_token(tenant)
  self:call("del", self:key(tenant, "renewing"))
  return true
end

return _M
