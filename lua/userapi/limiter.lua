--- The client-side rate limit (`rate_limit = { per_second = N, per_hour = N }`).
-- A request reserves its slot first, then sleeps until it: waiters never
-- wake together, so no sliding window ever holds more than its `N` requests,
-- however many coroutines, light threads or bulk transfers share the client.
-- Each window keeps 5% of its span as margin for network and scheduling
-- jitter: 50 per second means at most 50 in any 1.05 s. A request that wakes
-- later than that margin after its slot takes the next slot instead: sent
-- late, it would land in a window already full.
--
-- A slot farther away than the caller allows (`retries.max_ms`, the call's
-- `timeout_ms`) is not taken: the call fails at once with `kind =
-- "rate_limited"` and `retry_after` (seconds).
--
-- With a shared store (`shared_dict` under nginx, or `store` on Redis: see
-- @{userapi.store}) every client of the same vendor tenant, in every worker
-- or on every host, draws from one budget, and a pause the vendor asks for
-- with a 429 holds them all. When the store fails (or answers a slot no
-- store could hold: a corrupt one), the client falls back to its share of
-- the budget (the limit divided by the nginx workers, and by `fleet` for a
-- Redis store), warns once, and tries the store again after 5 s (longer
-- while it keeps failing).
-- @module userapi.limiter
local memory = require "userapi.store.memory"
local retry = require "userapi.retry"
local errors = require "userapi.errors"

local type, tostring, error, setmetatable = type, tostring, error, setmetatable
local floor, min, max, format = math.floor, math.min, math.max, string.format
local ngx = ngx

local _M = {}
local Limiter = {}
Limiter.__index = Limiter

