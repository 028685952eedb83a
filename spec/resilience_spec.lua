-- Resilience and security, proven against the simulator's fault injection:
-- retries and waits, rate limits, every transport fault, what the vendor
-- ends up applying, TLS, redirects, hostile input, secrets, and Lua misuse
-- of the C core.
local sim = require "spec.helper"
local sh = sim.sh
local core = require "userapi.core"
local userapi = require "userapi"
local retry = require "userapi.retry"

local SIGFOX_LIST = "/sigfox/v2/api-users/"
local SIGFOX_NEW = { groupId = "babecafebabecafebabedcef", name = "Resilience", timezone = "Europe/Paris",
                     profileIds = { "5138e7dfa2f1fffaf25fd409" } }
local KANDJI_ADA = "69c009ca-1f78-4bdf-bb93-08d6d39041db"    -- no devices: deletable
local ARTHUR_ADA = "00000000-0000-4000-8000-000000000002"
local FAST = { max = 3, base_ms = 5, max_ms = 20 }            -- retries that cost no time
local QUICK = { max = 3, base_ms = 5 }                        -- the same, a server-asked wait honoured

-- A client on the simulator with the client-side rate limit off.
local function client(vendor, extra)
  local o = { rate_limit = false }
  for k, v in pairs(extra or {}) do o[k] = v end
  return sim.client(vendor, o)
end

local function count() return #sim.requests() end
local function applied(vendor, op) return sim.state(vendor).applied[op] or 0 end

-- Milliseconds f takes, and what it returns.
local function timed(f)
  local t0 = core.now()
  local a, b = f()
  return core.now() - t0, a, b
end

