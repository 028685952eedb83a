--- The client-side rate limit (`rate_limit = { per_second = N, per_hour = N }`).
-- A request reserves its slot first, then sleeps until it: waiters never
-- wake together, so no sliding window ever holds more than its `N` requests,
-- however many coroutines, light threads or bulk transfers share the client.
-- Each window keeps 5% of its span as margin for network and scheduling
-- jitter: 50 per second means at most 50 in any 1.05 s.
--
-- With a shared store (`shared_dict` under nginx, or `store` on Redis: see
-- @{userapi.store}) every client of the same vendor tenant, in every worker
-- or on every host, draws from one budget, and a pause the vendor asks for
-- with a 429 holds them all. When the store fails,
-- the client falls back to its own budget, warns once, and tries the store
-- again after 5 s.
-- @module userapi.limiter
local memory = require "userapi.store.memory"
local retry = require "userapi.retry"

local type, tostring, error, setmetatable = type, tostring, error, setmetatable
local floor, min, format = math.floor, math.min, string.format

local _M = {}
local Limiter = {}
Limiter.__index = Limiter

local SPANS = { per_second = 1000, per_hour = 3600000 }
local RETRY_STORE_MS = 5000
local REPORT_EVERY_MS = 1000

local function windows_of(name, rate)
  local windows = {}
  if rate == nil or rate == false then return windows end
  if type(rate) ~= "table" then error(name .. ": rate_limit must be a table or false", 0) end
  for k, v in pairs(rate) do
    if not SPANS[k] then error(name .. ": unknown rate_limit field '" .. tostring(k) .. "'", 0) end
    if type(v) ~= "number" or v < 1 or v % 1 ~= 0 then
      error(name .. ": rate_limit." .. k .. " must be a positive integer", 0)
    end
  end
  for _, k in ipairs{ "per_second", "per_hour" } do
    if rate[k] then
      windows[#windows + 1] = { n = rate[k], span = SPANS[k], margin = SPANS[k] / 20 }
    end
  end
  return windows
end

--- The limiter of a client.
-- @tparam userapi.client.Client client (its `vendor`, `opts`, `now`, `sleep`, `warn`)
-- @tparam ?table|false rate `{ per_second = N, per_hour = N }`, or false for none
-- @treturn table the limiter: `acquire`, `reserve`, `observe`, `headers`, `waited_ms`
-- @raise on a bad `rate_limit`, `store` or `shared_dict`
-- @usage client.limiter = require("userapi.limiter").new(client, { per_second = 50 })
function _M.new(client, rate)
  local name = "userapi." .. client.vendor.name
  local self = setmetatable({ client = client, name = name, windows = windows_of(name, rate),
                              own = memory.new(client.now), waited_ms = 0, waits = 0 }, Limiter)
  self.store, self.key = require("userapi.store").for_client(client, client.opts or {})
  return self
end

local function warn(self, msg)
  local w = self.client.warn
  if type(w) == "function" then w(msg) end
end

-- The shared store, or nil while it is marked down (5 s after a failure).
function Limiter:shared()
  local store = self.store
  if not store then return nil end
  if self.down_until then
    if self.client.now() < self.down_until then return nil end
    self.down_until = nil
  end
  return store
end

-- Marks the shared store down for 5 s (oidc.lua calls this too); the first
-- failure of an outage is reported, never the next ones.
function Limiter:store_failed(err)
  if not self.down_until and not self.warned_down then
    warn(self, format("%s: shared budget unavailable (%s); using this client's own rate limit until it answers",
      self.name, tostring(err)))
    self.warned_down = true
  end
  self.down_until = self.client.now() + RETRY_STORE_MS
end

--- Reserves the next slot without waiting: the request may start in the
-- returned number of milliseconds, not before (bulk starts a transfer then).
-- @treturn number milliseconds to wait
function Limiter:reserve()
  if #self.windows == 0 then return 0 end
  local store = self:shared()
  if store then
    local delay, err = store:reserve(self.key, self.windows)
    if delay then
      self.own:note(self.windows, delay)
      if self.warned_down then
        warn(self, self.name .. ": shared budget available again")
        self.warned_down = nil
      end
      return delay
    end
    self:store_failed(err)
  end
  return self.own:reserve(self.windows)
end

-- Throttle waits are reported at most once a second: how many, the longest.
function Limiter:report(ms, opname)
  local now = self.client.now()
  self.pending_waits = (self.pending_waits or 0) + 1
  self.longest = math.max(self.longest or 0, ms)
  if now - (self.reported_at or -REPORT_EVERY_MS) < REPORT_EVERY_MS then return end
  warn(self, format("%s: client-side rate limit: waiting %d ms before %s "
    .. "(%d wait(s) since the last report, longest %d ms)", self.name, floor(ms + 0.5),
    opname or "a request", self.pending_waits, floor(self.longest + 0.5)))
  self.reported_at, self.pending_waits, self.longest = now, 0, 0
end

--- Reserves a slot, then sleeps until it (with the client's `sleep`).
-- @tparam[opt] string opname the operation about to be sent (for the warning)
-- @treturn number the milliseconds waited
function Limiter:acquire(opname)
  local ms = self:reserve()
  if ms <= 0 then return 0 end
  self.waited_ms, self.waits = self.waited_ms + ms, self.waits + 1
  self:report(ms, opname)
  self.client.sleep(ms)
  return ms
end

--- Shares the rate-limit headers of an answer; on a 429 every client of the
-- tenant pauses as long as the vendor asks (`Retry-After`, or
-- `RateLimit-Reset`; at most the retry policy's `max_ms`). A success with
-- `RateLimit-Remaining: 0` does not pause: the windows already pace the
-- requests, and a fixed-window vendor says 0 at the end of every busy second.
-- @tparam table seen the rate-limit headers of the answer (names lower-case)
-- @tparam ?int status the answer's status
function Limiter:observe(seen, status)
  local ms = status == 429 and retry.server_delay(seen, status)
  local policy = self.client.retries
  if ms and ms > 0 then ms = min(ms, policy and policy.max_ms or 20000) end
  local store = self:shared()
  local now = self.client.now()
  -- the headers travel at most once a second; a pause at once
  if store and (ms or now - (self.saved_at or -REPORT_EVERY_MS) >= REPORT_EVERY_MS) then
    self.saved_at = now
    local ok, err = store:save_headers(self.key, seen)
    if ok and ms and ms > 0 then ok, err = store:pause(self.key, ms) end
    if not ok then self:store_failed(err) end
  end
  if ms and ms > 0 then self.own:pause(ms) end
end

--- The last rate-limit headers seen by any client of the tenant (with a
-- shared store), else by this client.
-- @treturn ?table the headers (names lower-case)
function Limiter:headers()
  local store = self:shared()
  local seen = store and store:headers(self.key)
  return seen or self.client.rate_limit
end

return _M
