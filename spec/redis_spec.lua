-- The budget shared on Redis (option `store`): a real redis-server, real
-- nginx instances and a plain-Lua bulk job, measured on the simulator's log.
local core = require "userapi.core"
local json = require "userapi.json"
local sim = require "spec.helper"
local budget = require "spec.budget.common"
local redis = require "spec.budget.redis"
local nginx = require "spec.budget.nginx"

local ADA = "69c009ca-1f78-4bdf-bb93-08d6d39041db"
local DISCOVERY = "/arthur/api/v1/auth/oidc/.well-known/openid-configuration"
local TOKEN = "/arthur/oidc/token"
local LUA = jit and "luajit" or "lua5.4"
local PLAIN_PW = (redis.PASSWORD:gsub("[^%w]", ""))

local function kandji(extra)
  local opts = { rate_limit = { per_second = 10 } }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return sim.client("kandji", opts)
end

describe("the Redis store", function()
  local server
  setup(function() server = redis.start() end)
  teardown(function() server.stop() end)
  before_each(function() sim.reset() end)

  it("shares one budget between clients of the same tenant, as separate jobs would", function()
    -- two clients, two connections: each alone would send 10 at once
    local a, b = kandji{ store = server.url }, kandji{ store = server.url }
    for _ = 1, 11 do assert(a:get_user(ADA)) assert(b:get_user(ADA)) end
    local times = budget.times(sim.requests())
    assert.equal(22, #times)
    assert.is_true(budget.busiest(times, 1.0) <= 10, "busiest second: " .. budget.busiest(times, 1.0))
  end)

  it("keeps tenants apart: another credential has its own budget", function()
    local a = kandji{ store = server.url, token = "tenant-a-token" }
    local other = kandji{ store = server.url, token = "tenant-b-token" }
    for _ = 1, 10 do assert.equal(0, a.limiter:reserve()) end
    assert.equal(0, other.limiter:reserve())
    assert.is_true(a.limiter:reserve() > 900)
  end)

  it("keeps per_hour windows too: the fourth of 3 an hour waits an hour and its margin", function()
    local c = kandji{ store = server.url, token = "hourly-token", rate_limit = { per_hour = 3 } }
    for _ = 1, 3 do assert.equal(0, c.limiter:reserve()) end
    local wait = c.limiter:reserve()
    assert.is_true(wait >= 3600000 * 1.05 - 50 and wait <= 3600000 * 1.05, "waits " .. wait .. " ms")
  end)

  it("takes { redis = { host, port, password, db, prefix } } and keys by the prefix", function()
    local c = kandji{ store = { redis = { host = "127.0.0.1", port = server.port, password = server.password,
                                         db = 3, prefix = "acme:" } } }
    assert(c:get_user(ADA))
    local keys = c.limiter.store:call("keys", "acme:*")
    assert.is_true(#keys > 0)
    for _, k in ipairs(keys) do
      assert.matches("^acme:kandji:%x+:", k)
      assert.is_nil(k:find("kandji-test-token", 1, true))
    end
  end)

  it("reloads its script when Redis forgot it (NOSCRIPT): the windows survive", function()
    local c = kandji{ store = server.url, token = "noscript-token" }
    for _ = 1, 10 do assert.equal(0, c.limiter:reserve()) end
    assert(c.limiter.store:call("script", "flush"))
    assert.is_true(c.limiter:reserve() > 900)
  end)

  it("shares the last rate-limit headers, and a pause the vendor asks for holds every client", function()
    local a = kandji{ store = server.url, token = "kandji-test-token", rate_limit = { per_second = 40 } }
    local b = kandji{ store = server.url, token = "kandji-test-token", rate_limit = { per_second = 40 } }
    assert(a.limiter.store:call("flushdb"))
    assert.is_nil(b.limiter:headers())
    assert(a:get_user(ADA))
    local seen = b.limiter:headers()
    assert.equal("50", tostring(seen["x-ratelimit-limit-second"]))
    sim.fault{ match = { vendor = "kandji" }, status = 429, headers = { ["Retry-After"] = "1" } }
    local res, err = a:get_user(ADA)
    assert.is_nil(res)
    assert.equal(429, err.status)
    local wait = b.limiter:reserve()
    assert.is_true(wait > 800 and wait <= 1000, "b waits " .. wait .. " ms")
  end)

  it("refuses malformed store options", function()
    assert.has_error(function() kandji{ store = "http://127.0.0.1:6379" } end,
      "userapi.kandji: store must be a redis:// URL or { redis = { ... } }")
    assert.has_error(function() kandji{ store = { redis = { port = "x" } } } end,
      "userapi.kandji: store: Redis port must be an integer 1..65535")
    assert.has_error(function() kandji{ store = 5 } end,
      "userapi.kandji: store must be a redis:// URL or { redis = { host, port, password, db, prefix }, fleet = N }")
  end)

  describe("when Redis cannot be used", function()
    for name, url in pairs{
      ["is down"] = "redis://:" .. PLAIN_PW .. "@127.0.0.1:" .. sim.free_port(),
      ["refuses the password"] = "wrong",
    } do
      it(name .. ": falls back to the client's own limit, warns once, never shows the password", function()
        if url == "wrong" then url = "redis://:wrong-" .. PLAIN_PW .. "@127.0.0.1:" end
        if url:sub(-1) == ":" then url = url .. server.port end
        local c = kandji{ store = url }
        local lines = {}
        c.warn = function(msg) lines[#lines + 1] = msg end
        for _ = 1, 21 do assert(c:get_user(ADA)) end
        local times = budget.times(sim.requests())
        assert.is_true(budget.busiest(times, 1.0) <= 10)
        local shared = {}
        for _, l in ipairs(lines) do if l:find("shared budget", 1, true) then shared[#shared + 1] = l end end
        assert.equal(1, #shared)
        assert.matches("^userapi%.kandji: shared budget unavailable %(redis 127%.0%.0%.1:%d+: ", shared[1])
        assert.is_nil(shared[1]:find(PLAIN_PW, 1, true))
        assert.is_nil(shared[1]:find(".lua:", 1, true))
      end)
    end
  end)

  it("is tried again 5 s after it failed, and the client says when it is back", function()
    local port = sim.free_port()
    local clock = sim.clock()
    local lines = {}
    local c = kandji{ store = "redis://:" .. server.escaped .. "@127.0.0.1:" .. port, clock = clock,
                      log = function(msg) lines[#lines + 1] = msg end }
    assert.equal(0, c.limiter:reserve())
    assert.equal(1, #lines)
    assert.matches("shared budget unavailable", lines[1])
    local later = redis.start(port)
    local ok, err = pcall(function()
      clock.advance(4000)
      c.limiter:reserve()
      assert.equal(1, #lines)                -- not asked again yet
      clock.advance(1001)
      c.limiter:reserve()
      assert.equal(2, #lines)
      assert.equal("userapi.kandji: shared budget available again", lines[2])
      assert.is_true(#c.limiter.store:call("keys", "userapi:kandji:*") > 0)
    end)
    later.stop()
    assert(ok, err)
  end)

  describe("with two nginx instances of 2 workers and a plain-Lua bulk job #nginx", function()
    local a, b
    setup(function()
      local env = { USERAPI_REDIS_URL = server.url }
      a, b = nginx.start(2, "", env), nginx.start(2, "", env)
    end)
    teardown(function() a.stop() b.stop() end)

    it("the vendor sees at most 50 requests in any 1 s window", function()
      local seconds = tonumber(os.getenv("USERAPI_BUDGET_SECONDS") or "1.5")
      local out = os.tmpname()
      local job = ("env -u LD_PRELOAD USERAPI_SIM_URL=%s LUA_PATH=%q LUA_CPATH=%q %s spec/budget/bulk_job.lua"
        .. " %q %d %s &"):format(sim.url, package.path, os.getenv("LUA_CPATH") or package.cpath, LUA, server.url,
          30, out)
      local ra = a.start_run{ vendor = "kandji", redis = 1, threads = 8, ms = seconds * 1000 }
      local rb = b.start_run{ vendor = "kandji", redis = 1, threads = 8, ms = seconds * 1000 }
      os.execute(job)
      local done = {}
      for _, w in ipairs(a.wait_run(ra, seconds * 1000 + 20000)) do done[#done + 1] = w end
      for _, w in ipairs(b.wait_run(rb, seconds * 1000 + 20000)) do done[#done + 1] = w end
      local report
      for _ = 1, 400 do
        local f = io.open(out)
        report = f and json.decode(f:read("*a"))
        if f then f:close() end
        if report then break end
        core.sleep(50)
      end
      os.remove(out)
      assert.same({ ok = 30, failed = 0 }, report)
      local ok = 30
      for _, w in ipairs(done) do
        assert.equal(0, w.failed, w.err)
        assert.is_true(w.ok > 0, "a worker sent nothing")
        ok = ok + w.ok
      end
      local times = budget.times(sim.requests())
      assert.equal(ok, #times)
      local busiest = budget.busiest(times, 1.0)
      if os.getenv("USERAPI_BUDGET_SECONDS") then
        print(("\n2 nginx x 2 workers + 1 bulk job, %g s: %d requests in %.2f s, busiest 1 s window %d"):format(
          seconds, ok, times[#times] - times[1], busiest))
      end
      if busiest > 50 then
        for _, r in ipairs(sim.requests()) do
          io.write(("%.3f %s | "):format(r.time - times[1], r.headers["user-agent"]:match("%S+$")))
        end
      end
      assert.is_true(busiest <= 50, "busiest second: " .. busiest)
      for _, n in ipairs{ a, b } do
        assert.same({}, n.log_lines(redis.PASSWORD))
        assert.same({}, n.log_lines(server.escaped))
      end
    end)

    it("a renewer killed while it renews holds the others for its 3 s lease, not 30 s", function()
      local userapi = require "userapi"
      -- the tenant of the nginx runs (spec/budget/app.lua): its lock names the worker renewing
      local probe = userapi.arthur{ base_url = sim.base.arthur, client_id = "arthur-client",
                                    client_secret = "arthur-secret", store = server.url }
      local store = probe.limiter.store
      assert(store:call("flushdb"))
      sim.fault{ match = { path = TOKEN }, delay_ms = 4000 }
      local ra = a.start_run{ vendor = "arthur", redis = 1, threads = 4 }
      local rb = b.start_run{ vendor = "arthur", redis = 1, threads = 4 }
      local victim
      for _ = 1, 100 do
        local owner = store:call("get", store:key(probe.limiter.key, "renewing"))
        -- main's lock is "1": then the worker talking to the simulator
        if owner then victim = tostring(owner):match("^(%d+):") or a.talking_to_sim() or b.talking_to_sim() end
        if victim then break end
        core.sleep(20)
      end
      assert.is_not_nil(victim, "no worker took the renewal lock")
      os.execute("kill -9 " .. victim)
      local killed = require("socket").gettime()
      a.wait_run(ra, 60000)
      b.wait_run(rb, 60000)
      local last
      for _, r in ipairs(sim.requests()) do if r.path == TOKEN then last = math.max(last or 0, r.time) end end
      assert.is_true(last and last > killed, "no token fetch after the kill")
      if os.getenv("USERAPI_BUDGET_SECONDS") then
        print(("\ntoken fetched again %.1f s after the kill"):format(last - killed))
      end
      assert.is_true(last - killed < 6, ("the token was fetched again %.1f s after the kill"):format(last - killed))
    end)

    it("64 concurrent first Arthur requests make 1 discovery and 1 token fetch in total", function()
      assert(sim.client("kandji", { store = server.url }).limiter.store:call("flushdb"))
      local ra = a.start_run{ vendor = "arthur", redis = 1, threads = 16 }
      local rb = b.start_run{ vendor = "arthur", redis = 1, threads = 16 }
      local n = 0
      for _, w in ipairs(a.wait_run(ra)) do n = n + w.ok end
      for _, w in ipairs(b.wait_run(rb)) do n = n + w.ok end
      assert.equal(64, n)
      local counts = budget.count_paths(sim.requests())
      assert.equal(1, counts[DISCOVERY])
      assert.equal(1, counts[TOKEN])
    end)
  end)

  describe("down or hung, under 4 nginx workers #nginx", function()
    local ngx4, hung
    setup(function()
      ngx4 = nginx.start(4, "")
      hung = assert(require("socket").bind("127.0.0.1", 0, 64))
    end)
    teardown(function() ngx4.stop() hung:close() end)

    local function kandji_run(store)
      local done = ngx4.run({ vendor = "kandji", store = store, threads = 8, ms = 1500 }, 30000)
      local ok = 0
      for _, w in ipairs(done) do
        assert.equal(0, w.failed, w.err)
        ok = ok + w.ok
      end
      local times = budget.times(sim.requests())
      local busiest = budget.busiest(times, 1.0)
      if busiest > 50 then
        for _, r in ipairs(sim.requests()) do
          io.write(("%.3f %s | "):format(r.time - times[1], r.headers["user-agent"]:match("%S+$")))
        end
      end
      return ok, busiest
    end

    it("down: each worker takes its share, 4 workers send at most 50 in any second, one warning each", function()
      local ok, busiest = kandji_run("redis://127.0.0.1:" .. sim.free_port())
      assert.is_true(ok > 0)
      assert.is_true(busiest <= 50, "busiest second: " .. busiest)
      local lines = ngx4.log_lines("shared budget unavailable")
      assert.is_true(#lines >= 1 and #lines <= 4, table.concat(lines, "\n"))
      assert.truthy(lines[1]:find("per_second 12 of 50, per_hour 2500 of 10000 (1/4 of the budget)", 1, true), lines[1])
    end)

    it("hung: one request per worker asks it, the others wait for that one; one [error] line per worker", function()
      local before = #ngx4.log_lines("[error]")
      local ok, busiest = kandji_run("redis://127.0.0.1:" .. select(2, hung:getsockname()))
      assert.is_true(ok > 0)
      assert.is_true(busiest <= 50, "busiest second: " .. busiest)
      local errors = #ngx4.log_lines("[error]") - before
      assert.is_true(errors <= 4, errors .. " [error] lines")
    end)
  end)
end)
