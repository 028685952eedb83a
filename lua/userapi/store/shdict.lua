--- The budget shared by every worker of one nginx: a `lua_shared_dict`.
-- Each tenant's windows, its OAuth2 token and its last rate-limit headers
-- live in the dict. The windows are read and written under a lock built
-- from `add` with an expiry (a worker that dies holding it frees it within
-- a second); every other update is one atomic `set`/`add` with an expiry,
-- so stale entries leave the dict by themselves.
-- @module userapi.store.shdict
local json = require "userapi.json"

local max, floor, tostring, setmetatable = math.max, math.floor, tostring, setmetatable
local ngx = ngx

local _M = {}
local Dict = {}
Dict.__index = Dict

local LOCK_TTL = 1       -- seconds: longer than any critical section
local LOCK_WAIT_MS = 2000

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
    local ok, err = dict:add(lock, true, LOCK_TTL)
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
-- its rings in the dict, each entry expiring when it stops mattering).
-- @tparam string key the tenant
-- @tparam table windows the limiter's windows
-- @treturn[1] number milliseconds until the slot
-- @treturn[2] nil
-- @treturn[2] string why the dict failed
function Dict:reserve(key, windows)
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
    for j, w in ipairs(windows) do
      local ring = key .. ":" .. w.span
      -- safe_set: a full dict refuses rather than evicting another tenant's ring
      local ok, err = checked(dict:safe_set(ring .. ":i", idx[j]))
      if not ok then return nil, err end
      ok, err = checked(dict:safe_set(ring .. ":" .. idx[j], slot, (slot - t + w.span + w.margin) / 1000))
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
  return checked(self.dict:set(key .. ":headers", json.encode(headers), 3600))
end

--- The last rate-limit headers any worker saw, or nil.
function Dict:headers(key)
  local v = self.dict:get(key .. ":headers")
  return v and json.decode(v) or nil
end

--- The tenant's token, the milliseconds it stays valid and its lifetime, or nil.
function Dict:token(key)
  local v = self.dict:get(key .. ":token")
  if not v then return nil end
  local expires, lifetime, token = v:match("^(%d+) (%d+) (.*)$")
  return token, tonumber(expires) - self.now(), tonumber(lifetime)
end

--- Stores the tenant's token for `ttl_ms` (it expires from the dict then).
function Dict:save_token(key, token, ttl_ms)
  local expires = floor(self.now() + ttl_ms)
  return checked(self.dict:set(key .. ":token", expires .. " " .. floor(ttl_ms) .. " " .. token, ttl_ms / 1000))
end

--- Takes the renewal lock: true when this caller renews, false when another does.
function Dict:lock_token(key, ttl_ms)
  local ok, err = self.dict:add(key .. ":renewing", true, ttl_ms / 1000)
  if ok then return true end
  if err == "exists" then return false end
  return nil, "lua_shared_dict: " .. tostring(err)
end

--- Releases the renewal lock.
function Dict:unlock_token(key)
  self.dict:delete(key .. ":renewing")
  return true
end

return _M
