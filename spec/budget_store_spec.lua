-- The budget's bounds in plain Lua: waits capped by the caller's limits, a
-- store that lies or hangs, a late scheduler. A real redis-server, a fake
-- Redis (spec/budget/fake_redis.lua) and a hung one (a loopback socket
-- nobody reads), measured on the simulator's log and the injected clock.
local core = require "userapi.core"
local socket = require "socket"
local sim = require "spec.helper"
local budget = require "spec.budget.common"
local redis = require "spec.budget.redis"

local ADA = "69c009ca-1f78-4bdf-bb93-08d6d39041db"
local TOKEN = "/arthur/oidc/token"

local function kandji(extra)
  local opts = { rate_limit = { per_second = 10 } }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return sim.client("kandji", opts)
end

local function lines_of(c)
  local lines = {}
  c.warn = function(msg) lines[#lines + 1] = msg end
  return lines
end

local function matching(lines, s)
  local out = {}
  for _, l in ipairs(lines) do if l:find(s, 1, true) then out[#out + 1] = l end end
  return out
end

describe("a request that wakes late", function()
  before_each(function() sim.reset() end)

  it("takes the next slot: 10 a second stay 10 in any second when one sleep ends 90 ms late", function()
    -- the scheduler of a loaded host (or an nginx reload) wakes one request 90 ms after its slot
    local late = 1
    local clock = {
      now = core.now,
      sleep = function(ms)
        core.sleep(ms + (late > 0 and 90 or 0))
        late = late - 1
      end,
    }
    local c = kandji{ clock = clock }
    for _ = 1, 21 do assert(c:get_user(ADA)) end
    local times = budget.times(sim.requests())
    assert.equal(21, #times)
    assert.is_true(budget.busiest(times, 1.0) <= 10, "busiest second: " .. budget.busiest(times, 1.0))
  end)
end)

describe("a wait the caller does not allow", function()
  before_each(function() sim.reset() end)

  it("fails at once, rate_limited with retry_after, when the slot is farther than retries.max_ms", function()
    local clock = sim.clock()
    local c = kandji{ clock = clock, rate_limit = { per_hour = 2 }, retries = { max_ms = 5000 } }
    assert(c:get_user(ADA))
    assert(c:get_user(ADA))
    local res, err = c:get_user(ADA)
    assert.is_nil(res)
    assert.equal("rate_limited", err.kind)
    assert.is_true(err.retryable)
    assert.equal(3780, err.retry_after)
    assert.equal(0, clock.total())
    assert.equal(2, #sim.requests())
    -- the slot was not taken: once the hour has passed, the next request goes at once
    clock.advance(3780000)
    assert(c:get_user(ADA))
    assert.equal(0, clock.total())
  end)
end)

describe("a Redis store that cannot be trusted", function()
  local server
  setup(function() server = redis.start() end)
  teardown(function() server.stop() end)
  before_each(function() sim.reset() end)

  it("holding a slot 10 minutes ahead is corrupt: the call with timeout_ms = 500 goes on the client's share", function()
    local clock = sim.clock()
    local c = kandji{ store = server.url, clock = clock, timeout_ms = 500 }
    local lines = lines_of(c)
    assert(c.limiter.store:call("flushdb"))
    local now = c.limiter.store:call("time")
    local redis_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
    assert(c.limiter.store:call("set", c.limiter.store:key(c.limiter.key, "last"), redis_ms + 600000, "PX", 600000))
    assert(c:get_user(ADA))
    assert.equal(0, clock.total())
    assert.equal(1, #sim.requests())
    local shared = matching(lines, "shared budget unavailable")
    assert.equal(1, #shared)
    -- 600 s ahead when set, a few ms less when read
    local ahead = tonumber(shared[1]:match("answered a slot (%d+) s ahead: its data is corrupt"))
    assert.is_true(ahead and ahead >= 590 and ahead <= 600, shared[1])
  end)

  it("holding a token with CR/LF: the call fetches a fresh one, nothing raises", function()
    local userapi = require "userapi"
    local c = userapi.arthur{ base_url = sim.base.arthur, client_id = "arthur-client", client_secret = "arthur-secret",
                              retries = false, store = server.url }
    local store = c.limiter.store
    assert(store:call("set", store:key(c.limiter.key, "token"), "forged\r\nX-Injected: 1", "PX", 600000))
    local ok, res, err = pcall(c.get_users_me, c)
    assert.is_true(ok, tostring(res))
    assert.is_truthy(res, tostring(err))
    local counts = budget.count_paths(sim.requests())
    assert.equal(1, counts[TOKEN])
    for _, r in ipairs(sim.requests()) do assert.is_nil(r.headers["x-injected"]) end
  end)

  it("a password with an @ never shows, not even its part after the @", function()
    local c = kandji{ store = "redis://:hunter2@secretpart@127.0.0.1:" .. sim.free_port() }
    local lines = lines_of(c)
    assert(c:get_user(ADA))
    assert.equal(1, #lines)
    assert.is_nil(lines[1]:find("secretpart", 1, true), lines[1])
    assert.is_nil(lines[1]:find("hunter2", 1, true), lines[1])
    assert.matches("^userapi%.kandji: shared budget unavailable %(redis 127%.0%.0%.1:%d+: ", lines[1])
  end)
end)

describe("a fake Redis answering every reservation with an hour", function()
  local fake
  setup(function() fake = sim.spawn("spec/budget/fake_redis.lua --answer-ms 3600000") end)
  teardown(function() fake.stop() end)
  before_each(function() sim.reset() end)

  local function url() return "redis://127.0.0.1:" .. fake.url:match(":(%d+)$") end

  it("does not make the first call sleep: per_second alone is corrupt beyond two spans and the pause", function()
    local clock = sim.clock()
    local c = kandji{ store = url(), clock = clock }
    local lines = lines_of(c)
    assert(c:get_user(ADA))
    assert.equal(0, clock.total())
    assert.truthy(lines[1]:find("answered a slot 3600 s ahead: its data is corrupt", 1, true), lines[1])
  end)

  it("with Kandji's hourly window an hour is possible: the call fails at once, rate_limited, nothing sent", function()
    local clock = sim.clock()
    local c = kandji{ store = url(), clock = clock, rate_limit = { per_second = 50, per_hour = 10000 } }
    local res, err = c:get_user(ADA)
    assert.is_nil(res)
    assert.equal("rate_limited", err.kind)
    assert.equal(3600, err.retry_after)
    assert.equal(0, clock.total())
    assert.same({}, sim.requests())
  end)
end)

describe("a hung Redis (a loopback socket nobody reads)", function()
  local hung
  setup(function() hung = assert(socket.bind("127.0.0.1", 0, 64)) end)
  teardown(function() hung:close() end)
  before_each(function() sim.reset() end)

  local function url() return "redis://127.0.0.1:" .. select(2, hung:getsockname()) end

  it("costs a call with timeout_ms = 300 at most its own timeout, not a fixed second", function()
    local c = kandji{ store = url(), timeout_ms = 300 }
    local t0 = core.now()
    assert(c:get_user(ADA))
    local took = core.now() - t0
    assert.is_true(took < 900, ("the call took %d ms"):format(math.floor(took)))
  end)

  it("is reported once for the clients of a process, and asked again after 5 s, then 10 s", function()
    local clock = { t = 0, slept = {} }
    function clock.now() return clock.t end
    function clock.sleep(ms) clock.t = clock.t + ms end
    local lines = {}
    local clients = {}
    for i = 1, 4 do
      clients[i] = kandji{ store = url(), timeout_ms = 100, clock = clock,
                           log = function(msg) lines[#lines + 1] = msg end }
    end
    local asked = 0
    for _, c in ipairs(clients) do
      local within = c.limiter.store.within
      c.limiter.store.within = function(...) asked = asked + 1 return within(...) end
    end
    for _ = 1, 7 do
      for _, c in ipairs(clients) do assert(c:get_user(ADA)) end
      clock.t = clock.t + 1000
    end
    assert.equal(1, #matching(lines, "shared budget unavailable"))
    -- at 0 s, then once at 5 s (asked again): 2 commands, not one per request
    assert.equal(2, asked)
  end)
end)

describe("a Redis fleet whose Redis is down", function()
  before_each(function() sim.reset() end)

  it("keeps each member to its share: fleet = 2 makes 10 a second 5 for this job", function()
    local c = kandji{ store = { redis = "redis://127.0.0.1:" .. sim.free_port(), fleet = 2 } }
    local lines = lines_of(c)
    for _ = 1, 11 do assert(c:get_user(ADA)) end
    local times = budget.times(sim.requests())
    assert.is_true(budget.busiest(times, 1.0) <= 5, "busiest second: " .. budget.busiest(times, 1.0))
    local shared = matching(lines, "shared budget")
    assert.equal(1, #shared)
    assert.truthy(shared[1]:find("per_second 5 of 10 (1/2 of the budget)", 1, true), shared[1])
  end)
end)
