--- The budget shared by every worker of one nginx: a `lua_shared_dict`.
-- Each tenant's windows, its OAuth2 token and its last rate-limit headers
-- live in the dict. The windows are read and written under a lock built
-- from `add` with an expiry (a worker that dies holding it frees it within
-- a second); every other update is one atomic `safe_set`/`safe_add` with an
-- expiry, so stale entries leave the dict by themselves and a full dict
-- refuses a write rather than evicting another tenant's entries.
-- @module userapi.store.shdict
local json = require "userapi.json"

local max, floor, tostring, setmetatable, type, find = math.max, math.floor, tostring, setmetatable, type, string.find
local ngx = ngx

local _M = {}
local Dict = {}
Dict.__index = Dict

local LOCK_TTL = 1       -- seconds: longer than any critical section
local LOCK_WAIT_MS = 2000
local LEASE_MS = 3000    -- the token renewal lock, renewed every second while its holder lives
local ENTRY_BYTES = 128  -- what one ring entry takes in the dict (a key of ~50 bytes and a number)
local BASE_BYTES = 16384 -- the dict's own pages, and a tenant's token, headers and bookkeeping

--- A store on the shared dict `name`, or nil when nginx has none of that name.
-- @tparam string name the dict (`lua_shared_dict userapi 10m;`)
-- @tparam function now milliseconds (the client's clock)
-- @tparam function sleep `sleep(ms)` (the client's)
-- @treturn ?table the store
function _M.new(name, now, sleep)
  local dict = ngx and ngx.shared and ngx.shared[name]
  if not dict then return nil end
  return setmetatable({ dict = dict, name = name, now = now, sleep = sleep }, Dict)
end

function Dict:describe() return "lua_shared_dict " .. self.name end

--- The bytes a tenant with these windows takes in a dict.
-- @tparam table windows the limiter's windows
-- @treturn number bytes
function _M.bytes_for(windows)
  local n = 0
  for _, w in ipairs(windows) do n = n + w.n end
  return BASE_BYTES + n * ENTRY_BYTES
end

--- Raises when the dict cannot hold one tenant of these windows (a dict
-- that small would fill at once and hold nothing).
-- @tparam table windows the limiter's windows
-- @tparam string name `userapi.<vendor>`, for the error
function Dict:check_room(windows, name)
  local capacity = self.dict.capacity and self.dict:capacity()
  if not capacity then return end
  local need = _M.bytes_for(windows)
  if capacity < need then
    error(("%s: lua_shared_dict %s is %d KB, too small for this rate_limit: one tenant needs %d KB "
      .. "(128 bytes per request of each window, see the README's sizing)"):format(name, self.name,
      floor(capacity / 1024), math.ceil(need / 1024)), 0)
  end
end

local function checked(ok, err)
  if not ok then return nil, "lua_shared_dict: " .. tostring(err) end
  return true
end

-- Runs fn(dict) holding the key's lock; the lock expires on its own should
-- the holder die. The section itself never yields (dict calls only).
function Dict:locked(key, fn)
  local dict, lock = self.dict, key .. ":lock"
  local deadline = self.now() + LOCK_WAIT_MS
  while true do
    local ok, err = dict:safe_add(lock, true, LOCK_TTL)
    if ok then break end
    if err ~= "exists" then return nil, "lua_shared_dict: " .. tostring(err) end
    if self.now() > deadline then return nil, "lua_shared_dict: lock " .. lock .. " held too long" end
    self.sleep(1)
  end
  local ok, res, err = pcall(fn, dict)
  dict:delete(lock)
  if not ok then return nil, "lua_shared_dict: " .. tostring(res) end
  return res, err
end

--- Reserves the tenant's next slot (the algorithm of @{userapi.store.memory},
-- its rings in the dict, each entry expiring when it stops mattering). A
-- slot more than `max_wait` ms away is returned but not taken.
-- @tparam string key the tenant
-- @tparam table windows the limiter's windows
-- @tparam[opt] number max_wait the longest acceptable wait
-- @treturn[1] number milliseconds until the slot
-- @treturn[2] nil
-- @treturn[2] string why the dict failed
function Dict:reserve(key, windows, max_wait)
  return self:locked(key, function(dict)
    local t = self.now()
    local slot = max(t, dict:get(key .. ":last") or 0, dict:get(key .. ":pause") or 0)
    local idx = {}
    for j, w in ipairs(windows) do
      local ring = key .. ":" .. w.span
      idx[j] = (dict:get(ring .. ":i") or 0) % w.n + 1
      local oldest = dict:get(ring .. ":" .. idx[j])
      if oldest then slot = max(slot, oldest + w.span + w.margin) end
    end
    if max_wait and slot - t > max_wait then return slot - t end
    for j, w in ipairs(windows) do
      local ring = key .. ":" .. w.span
      -- the ring lives as long as its newest entry: after that it is empty anyway
      local ttl = (slot - t + w.span + w.margin) / 1000
      local ok, err = checked(dict:safe_set(ring .. ":i", idx[j], ttl))
      if not ok then return nil, err end
      ok, err = checked(dict:safe_set(ring .. ":" .. idx[j], slot, ttl))
      if not ok then return nil, err end
    end
    local ok, err = checked(dict:safe_set(key .. ":last", slot, max(1, slot - t) / 1000 + 1))
    if not ok then return nil, err end
    return slot - t
  end)
end

--- Holds every worker's later slots until `ms` from now.
-- @tparam string key the tenant
-- @tparam number ms the pause the vendor asked for
function Dict:pause(key, ms)
  return self:locked(key, function(dict)
    local until_ = self.now() + ms
    if (dict:get(key .. ":pause") or 0) >= until_ then return true end
    return checked(dict:safe_set(key .. ":pause", until_, ms / 1000))
  end)
end

--- Remembers the last rate-limit headers seen (kept one hour).
function Dict:save_headers(key, headers)
  return checked(self.dict:safe_set(key .. ":headers", json.encode(headers), 3600))
end

--- The last rate-limit headers any worker saw, or nil.
function Dict:headers(key)
  local v = self.dict:get(key .. ":headers")
  local t = type(v) == "string" and json.decode(v)
  return type(t) == "table" and t or nil
end

--- Whether a token read from a store passes the checks of one from the
-- endpoint: a non-empty string without control bytes (it goes into a header line).
-- @param token what the store held
-- @treturn boolean
function _M.good_token(token)
  return type(token) == "string" and token ~= "" and not find(token, "%c")
end

--- The tenant's token, the milliseconds it stays valid and its lifetime, or
-- nil (also for an entry that is not a token a header can carry).
function Dict:token(key)
  local v = self.dict:get(key .. ":token")
  if type(v) ~= "string" then return nil end
  local expires, lifetime, token = v:match("^(%d+) (%d+) (.*)$")
  if not expires or not _M.good_token(token) then return nil end
  return token, tonumber(expires) - self.now(), tonumber(lifetime)
end

--- Stores the tenant's token for `ttl_ms` (it expires from the dict then).
function Dict:save_token(key, token, ttl_ms)
  local expires = floor(self.now() + ttl_ms)
  return checked(self.dict:safe_set(key .. ":token", expires .. " " .. floor(ttl_ms) .. " " .. token, ttl_ms / 1000))
end

local leases = 0

-- Keeps the lease alive every second while its holder runs, for `ttl_ms` at most.
local function keep_lease(dict, lock, owner, until_)
  local function renew(premature)
    if premature or dict:get(lock) ~= owner or ngx.now() * 1000 >= until_ then return end
    dict:safe_set(lock, owner, LEASE_MS / 1000)
    ngx.timer.at(LEASE_MS / 3000, renew)
  end
  -- no timers in the init phase, nor when the worker has used them all
  local ok, timer = pcall(ngx.timer.at, LEASE_MS / 3000, renew)
  return ok and timer
end

--- Takes the renewal lock: true when this caller renews, false when another
-- does. The lock is a 3 s lease renewed every second by a timer of this
-- worker, for `ttl_ms` at most: a worker killed while renewing frees it
-- within 3 s (where no timer can be made, it lasts `ttl_ms`).
function Dict:lock_token(key, ttl_ms)
  leases = leases + 1
  local lock, owner = key .. ":renewing", ngx.worker.pid() .. ":" .. leases
  local lease = math.min(LEASE_MS, ttl_ms)
  local ok, err = self.dict:safe_add(lock, owner, lease / 1000)
  if not ok then
    if err == "exists" then return false end
    return nil, "lua_shared_dict: " .. tostring(err)
  end
  if lease < ttl_ms and not keep_lease(self.dict, lock, owner, ngx.now() * 1000 + ttl_ms) then
    self.dict:safe_set(lock, owner, ttl_ms / 1000) -- no timer: the whole bound
  end
  self.owner = self.owner or {}
  self.owner[key] = owner
  return true
end

--- Releases the renewal lock (if this caller still holds it).
function Dict:unlock_token(key)
  local lock = key .. ":renewing"
  local owner = self.owner and self.owner[key]
  if owner and self.dict:get(lock) == owner then self.dict:delete(lock) end
  if self.owner then self.owner[key] = nil end
  return true
end

return _M
