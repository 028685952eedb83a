-- Every transport fault the simulator can inject, what the vendor ends up
-- applying, and Lua misuse of the C core: errors, never crashes.
local sim = require "spec.helper"
local sh = sim.sh
local core = require "userapi.core"
local userapi = require "userapi"

local SIGFOX_NEW = { groupId = "babecafebabecafebabedcef", name = "Resilience", timezone = "Europe/Paris",
                     profileIds = { "5138e7dfa2f1fffaf25fd409" } }
local client, count, applied = sim.unlimited, sim.count, sim.applied
local FAST = sim.FAST_RETRIES

-- Milliseconds f takes, and what it returns.
local function timed(f)
  local t0 = core.now()
  local a, b = f()
  return core.now() - t0, a, b
end

describe("faults", function()
  before_each(function() sim.reset() end)

  describe("faults", function()
    it("retries a GET whose connection closed before any answer", function()
      sim.fault{ match = { vendor = "sigfox" }, drop = "before" }
      assert(client("sigfox", { retries = FAST }):list_api_users())
      local all = sim.requests()
      assert.equal(2, #all)
      assert.equal(0, all[1].status)
      sim.fault{ match = { vendor = "sigfox" }, drop = "before" }
      local _, err = client("sigfox", { retries = false }):list_api_users()
      assert.equal("recv", err.kind)
      assert.is_true(err.retryable)
    end)

    it("does not resend a POST whose connection closed before any answer: it may have been processed", function()
      sim.fault{ match = { vendor = "sigfox" }, drop = "before" }
      local _, err = client("sigfox", { retries = FAST }):create_api_user(SIGFOX_NEW)
      assert.equal("recv", err.kind)
      assert.equal(1, err.attempts)
      assert.equal(1, count())
      assert.equal(0, applied("sigfox", "create_api_user"))
    end)

    it("retries a GET whose connection closed in the middle of the body", function()
      sim.fault{ match = { vendor = "sigfox" }, drop = "mid" }
      assert(client("sigfox", { retries = FAST }):list_api_users())
      assert.equal(2, count())
      sim.fault{ match = { vendor = "sigfox" }, drop = "mid" }
      local _, err = client("sigfox", { retries = false }):list_api_users()
      assert.equal("recv", err.kind)
      assert.matches("^sigfox list_api_users: recv %(", tostring(err))
    end)

    it("does not resend a POST cut in the middle of its answer, which the vendor applied once", function()
      sim.fault{ match = { vendor = "sigfox" }, drop = "mid" }
      local _, err = client("sigfox", { retries = FAST }):create_api_user(SIGFOX_NEW)
      assert.equal("recv", err.kind)
      assert.equal(1, count())
      assert.equal(1, applied("sigfox", "create_api_user"))
    end)

    it("turns a truncated JSON body into a decode error with a short excerpt, not a cjson error", function()
      sim.fault{ match = { vendor = "kandji" }, truncate = true }
      local res, err = client("kandji", { retries = FAST }):list_users()
      assert.is_nil(res)
      assert.is_true(userapi.is_error(err))
      assert.equal("decode", err.kind)
      assert.equal(200, err.status)
      assert.is_false(err.retryable)
      assert.equal(1, count())
      assert.matches("^kandji list_users: 200 response is not valid JSON %(.-%): {\"", tostring(err))
      assert.is_true(#err.message < 400)
      assert.matches("%.%.%.$", err.message)
      assert.truthy(#err.body > 200)
    end)

    it("turns malformed JSON into a decode error quoting the body", function()
      sim.fault{ match = { vendor = "sigfox" }, malformed = true }
      local _, err = client("sigfox"):list_api_users()
      assert.equal("decode", err.kind)
      assert.truthy(err.message:find('{"sim": "malformed json"', 1, true))
      -- an HTML page where JSON was expected reads the same way
      sim.fault{ match = { vendor = "sigfox" }, status = 200, body = "<html><body>Maintenance</body></html>" }
      _, err = client("sigfox"):list_api_users()
      assert.equal("decode", err.kind)
      assert.truthy(err.message:find("<html><body>Maintenance", 1, true))
    end)

    it("gives an error answer with a broken JSON body its status and a plain message", function()
      sim.fault{ match = { vendor = "arthur" }, status = 500, body = '{"detail": "half' }
      local _, err = client("arthur"):get_users_me()
      assert.equal(500, err.status)
      assert.equal("HTTP 500", err.message)
      assert.equal('{"detail": "half', err.body)
    end)

    it("reports a response that is not HTTP as a protocol error, and does not resend it", function()
      sim.fault{ match = { vendor = "sigfox" }, malformed = "http" }
      local _, err = client("sigfox", { retries = FAST }):list_api_users()
      assert.equal("protocol", err.kind)
      assert.is_nil(err.status)
      assert.equal(1, count())
    end)

    it("fails with too_large on a body over max_body_bytes, without reading it all or retrying", function()
      sim.fault{ match = { vendor = "kandji" }, huge_bytes = 50000000 }
      local ms, _, err = timed(function()
        return client("kandji", { retries = FAST, max_body_bytes = 100000 }):list_users()
      end)
      assert.equal("too_large", err.kind)
      assert.equal("kandji list_users: too_large (response body larger than max_body_bytes)", tostring(err))
      assert.equal(1, count())
      assert.is_true(ms < 2000, "took " .. ms .. " ms")
    end)

    it("reads a body dripping in slowly when it completes within timeout_ms", function()
      sim.fault{ match = { vendor = "kandji" }, drip_ms = 20, drip_bytes = 400 }
      local page = assert(client("kandji", { timeout_ms = 3000 }):list_users())
      assert.truthy(#page.results > 0)
    end)

    it("gives up on a body dripping past timeout_ms with a timeout error", function()
      sim.fault{ match = { vendor = "kandji" }, drip_ms = 100, drip_bytes = 50 }
      local ms, _, err = timed(function() return client("kandji", { timeout_ms = 400 }):list_users() end)
      assert.equal("timeout", err.kind)
      assert.is_true(ms < 1000, "took " .. ms .. " ms")
    end)
  end)

  describe("Lua misuse of the C core", function()
    local KANDJI = sim.url .. "/kandji/api/v1/users"
    local HEALTH = sim.url .. "/_sim/health"
    local BIG = math.maxinteger or 2 ^ 62

    it("raises an error, never crashes, on wrong arguments to every function", function()
      local s = core.session()
      local m = s:multi()
      local cases = {
        { core.session, 42 }, { core.session, "x" }, { core.session, { timeout_ms = "soon" } },
        { core.session, { timeout_ms = BIG } }, { core.session, { max_body_bytes = -1 } },
        { core.session, { auth = 5 } }, { core.session, { auth = { scheme = {} } } },
        { core.session, { user_agent = {} } }, { core.session, { proxy = "a\nb" } },
        { s.request }, { s.request, s }, { s.request, s, "GET" }, { s.request, "s", {} }, { s.request, m, {} },
        { s.request, s, { method = "GET", url = KANDJI, query = { [{}] = 1 } } },
        { s.request, s, { method = "GET", url = KANDJI, headers = { [1] = "x" } } },
        { s.request, s, { method = "GET", url = KANDJI, body = 5 } },
        { s.request, s, { method = "GET", url = KANDJI, timeout_ms = 1.5 } },
        { s.set_auth, s, 5 }, { s.set_auth, s, { scheme = "basic" } }, { s.set_auth, nil, {} },
        { s.multi }, { s.multi, m }, { s.close, 5 }, { s.close, m },
        { m.add }, { m.add, m }, { m.add, m, 7 }, { m.add, s, {} },
        { m.add, m, { method = "GET", url = KANDJI, sink = print } },
        { m.wait, m, "soon" }, { m.wait, m, {} }, { m.wait, s },
        { m.read, m }, { m.read, m, "x" }, { m.read, m, 99 }, { m.pending }, { m.pending, s }, { m.close, s },
        { core.escape }, { core.escape, {} }, { core.url }, { core.url, "http://h/", 5 },
        { core.url, "http://h/", { [1] = "x" } }, { core.url, "http://h/", { a = print } },
        { core.sleep }, { core.sleep, "x" }, { core.sleep, 0 / 0 }, { core.sleep, math.huge },
        { core.parse_headers }, { core.parse_headers, {} },
      }
      for i, c in ipairs(cases) do
        local ok, err = pcall(c[1], (table.unpack or unpack)(c, 2)) -- luacheck: ignore 113
        assert.is_false(ok, "case " .. i)
        assert.equal("string", type(err), "case " .. i)
      end
      -- odd but valid: a negative sleep, a huge or negative wait, extra arguments
      core.sleep(-1)
      core.sleep(-math.huge)
      assert.same({}, m:wait(BIG))
      assert.same({}, m:wait(-5))
      assert.equal("number", type(core.now("ignored")))
      assert.equal(200, (s:request{ method = "GET", url = HEALTH }))
    end)

    it("refuses a closed session or multi, and closing twice is harmless", function()
      local s = core.session()
      local m = s:multi()
      s:close()
      s:close()
      for _, f in ipairs({ function() s:request{ method = "GET", url = KANDJI } end,
                           function() s:set_auth(nil) end, function() s:multi() end,
                           function() m:add{ method = "GET", url = KANDJI } end }) do
        local ok, err = pcall(f)
        assert.is_false(ok)
        assert.matches("attempt to use a closed session", err)
      end
      assert.same({}, m:wait(10)) -- the multi outlives its session's close
      m:close()
      m:close()
      assert.has_error(function() m:wait(10) end, "userapi.multi: attempt to use a closed multi")
      assert.matches("%(closed%)$", tostring(m))
    end)

    it("survives a session used from a __gc, after close and after its own collection", function()
      local outcomes = {}
      -- a finalizer that uses the session it gets, then closes it
      local function user_of(name, get)
        return function()
          local s = get()
          local ok, err = pcall(s.request, s, { method = "GET", url = "http://127.0.0.1:1/" })
          pcall(s.close, s)
          outcomes[name] = { ok and "ran" or tostring(err), tostring(s) }
        end
      end
      local function guard(f)
        if newproxy then -- luacheck: ignore 113
          local p = newproxy(true) -- luacheck: ignore 113
          getmetatable(p).__gc = f
          return p
        end
        return setmetatable({}, { __gc = f })
      end
      -- in a function of its own, so that no stack slot keeps them alive
      local function litter()
        local closed = core.session()
        closed:close()
        guard(user_of("closed", function() return closed end))
        -- made before its session: the session may well be finalized first
        local holder = {}
        holder.guard = guard(user_of("collected", function() return holder.s end))
        holder.s = core.session()
      end
      litter()
      collectgarbage()
      collectgarbage()
      assert.matches("attempt to use a closed session", outcomes.closed[1])
      assert.matches("%(closed%)$", outcomes.closed[2])
      -- closed by its own __gc first ("attempt to use..."), or still open ("ran")
      assert.truthy(outcomes.collected[1]:find("closed session", 1, true) or outcomes.collected[1] == "ran")
      assert.matches("%(closed%)$", outcomes.collected[2])
      -- the process is fine: a new session works
      assert.equal(200, (core.session():request{ method = "GET", url = HEALTH }))
    end)

    it("propagates an error raised by on_progress mid-bulk and closes every transfer", function()
      local function sockets()
        local pid = io.open("/proc/self/stat"):read("*l"):match("^(%d+)")
        return tonumber(sh("ls -l /proc/" .. pid .. "/fd 2>/dev/null | grep -c 'socket:'"))
      end
      sim.control("POST", "seed", { vendor = "kandji", count = 12 })
      local kandji = client("kandji")
      local ids = {}
      for u in kandji:each_user() do if (u.device_count or 0) == 0 then ids[#ids + 1] = u.id end end
      -- the first answer is quick, the others hang for 2 s
      sim.fault{ { match = { vendor = "kandji" } }, { match = { vendor = "kandji" }, delay_ms = 2000, times = 0 } }
      collectgarbage()
      collectgarbage()
      local before, accepted = sockets(), sim.stats().connections_accepted
      local ms, ok, err = timed(function()
        return pcall(kandji.bulk, kandji, "get_user", ids, { concurrency = 4, on_progress = function(done)
          if done == 1 then error("progress display broke") end
        end })
      end)
      assert.is_false(ok)
      assert.matches("progress display broke", err)
      assert.is_true(ms < 1500, "took " .. ms .. " ms")
      -- three transfers were in flight: their connections are closed, not left to the collector
      assert.is_true(sockets() <= before + 1, "sockets " .. before .. " -> " .. sockets())
      sim.control("DELETE", "faults")
      local res = kandji:bulk("get_user", ids, { concurrency = 4 })
      assert.equal(#ids, res.ok)
      assert.is_true(sim.stats().connections_accepted - accepted <= 8)
    end)
  end)
end)
