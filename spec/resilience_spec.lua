-- Resilience, proven against the simulator's fault injection: retries and
-- waits, rate limits, and what on_request reports of each attempt.
local sim = require "spec.helper"
local userapi = require "userapi"
local retry = require "userapi.retry"

local SIGFOX_LIST = "/sigfox/v2/api-users/"
local SIGFOX_NEW = { groupId = "babecafebabecafebabedcef", name = "Resilience", timezone = "Europe/Paris",
                     profileIds = { "5138e7dfa2f1fffaf25fd409" } }
local KANDJI_ADA = "69c009ca-1f78-4bdf-bb93-08d6d39041db"    -- no devices: deletable
local ARTHUR_ADA = "00000000-0000-4000-8000-000000000002"
local QUICK = { max = 3, base_ms = 5 }                        -- a server-asked wait honoured

local client, count, applied, recorder, dump = sim.unlimited, sim.count, sim.applied, sim.recorder, sim.dump
local base64 = require "spec.base64"
local FAST = sim.FAST_RETRIES

describe("resilience", function()
  before_each(function() sim.reset() end)

  describe("retries", function()
    it("retries a GET on 503 and returns the answer of the attempt that succeeded", function()
      sim.fault{ match = { vendor = "sigfox" }, status = 503, times = 2 }
      local events, hook = recorder()
      local page = assert(client("sigfox", { retries = FAST, on_request = hook }):list_api_users())
      assert.truthy(page.data)
      assert.equal(3, count())
      assert.same({ 503, 503, 200 }, { events[1].status, events[2].status, events[3].status })
      assert.same({ 1, 2, 3 }, { events[1].attempt, events[2].attempt, events[3].attempt })
    end)

    it("gives up after retries.max retries, returning the last error with its attempts counted", function()
      sim.fault{ match = { vendor = "sigfox" }, status = 503, times = 0 }
      local res, err = client("sigfox", { retries = { max = 2, base_ms = 5 } }):list_api_users()
      assert.is_nil(res)
      assert.equal(503, err.status)
      assert.equal(3, err.attempts)
      assert.is_true(err.retryable)
      assert.equal(3, count())
    end)

    it("retries 408, 429, 502, 503 and 504, never 500 or another 4xx", function()
      local c = client("opendatasoft", { retries = FAST })
      for _, case in ipairs({ { 429, 2 }, { 502, 2 }, { 503, 2 }, { 504, 2 }, { 408, 2 }, { 500, 1 }, { 400, 1 },
                              { 404, 1 }, { 401, 1 } }) do
        sim.control("DELETE", "requests")
        sim.fault{ match = { vendor = "ods" }, status = case[1] }
        local res, err = c:get_users()
        assert.equal(case[2], count(), "status " .. case[1])
        if case[2] == 2 then assert.truthy(res) else assert.equal(case[1], err.status) end
      end
    end)

    it("waits the seconds of Retry-After before trying again", function()
      sim.fault{ match = { vendor = "sigfox" }, status = 503, headers = { ["Retry-After"] = "1" } }
      local clock = sim.clock()
      assert.truthy(client("sigfox", { retries = QUICK, clock = clock }):list_api_users())
      assert.equal(2, count())
      assert.same({ 1000 }, clock.slept)
    end)

    it("waits until the HTTP date of Retry-After", function()
      local at = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 2)
      sim.fault{ match = { vendor = "sigfox" }, status = 429, headers = { ["Retry-After"] = at } }
      local clock = sim.clock()
      assert.truthy(client("sigfox", { retries = QUICK, clock = clock }):list_api_users())
      assert.equal(2, count())
      -- whole seconds: 1 or 2 of them, depending on when the second turns
      assert.equal(1, #clock.slept)
      assert.is_true(clock.slept[1] == 1000 or clock.slept[1] == 2000, "waited " .. clock.slept[1] .. " ms")
    end)

    it("ignores a Retry-After it cannot read, even an absurd date, and backs off instead", function()
      for _, v in ipairs({ "soon", "Wed, 21 Oct 99999999999 07:28:00 GMT", "-5", "" }) do
        sim.fault{ match = { vendor = "sigfox" }, status = 503, headers = { ["Retry-After"] = v } }
        local clock = sim.clock()
        assert.truthy(client("sigfox", { retries = QUICK, clock = clock }):list_api_users(), v)
        assert.is_true(clock.slept[1] < 5, v .. " waited " .. clock.slept[1] .. " ms")
      end
    end)

    it("waits for RateLimit-Reset when the quota is spent, not on a 503 from a gateway that sends it always", function()
      sim.fault{ match = { vendor = "sigfox" }, status = 429,
                 headers = { ["RateLimit-Reset"] = "1", ["RateLimit-Remaining"] = "0" } }
      local clock = sim.clock()
      assert.truthy(client("sigfox", { retries = QUICK, clock = clock }):list_api_users())
      assert.same({ 1000 }, clock.slept)
      -- Kandji's gateway sends RateLimit-Reset (and quota left) on every answer
      sim.fault{ match = { vendor = "kandji" }, status = 503, times = 2 }
      clock = sim.clock()
      local kandji = client("kandji", { retries = QUICK, clock = clock })
      assert.truthy(kandji:list_users())
      assert.truthy(kandji.rate_limit["ratelimit-reset"])
      assert.equal(2, #clock.slept)
      assert.is_true(clock.slept[1] < 5 and clock.slept[2] < 10, "waited " .. clock.total() .. " ms")
    end)

    it("fails at once, kind rate_limited, when the server asks a wait longer than max_ms", function()
      sim.fault{ match = { vendor = "sigfox" }, status = 503, headers = { ["Retry-After"] = "30" } }
      local clock = sim.clock()
      local res, err = client("sigfox", { retries = { max = 1, max_ms = 200 }, clock = clock }):list_api_users()
      assert.is_nil(res)
      -- not waited, not sent again: the caller hears it now
      assert.same({}, clock.slept)
      assert.equal(1, count())
      assert.same({ "rate_limited", 503, 30, 1, true }, { err.kind, err.status, err.retry_after, err.attempts,
                                                          err.retryable })
      assert.equal("sigfox list_api_users: 503 Service Unavailable (the server asks to wait 30 s, longer than "
        .. "retries.max_ms (200 ms): not waited)", tostring(err))
    end)

    it("backs off exponentially with full jitter: wait n is uniform below min(max_ms, base_ms * 2^n)", function()
      local p = retry.policy{ max = 10, base_ms = 100, max_ms = 1000 }
      for attempt = 0, 6 do
        local cap, top, sum = math.min(1000, 100 * 2 ^ attempt), 0, 0
        for _ = 1, 300 do
          local w = retry.wait(p, "GET", attempt, 503, "", {})
          assert.is_true(w >= 0 and w < cap)
          top, sum = math.max(top, w), sum + w
        end
        assert.is_true(top > 0.75 * cap, "attempt " .. attempt .. ": never above " .. top)
        assert.is_true(sum / 300 > 0.35 * cap and sum / 300 < 0.65 * cap)
      end
      assert.is_nil(retry.wait(p, "GET", 10, 503, "", {}))
    end)

    it("keeps every wait of a client under max_ms", function()
      sim.fault{ match = { vendor = "sigfox" }, status = 503, times = 0 }
      local clock = sim.clock()
      local c = client("sigfox", { retries = { max = 4, base_ms = 5000, max_ms = 60 }, clock = clock })
      local _, err = c:list_api_users()
      assert.equal(5, err.attempts)
      -- uncapped, base_ms = 5000 would wait up to 75 s
      assert.equal(4, #clock.slept)
      for _, ms in ipairs(clock.slept) do assert.is_true(ms < 60, "waited " .. ms .. " ms") end
    end)

    it("sends a request once with retries = false", function()
      sim.fault{ match = { vendor = "sigfox" }, status = 503 }
      local _, err = client("sigfox", { retries = false }):list_api_users()
      assert.equal(503, err.status)
      assert.equal(1, err.attempts)
      assert.equal(1, count())
      local _, cerr = userapi.sigfox{ base_url = "http://127.0.0.1:1/sigfox/v2", login = "l", password = "pw-1",
                                      retries = false }:list_api_users()
      assert.equal("connect", cerr.kind)
      assert.equal(1, cerr.attempts)
    end)

    it("does not retry a POST or a PATCH on 503, and nothing is applied", function()
      sim.fault{ match = { vendor = "sigfox" }, status = 503, times = 0 }
      local _, err = client("sigfox", { retries = FAST }):create_api_user(SIGFOX_NEW)
      assert.equal(503, err.status)
      assert.equal(1, err.attempts)
      sim.fault{ match = { vendor = "arthur" }, status = 503, times = 0 }
      _, err = client("arthur", { retries = FAST }):patch_user(ARTHUR_ADA, { first_name = "Augusta" })
      assert.equal(503, err.status)
      assert.equal(1, err.attempts)
      assert.equal(2, count())
      assert.equal(0, applied("sigfox", "create_api_user"))
      assert.equal(0, applied("arthur", "patch_user"))
    end)

    it("does not retry a POST that timed out, which the vendor applied exactly once", function()
      sim.fault{ match = { vendor = "sigfox" }, delay_ms = 600 }
      local _, err = client("sigfox", { retries = FAST, timeout_ms = 200 }):create_api_user(SIGFOX_NEW)
      assert.equal("timeout", err.kind)
      assert.is_nil(err.status)
      assert.equal(1, err.attempts)
      assert.equal(1, count())
      assert.equal(1, applied("sigfox", "create_api_user"))
    end)

    it("retries a POST whose connection was refused: the request never left", function()
      local events, hook = recorder()
      local c = userapi.sigfox{ base_url = "http://127.0.0.1:1/sigfox/v2", login = "l", password = "pw-1",
                                retries = { max = 2, base_ms = 5 }, on_request = hook }
      local _, err = c:create_api_user(SIGFOX_NEW)
      assert.equal("connect", err.kind)
      assert.equal(3, err.attempts)
      assert.equal(3, #events)
      for _, e in ipairs(events) do
        assert.equal("POST", e.method)
        assert.is_nil(e.status)
        assert.truthy(e.error)
      end
    end)

    it("retries a POST or a PATCH on 503 when retries.unsafe = true, applying it once", function()
      sim.fault{ match = { vendor = "sigfox" }, status = 503 }
      local unsafe = { max = 2, base_ms = 5, unsafe = true }
      assert(client("sigfox", { retries = unsafe }):create_api_user(SIGFOX_NEW))
      sim.fault{ match = { vendor = "arthur" }, status = 503 }
      assert(client("arthur", { retries = unsafe }):patch_user(ARTHUR_ADA, { first_name = "Augusta" }))
      assert.equal(4, count())
      assert.equal(1, applied("sigfox", "create_api_user"))
      assert.equal(1, applied("arthur", "patch_user"))
    end)

    it("with retries.unsafe = true sends a timed-out POST again, which the vendor may apply twice", function()
      sim.fault{ match = { vendor = "sigfox" }, delay_ms = 600 }
      assert(client("sigfox", { retries = { max = 1, base_ms = 5, unsafe = true }, timeout_ms = 300 })
        :create_api_user(SIGFOX_NEW))
      assert.equal(2, applied("sigfox", "create_api_user")) -- why unsafe is opt-in
    end)

    it("retries a GET that timed out", function()
      sim.fault{ match = { vendor = "sigfox" }, delay_ms = 600 }
      assert(client("sigfox", { retries = FAST, timeout_ms = 200 }):list_api_users())
      assert.equal(2, count())
    end)

    it("retries a DELETE that timed out: the user is deleted once, the retry's 404 is what the caller sees", function()
      sim.fault{ match = { vendor = "kandji" }, delay_ms = 600 }
      local _, err = client("kandji", { retries = FAST, timeout_ms = 200 }):delete_user(KANDJI_ADA)
      assert.equal(404, err.status)
      assert.equal(2, err.attempts)
      assert.equal(1, applied("kandji", "delete_user"))
    end)

    it("retries a DELETE answered 503 and applies it once", function()
      sim.fault{ match = { vendor = "kandji" }, status = 503, times = 2 }
      assert.is_true(client("kandji", { retries = FAST }):delete_user(KANDJI_ADA))
      assert.equal(3, count())
      assert.equal(1, applied("kandji", "delete_user"))
    end)
  end)

  describe("rate limits", function()
    it("keeps the last X-RateLimit-* and RateLimit-* headers seen in client.rate_limit", function()
      local c = client("sigfox")
      sim.fault{ match = { vendor = "sigfox" },
                 headers = { ["X-RateLimit-Remaining"] = "7", ["RateLimit-Reset"] = "3" } }
      assert(c:list_api_users())
      assert.same({ ["x-ratelimit-remaining"] = "7", ["ratelimit-reset"] = "3" }, c.rate_limit)
      sim.fault{ match = { vendor = "sigfox" }, status = 429,
                 headers = { ["Retry-After"] = "9", ["RateLimit-Remaining"] = "0" } }
      assert.is_nil(c:list_api_users())
      assert.same({ ["retry-after"] = "9", ["ratelimit-remaining"] = "0" }, c.rate_limit)
      local kandji = client("kandji")
      assert(kandji:list_users())
      assert.equal("50", kandji.rate_limit["x-ratelimit-limit-second"])
      assert.equal("10000", kandji.rate_limit["x-ratelimit-limit-hour"])
    end)

    it("stays under rate_limit.per_second: 10 calls at 5 per second take a second and its 5% margin", function()
      local clock = sim.clock()
      local c = client("sigfox", { rate_limit = { per_second = 5 }, clock = clock })
      for _ = 1, 10 do assert(c:list_api_users()) end
      assert.equal(1050, clock.total())
    end)

    it("keeps a Kandji client under Kandji's 50 per second by default", function()
      local clock = sim.clock()
      local kandji = sim.client("kandji", { clock = clock })
      for _ = 1, 55 do assert(kandji:get_user(KANDJI_ADA)) end
      assert.equal(1050, clock.total())
    end)
  end)

  describe("on_request", function()
    it("reports each attempt's request line and status, without the Authorization header", function()
      sim.fault{ match = { vendor = "sigfox" }, status = 503 }
      local events, hook = recorder()
      assert(client("sigfox", { retries = FAST, on_request = hook }):list_api_users{ limit = 5 })
      assert.equal(2, #events)
      for i, e in ipairs(events) do
        assert.equal("sigfox", e.vendor)
        assert.equal("list_api_users", e.operation)
        assert.equal("GET", e.method)
        assert.equal(sim.url .. SIGFOX_LIST .. "?limit=5", e.url)
        assert.equal(i, e.attempt)
        assert.equal("number", type(e.ms))
      end
      assert.same({ 503, 200 }, { events[1].status, events[2].status })
      local all = dump(events)
      assert.is_nil(all:lower():find("authorization", 1, true))
      assert.is_nil(all:find("sigfox-secret", 1, true))
      assert.is_nil(all:find(base64("sigfox-login:sigfox-secret"), 1, true))
      -- the server did get the credentials
      assert.truthy(sim.last_request().headers.authorization)
    end)

    it("shows no API key when Opendatasoft takes it in the query", function()
      local events, hook = recorder()
      local ods = client("opendatasoft", { apikey_in = "query", on_request = hook })
      assert(ods:get_users{ limit = 2 })
      assert.equal("limit=2&apikey=ods-test-key", sim.last_request().query)
      assert.equal(1, #events)
      assert.matches("/users/%?limit=2$", events[1].url)
      assert.is_nil(dump(events):find("ods-test-key", 1, true))
    end)
  end)
end)