local SPANS = { per_second = 1000, per_hour = 3600000 }
local REPORT_EVERY_MS = 1000
local RETRY_STORE_MS = 5000       -- a failed store is asked again after this (doubled while it fails)
local WARN_EVERY_MS = 60000       -- an outage is reported at most this often
local PROBE_MS = 2000             -- while one request asks a failed store again, the others do not
local DEFAULT_TIMEOUT_MS = 30000
local MAX_LATE_TRIES = 8          -- reservations one request may make after waking late
-- rate-limit headers worth sharing are short; a vendor's 54 KB one is not kept
local MAX_HEADER_VALUE = 128
local MAX_HEADERS = 16

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
      windows[#windows + 1] = { n = rate[k], span = SPANS[k], margin = SPANS[k] / 20, name = k }
    end
  end
  return windows
end

-- The windows of one share of the budget: each limit divided by `share`.
local function share_of(windows, share)
  local own = {}
  for j, w in ipairs(windows) do
    own[j] = { n = max(1, floor(w.n / share)), span = w.span, margin = w.margin, name = w.name }
  end
  return own
end

-- How many take a share when the store fails: the workers of this nginx,
-- times the hosts or jobs of a Redis fleet.
local function sharers(store)
  local workers = ngx and ngx.worker and ngx.worker.count and ngx.worker.count() or 1
  return workers * (store.fleet or 1)
end

-- The store's state in this process, shared by every client of that store
-- on the same clock: `proven` (it answered), `down_until`, `failures`,
-- `probe_until` (one request is asking it), `warned`. The store marks itself
-- proven when a command succeeds (userapi.store.redis).
local health_of = setmetatable({}, { __mode = "k" })
local function health_for(now, store)
  local by_clock = health_of[now]
  if not by_clock then by_clock = {} health_of[now] = by_clock end
  local id = store:describe()
  local h = by_clock[id]
  if not h then h = { failures = 0, proven = not store.remote } by_clock[id] = h end
  return h
end
local function health(self) return self.store.health end

--- The limiter of a client.
-- @tparam userapi.client.Client client (its `vendor`, `opts`, `now`, `sleep`, `warn`)
-- @tparam ?table|false rate `{ per_second = N, per_hour = N }`, or false for none
-- @treturn table the limiter: `acquire`, `reserve`, `observe`, `headers`, `waited_ms`
-- @raise on a bad `rate_limit`, `store` or `shared_dict`, or a shared dict too small for the rate
-- @usage client.limiter = require("userapi.limiter").new(client, { per_second = 50 })
function _M.new(client, rate)
  local name = "userapi." .. client.vendor.name
  local windows = windows_of(name, rate)
  local self = setmetatable({ client = client, name = name, windows = windows, waited_ms = 0, waits = 0 }, Limiter)
  self.store, self.key, self.shares_token = require("userapi.store").for_client(client, client.opts or {})
  local own = windows
  if self.store then
    self.store.health = health_for(client.now, self.store)
    if self.store.check_room then self.store:check_room(windows, name) end
    self.share = sharers(self.store)
    own = share_of(windows, self.share)
  end
  self.own_windows, self.own = own, memory.new(client.now)
  -- the longest wait a store can honestly hand out: two spans of the longest
  -- window and a vendor-asked pause; beyond that its data is corrupt
  local longest = 0
  for _, w in ipairs(windows) do longest = max(longest, w.span + w.margin) end
  local policy = client.retries
  self.absurd_ms = 2 * longest + max(policy and policy.max_ms or 0, 60000)
  return self
end

local function warn(self, msg)
  local w = self.client.warn
  if type(w) == "function" then w(msg) end
end

-- The shared store, or nil while it is marked down. A store not yet heard
-- from (or asked again after failing) is asked by one request at a time:
-- the others wait for its answer, so a hung Redis costs one timeout per
-- process, not one per request.
function Limiter:shared()
  local store = self.store
  if not store then return nil end
  local h, now = health(self), self.client.now
  while h.probe_until and now() < h.probe_until do self.client.sleep(5) end
  if h.down_until and now() < h.down_until then return nil end
  -- a dict answers at once or fails at once: only a server is probed
  if store.remote and (not h.proven or h.down_until) then h.probe_until = now() + PROBE_MS end
  return store
end

-- The store answered: it is back if it was down.
function Limiter:store_ok()
  local h = health(self)
  if not h.down_until then return end
  h.down_until, h.failures, h.probe_until, h.proven = nil, 0, nil, true
  if h.warned then
    h.warned = nil
    warn(self, self.name .. ": shared budget available again")
  end
end

-- The limits of this client's share, for the warning.
function Limiter:share_text()
  local parts = {}
  for j, w in ipairs(self.windows) do
    parts[#parts + 1] = format("%s %d of %d", w.name, self.own_windows[j].n, w.n)
  end
  if #parts == 0 then return "no rate limit" end
  return table.concat(parts, ", ") .. format(" (1/%d of the budget)", self.share or 1)
end

--- Marks the shared store down (oidc.lua calls this too): 5 s, doubled while
-- it keeps failing, at most a minute; the first failure of an outage is
-- reported once in this process (once a minute at most), never the next ones.
-- @param err why
function Limiter:store_failed(err)
  local h = health(self)
  h.failures = min(h.failures + 1, 5)
  h.down_until, h.probe_until = self.client.now() + min(RETRY_STORE_MS * 2 ^ (h.failures - 1), 60000), nil
  -- a store that comes and goes (a dict with room for a few entries) is said once a minute at most
  local now = self.client.now()
  if not h.warned and now - (h.warned_at or -WARN_EVERY_MS) >= WARN_EVERY_MS then
    h.warned, h.warned_at = true, now
    warn(self, format("%s: shared budget unavailable (%s); using this client's share until it answers: %s",
      self.name, tostring(err), self:share_text()))
  end
end

--- Reserves the next slot when it is at most `max_wait` ms away: the request
-- may start in the returned number of milliseconds, not before (bulk starts
-- a transfer then). A farther slot is returned but not taken.
-- @tparam[opt] number max_wait the longest acceptable wait (none by default)
-- @tparam[opt] number timeout_ms how long the store may take to answer
-- @treturn number milliseconds to wait (from the return)
-- @treturn number when the slot was asked for (ms on the client's clock): the
-- slot is at least this plus the wait; a caller later than the margin after
-- that is late
function Limiter:reserve(max_wait, timeout_ms)
  local now = self.client.now
  if #self.windows == 0 then return 0, now() end
  max_wait = max_wait or math.huge
  local store = self:shared()
  if store then
    local asked = now()
    local delay, err = store:reserve(self.key, self.windows, max_wait, timeout_ms)
    if delay and delay > self.absurd_ms then
      delay, err = nil, format("%s answered a slot %d s ahead: its data is corrupt", store:describe(),
        floor(delay / 1000))
    end
    if delay then
      self:store_ok()
      if delay <= max_wait then self.own:note(self.own_windows, delay) end
      return delay, asked
    end
    self:store_failed(err)
  end
  return self.own:reserve(self.own_windows, max_wait), now()
end

-- Throttle waits are reported at most once a second: how many, the longest.
function Limiter:report(ms, opname)
  local now = self.client.now()
  self.pending_waits = (self.pending_waits or 0) + 1
  self.longest = max(self.longest or 0, ms)
  if now - (self.reported_at or -REPORT_EVERY_MS) < REPORT_EVERY_MS then return end
  warn(self, format("%s: client-side rate limit: waiting %d ms before %s "
    .. "(%d wait(s) since the last report, longest %d ms)", self.name, floor(ms + 0.5),
    opname or "a request", self.pending_waits, floor(self.longest + 0.5)))
  self.reported_at, self.pending_waits, self.longest = now, 0, 0
end

--- The longest a request may wait for its slot, and until when (ms on the
-- client's clock): `retries.max_ms` and the call's `timeout_ms`.
-- @tparam[opt] number deadline the call's deadline, if it has its own
-- @treturn number the deadline
-- @treturn number the longest wait from now
function Limiter:bounds(deadline)
  local client = self.client
  local now = client.now()
  deadline = deadline or now + (client.opts and client.opts.timeout_ms or DEFAULT_TIMEOUT_MS)
  local policy = client.retries
  return deadline, max(0, min(policy and policy.max_ms or 20000, deadline - now))
end

--- The error of a request whose slot is farther than it may wait (or that
-- woke late for every slot it took).
-- @tparam string opname the operation
-- @tparam number ms how far the slot is (nil: late for every slot)
-- @treturn userapi.errors.Error `kind = "rate_limited"`, `retry_after` in seconds
function Limiter:too_far(opname, ms)
  local message = ms and format("client-side rate limit: the next slot is %d ms away, longer than this call may wait",
    floor(ms)) or format("client-side rate limit: woke later than the margin after each of %d slots", MAX_LATE_TRIES)
  return errors.new{ vendor = self.client.vendor.name, operation = opname or "request", kind = "rate_limited",
    retryable = true, retry_after = math.ceil((ms or 0) / 1000), message = message }
end

-- The smallest margin of the windows: a request that wakes later than this
-- after its slot must not go.
function Limiter:margin()
  local m = math.huge
  for _, w in ipairs(self.windows) do m = min(m, w.margin) end
  return m
end

--- Reserves a slot, then sleeps until it (with the client's `sleep`). A slot
-- farther than `retries.max_ms` or the deadline is not taken; a sleep that
-- ends later than the margin after the slot takes another slot.
-- @tparam[opt] string opname the operation about to be sent (for the warning)
-- @tparam[opt] number deadline the call's deadline (ms on the client's clock)
-- @treturn[1] number the milliseconds waited
-- @treturn[2] nil
-- @treturn[2] userapi.errors.Error `kind = "rate_limited"`
function Limiter:acquire(opname, deadline)
  if #self.windows == 0 then return 0 end
  local now = self.client.now
  local waited = 0
  local max_wait
  deadline, max_wait = self:bounds(deadline)
  for _ = 1, MAX_LATE_TRIES do
    local ms, asked = self:reserve(max_wait, max(1, deadline - now()))
    if ms > max_wait then return nil, self:too_far(opname, ms) end
    if ms > 0 then
      self.waited_ms, self.waits = self.waited_ms + ms, self.waits + 1
      self:report(ms, opname)
      self.client.sleep(ms)
      waited = waited + ms
    end
    -- late counts from the question: a store slow to answer makes the request late too
    if now() - (asked + ms) <= self:margin() then return waited end
    -- too late for this slot: its window may be full by now
    _, max_wait = self:bounds(deadline)
  end
  return nil, self:too_far(opname, nil)
end

-- The rate-limit headers worth keeping in a store: short values only, a few.
local function storable(seen)
  local kept, n = {}, 0
  for k, v in pairs(seen) do
    v = tostring(v)
    if #k <= 64 and #v <= MAX_HEADER_VALUE and n < MAX_HEADERS then kept[k], n = v, n + 1 end
  end
  return kept
end

--- Shares the rate-limit headers of an answer; on a 429 every client of the
-- tenant pauses as long as the vendor asks (`Retry-After`, or
-- `RateLimit-Reset`; at most the retry policy's `max_ms`). A success with
-- `RateLimit-Remaining: 0` does not pause: the windows already pace the
-- requests, and a fixed-window vendor says 0 at the end of every busy second.
-- Header values longer than 128 bytes are not stored.
-- @tparam table seen the rate-limit headers of the answer (names lower-case)
-- @tparam ?int status the answer's status
function Limiter:observe(seen, status)
  local ms = status == 429 and retry.server_delay(seen, status)
  local policy = self.client.retries
  if ms and ms > 0 then ms = min(ms, policy and policy.max_ms or 20000) end
  local now = self.client.now()
  -- the headers travel at most once a second; a pause at once
  local store = (ms or now - (self.saved_at or -REPORT_EVERY_MS) >= REPORT_EVERY_MS) and self:shared()
  if store then
    self.saved_at = now
    local ok, err = store:save_headers(self.key, storable(seen))
    if ok and ms and ms > 0 then ok, err = store:pause(self.key, ms) end
    if ok then self:store_ok() else self:store_failed(err) end
  end
  if ms and ms > 0 then self.own:pause(ms) end
end

--- The last rate-limit headers seen by any client of the tenant (with a
-- shared store), else by this client.
-- @treturn ?table the headers (names lower-case)
function Limiter:headers()
  local store = self:shared()
  local seen, err
  if store then
    seen, err = store:headers(self.key)
    if err then self:store_failed(err) end
  end
  return seen or self.client.rate_limit
end

return _M