-- on_request events, collected.
local function recorder()
  local events = {}
  return events, function(e) events[#events + 1] = e end
end

-- Everything reachable from v as one string, to grep for secrets.
local function dump(v, seen)
  if type(v) ~= "table" then return tostring(v) end
  seen = seen or {}
  if seen[v] then return "" end
  seen[v] = true
  local parts = { tostring(v) }
  for k, x in pairs(v) do parts[#parts + 1] = dump(k, seen) .. "=" .. dump(x, seen) end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function base64(s)
  local tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  return ((s:gsub(".", function(c)
    local b, bits = c:byte(), ""
    for i = 8, 1, -1 do bits = bits .. (math.floor(b / 2 ^ (i - 1)) % 2) end
    return bits
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local n = 0
    for i = 1, 6 do n = n * 2 + (x:sub(i, i) == "1" and 1 or 0) end
    return tab:sub(n + 1, n + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end

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

    it("caps a server-asked wait at max_ms", function()
      sim.fault{ match = { vendor = "sigfox" }, status = 503, headers = { ["Retry-After"] = "30" } }
      local clock = sim.clock()
      assert.truthy(client("sigfox", { retries = { max = 1, max_ms = 200 }, clock = clock }):list_api_users())
      assert.same({ 200 }, clock.slept)
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

    it("stays under rate_limit.per_second: 10 calls at 5 per second take a second", function()
      local clock = sim.clock()
      local c = client("sigfox", { rate_limit = { per_second = 5 }, clock = clock })
      for _ = 1, 10 do assert(c:list_api_users()) end
      assert.equal(1000, clock.total())
    end)

    it("keeps a Kandji client under Kandji's 50 per second by default", function()
      local clock = sim.clock()
      local kandji = sim.client("kandji", { clock = clock })
      for _ = 1, 55 do assert(kandji:get_user(KANDJI_ADA)) end
      assert.equal(1000, clock.total())
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

  describe("security", function()
    it("refuses plain http to a host that is not loopback unless allow_insecure = true", function()
      local function make(url, insecure)
        return pcall(userapi.kandji, { base_url = url, token = "t-123", allow_insecure = insecure })
      end
      for _, url in ipairs({ "http://kandji.example.com", "http://127.0.0.1.example.com/api",
                             "http://localhost.example.com", "http://10.0.0.1:8080" }) do
        local ok, err = make(url)
        assert.is_false(ok, url)
        assert.matches("refusing plain http", err)
        assert.is_true((make(url, true)), url)
      end
      for _, url in ipairs({ "https://kandji.example.com", "http://127.0.0.1:8080", "http://127.1.2.3",
                             "http://localhost:80/x", "http://[::1]:8089" }) do
        assert.is_true((make(url)), url)
      end
    end)

    it("refuses a base_url with user:password@, which would hide the real host", function()
      for _, url in ipairs({ "http://127.0.0.1:80@elsewhere.example/", "https://user:hunter22@kandji.example.com" }) do
        local ok, err = pcall(userapi.kandji, { base_url = url, token = "t-123", allow_insecure = true })
        assert.is_false(ok, url)
        assert.matches("must not contain user:password@", err)
        assert.is_nil(err:find("hunter22", 1, true))
        assert.is_nil(err:find("elsewhere", 1, true))
      end
    end)

    it("fails to connect over https to a closed port with a connect error", function()
      local _, err = userapi.kandji{ base_url = "https://127.0.0.1:1", token = "t-123", retries = false }:list_users()
      assert.equal("connect", err.kind)
    end)

    it("never succeeds speaking https to the simulator's plain http port", function()
      local c = userapi.kandji{ base_url = sim.url:gsub("^http:", "https:") .. "/kandji", token = "kandji-test-token",
                                retries = false, connect_timeout_ms = 500, timeout_ms = 1000 }
      local res, err = c:list_users()
      assert.is_nil(res)
      assert.truthy(({ tls = true, timeout = true, recv = true, protocol = true })[err.kind], err.kind)
    end)

    describe("against an https server with its own certificate", function()
      local dir, pid, port
      setup(function()
        dir = sh("mktemp -d /tmp/userapi-tls.XXXXXX")
        sh(("env -u LD_PRELOAD openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
          .. " -subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout %s/key.pem -out %s/cert.pem 2>&1")
          :format(dir, dir))
        local root = debug.getinfo(1, "S").source:match("^@(.*)/spec/resilience_spec%.lua$") or "."
        pid = sh(("env -u LD_PRELOAD lua5.4 %s/spec/tls_server.lua %s/cert.pem %s/key.pem %s/port"
          .. " >%s/log 2>&1 & echo $!"):format(root, dir, dir, dir, dir))
        for _ = 1, 200 do
          local f = io.open(dir .. "/port")
          if f then port = f:read("*n") f:close() end
          if port then break end
          core.sleep(25)
        end
        assert(port, "tls server did not start: " .. sh("cat " .. dir .. "/log"))
      end)
      teardown(function()
        if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
        if dir then os.execute("rm -rf " .. dir) end
      end)

      local function get(host, extra)
        local o = { base_url = ("https://%s:%d"):format(host, port), token = "t-123", retries = false,
                    rate_limit = false, timeout_ms = 3000 }
        for k, v in pairs(extra or {}) do o[k] = v end
        return userapi.kandji(o):get_user("u1")
      end

      it("verifies the certificate by default and refuses one it cannot trust", function()
        local res, err = get("localhost")
        assert.is_nil(res)
        assert.equal("tls", err.kind)
      end)

      it("trusts the certificate through ca_file, for the name it was issued to only", function()
        assert.same({ tls = true }, assert(get("localhost", { ca_file = dir .. "/cert.pem" })))
        local _, err = get("127.0.0.1", { ca_file = dir .. "/cert.pem" })
        assert.equal("tls", err.kind)
      end)

      it("accepts any certificate only with verify_tls = false", function()
        assert.same({ tls = true }, assert(get("127.0.0.1", { verify_tls = false })))
      end)
    end)

    it("does not follow a redirect: the 302 comes back as an error and the vendor saw one request", function()
      sim.fault{ match = { vendor = "sigfox" }, status = 302, body = "",
                 headers = { Location = "http://127.0.0.2:9/steal-credentials" } }
      local _, err = client("sigfox", { retries = FAST }):list_api_users()
      assert.equal(302, err.status)
      assert.equal("http://127.0.0.2:9/steal-credentials", err.headers.location)
      assert.equal(1, err.attempts)
      assert.equal(1, count())
    end)

    it("refuses path parameters that could leave their segment, sending nothing", function()
      local kandji = client("kandji")
      for _, id in ipairs({ "../admin", "..", ".", "a/b", "%2F", "a%2Fb", "..%2F..", "a?b=1", "a#b", "a\r\nb",
                            "a\0b", "" }) do
        local ok, err = pcall(kandji.get_user, kandji, id)
        assert.is_false(ok, id)
        assert.matches("^bad argument #1 to 'get_user' %(user_id: ", err)
      end
      assert.has_error(function() kandji:list_users{ email = "a\r\nX-Injected: 1" } end)
      assert.same({}, sim.requests())
      -- what is allowed stays inside its segment
      kandji:get_user("a b é~")
      assert.equal("/kandji/api/v1/users/a%20b%20%C3%A9~", sim.last_request().path)
    end)

    describe("secrets", function()
      -- distinctive wrong credentials, with bytes that change when encoded
      local S = {
        ods = "ods-WRONG-key+/=4711",
        arthur_token = "arthur-WRONG-token-4712",
        arthur_secret = "arthur-WRONG-secret&=4713",
        kandji = "kandji-WRONG-token-4714",
        sigfox = "sigfox-WRONG-pass:@4715",
      }

      -- every form a secret travels in: as is, percent-encoded, in Basic auth
      local function forms()
        local f = {}
        for name, s in pairs(S) do
          f[name] = s
          f[name .. " (escaped)"] = core.escape(s)
        end
        f["sigfox (basic)"] = base64("sigfox-login:" .. S.sigfox)
        f["arthur client (basic)"] = base64("arthur-client:" .. S.arthur_secret)
        return f
      end

      it("appear nowhere in what failing calls of the four vendors return or report", function()
        local seen, events, hook = {}, recorder()
        local function keep(...) for i = 1, select("#", ...) do seen[#seen + 1] = dump((select(i, ...))) end end
        local printed = {}
        local print0, write0 = print, io.write
        print = function(...) printed[#printed + 1] = dump({ ... }) end -- luacheck: ignore 121
        io.write = function(...) printed[#printed + 1] = dump({ ... }) end -- luacheck: ignore 122
        local ok, failure = pcall(function()
          local base = { rate_limit = false, retries = FAST, on_request = hook }
          local function with(t) for k, v in pairs(base) do t[k] = v end return t end
          local clients = {
            userapi.opendatasoft(with{ base_url = sim.base.opendatasoft, apikey = S.ods }),
            userapi.opendatasoft(with{ base_url = sim.base.opendatasoft, apikey = S.ods, apikey_in = "query" }),
            userapi.arthur(with{ base_url = sim.base.arthur, access_token = S.arthur_token }),
            userapi.arthur(with{ base_url = sim.base.arthur, client_id = "arthur-client",
                                 client_secret = S.arthur_secret }),
            userapi.kandji(with{ base_url = sim.base.kandji, token = S.kandji }),
            userapi.sigfox(with{ base_url = sim.base.sigfox, login = "sigfox-login", password = S.sigfox }),
          }
          local calls = {
            function(c) return c:get_users{ limit = 1 } end,
            function(c) return c:get_users{ limit = 1 } end,
            function(c) return c:get_users_me() end,
            function(c) return c:get_users_me() end,
            function(c) return c:list_users() end,
            function(c) return c:list_api_users() end,
          }
          for i, c in ipairs(clients) do
            local res, err = calls[i](c)
            assert.is_nil(res)
            assert.truthy(err.status == 401 or err.status == 403, tostring(err))
            keep(err, tostring(err), err.message, err.body, err.headers)
          end
          -- vendors that echo the request back in their error bodies
          local echoes = {
            { 1, "ods", '{"error_code":"bad_request","message":"Bad key ' .. S.ods .. '"}' },
            { 2, "ods", '{"error_code":"bad_request","message":"Bad query limit=1&apikey='
                                 .. core.escape(S.ods) .. '"}' },
            { 3, "arthur", '{"detail":"token ' .. S.arthur_token .. ' is not valid"}' },
            { 5, "kandji", '{"detail":"Invalid token ' .. S.kandji .. '."}' },
            { 6, "sigfox", '{"message":"bad password ' .. S.sigfox .. '"}' },
          }
          for _, e in ipairs(echoes) do
            sim.fault{ match = { vendor = e[2] }, status = 400, body = e[3] }
            local res, err = calls[e[1]](clients[e[1]])
            assert.is_nil(res)
            assert.equal(400, err.status)
            assert.truthy(err.message:find("[REDACTED]", 1, true), err.message)
            keep(err, tostring(err), err.message, err.body)
          end
          sim.fault{ match = { path = "/arthur/oidc/token" }, status = 400,
                     body = '{"error":"invalid_request","error_description":"client_secret='
                            .. core.escape(S.arthur_secret) .. ' refused"}' }
          local c = userapi.arthur(with{ base_url = sim.base.arthur, client_id = "arthur-client",
                                         client_secret = S.arthur_secret })
          local _, err = c:get_users_me()
          keep(err, tostring(err), err.message, err.body)
          -- transport failures too
          for _, o in ipairs({ { base_url = "http://127.0.0.1:1", apikey = S.ods, apikey_in = "query" },
                               { base_url = "http://127.0.0.1:1", apikey = S.ods } }) do
            local res2, err2 = userapi.opendatasoft(with(o)):get_users()
            assert.is_nil(res2)
            keep(err2, tostring(err2))
          end
        end)
        print, io.write = print0, write0 -- luacheck: ignore 121 122
        assert(ok, failure)
        keep(events, printed)
        assert.truthy(#events >= 10)
        local everything = table.concat(seen, "\n")
        for name, s in pairs(forms()) do
          assert.is_nil(everything:find(s, 1, true), name .. " leaked")
        end
      end)

      it("keeps the client secret redacted after many token renewals", function()
        sim.config{ arthur_token_ttl = 1 } -- within the 30 s leeway: a new token for every call
        local c = userapi.arthur{ base_url = sim.base.arthur, client_id = "arthur-client",
                                  client_secret = "arthur-secret", rate_limit = false, retries = false }
        for _ = 1, 20 do assert(c:get_users_me()) end
        assert.equal(20, sim.state("arthur").tokens_issued)
        sim.fault{ match = { path = "/arthur/api/v1/users/me" }, status = 400,
                   body = '{"detail":"configured with arthur-secret"}' }
        local _, err = c:get_users_me()
        assert.equal("configured with [REDACTED]", err.message)
        assert.is_nil(err.body:find("arthur-secret", 1, true))
      end)
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
