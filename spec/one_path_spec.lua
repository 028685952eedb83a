-- The seams of one send path (issue 20 items 1-3, issue 19 items 12-14,
-- 19-22): one attempt for call, walk, bulk and stream; one tenant; one home
-- for secrets; the token's waiters within their deadline; lazy walks;
-- waits the caller does not allow; close during a walk or a bulk run.
local sim = require "spec.helper"
local userapi = require "userapi"
local record = require "userapi.transport.record"

local function ods(extra)
  local opts = { rate_limit = false }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return sim.client("opendatasoft", opts)
end

-- the offsets asked for with this page size (a walk of an earlier test,
-- left with pages in flight, may still be heard from)
local function offsets_sent(limit)
  local out = {}
  for _, r in ipairs(sim.requests()) do
    if tonumber(r.args.limit) == limit then out[#out + 1] = tonumber(r.args.offset) end
  end
  return out
end

describe("one attempt", function()
  before_each(function() sim.reset() end)

  it("waits a read-ahead page's Retry-After on the clock, and counts it as attempt 2", function()
    sim.control("POST", "seed", { vendor = "opendatasoft", count = 600 })
    local total = sim.state("opendatasoft").count
    sim.fault{ match = { vendor = "ods", query = "offset=300" }, status = 503, times = 1,
               headers = { ["Retry-After"] = "1" }, body = '{"message":"busy"}' }
    local clock, events = sim.clock(), {}
    local c = ods{ clock = clock, retries = { max = 2, base_ms = 1 },
                   on_request = function(e) events[#events + 1] = e end }
    local n = 0
    for _ in c:each_user{ limit = 100, concurrency = 8 } do n = n + 1 end
    assert.equal(total, n)
    -- the one wait of the walk: the second the server asked for
    assert.same({ 1000 }, clock.slept)
    local tries = {}
    for _, e in ipairs(events) do
      if e.url:find("offset=300", 1, true) then tries[#tries + 1] = e.attempt .. ":" .. e.status end
    end
    assert.same({ "1:503", "2:200" }, tries)
    -- each exchange says how long it took, on the client's clock
    for _, e in ipairs(events) do assert.is_true(type(e.ms) == "number" and e.ms >= 0, e.url) end
    assert.equal(math.ceil(total / 100) + 1, #sim.requests())
    assert.equal(1, c.retried)
  end)

  it("keeps observe, result and exchange private: a client has no such methods", function()
    local c = ods()
    assert.is_nil(c.observe)
    assert.is_nil(c.result)
    assert.is_nil(c.exchange)
  end)

  it("lets no module outside attempt, auth and client touch the token or budget fields", function()
    local allowed = { ["attempt.lua"] = true, ["auth.lua"] = true, ["client.lua"] = true }
    -- a client's token and budget state, as a reader elsewhere would name it
    local fields = { "token_provider", "token_expires", "token_forms", "fixed_secrets",
                     "renewing", "session_opts", "transport_module" }
    local owner = { "client", "self%.client", "c" }
    local owned = { "limiter", "auth", "token", "retried" }
    local files = sim.sh("cd " .. sim.root .. " && find lua/userapi -name '*.lua' | sort")
    local offenders = {}
    for path in files:gmatch("[^\n]+") do
      local name = path:match("[^/]+$")
      if not allowed[name] and not path:find("/store/", 1, true) and name ~= "limiter.lua" then
        local f = assert(io.open(sim.root .. "/" .. path))
        local n = 0
        for line in f:lines() do
          n = n + 1
          local code = line:gsub("%-%-.*$", "")
          for _, k in ipairs(fields) do
            if code:find("%f[%w_]" .. k .. "%f[^%w_]") then offenders[#offenders + 1] = path .. ":" .. n end
          end
          for _, o in ipairs(owner) do
            for _, k in ipairs(owned) do
              if code:find("%f[%w_]" .. o .. "[%.:]" .. k .. "%f[^%w_]") then
                offenders[#offenders + 1] = path .. ":" .. n
              end
            end
          end
        end
        f:close()
      end
    end
    assert.same({}, offenders)
  end)
end)

describe("one tenant", function()
  before_each(function() sim.reset() end)

  it("names the vendor, the base URL and the credential's fingerprint, the same for the same credential", function()
    local staging = sim.client("kandji", { token = "kandji-staging-token" })
    local again = sim.client("kandji", { token = "kandji-staging-token" })
    local prod = sim.client("kandji", { token = "kandji-production-token" })
    local t = staging:tenant()
    assert.equal("kandji", t.vendor)
    assert.equal(sim.base.kandji, t.base_url)
    assert.matches("^%x+$", t.fingerprint)
    assert.equal(32, #t.fingerprint)
    assert.equal("kandji:" .. t.fingerprint, t.key)
    assert.equal(t.key, again:tenant().key)
    assert.not_equal(t.key, prod:tenant().key)
    -- never the secret itself
    assert.is_nil(t.key:find("staging", 1, true))
    assert.has_error(function() t.base_url = "https://elsewhere" end, "userapi: a tenant is read-only")
    assert.equal(sim.base.kandji, staging:tenant().base_url)
  end)
end)

describe("one home for secrets", function()
  before_each(function() sim.reset() end)

  it("redacts a password sent in a body (Arthur post_organization_user) in errors and dry runs", function()
    local PW = "Corr3ct-Horse-Battery"
    local c = sim.client("arthur")
    sim.fault{ match = { vendor = "arthur" }, status = 400,
               body = '{"detail":"password Corr3ct-Horse-Battery is too weak"}' }
    local res, err = c:post_organization_user{ first_name = "Ada", email = "ada@example.com", password = PW }
    assert.is_nil(res)
    assert.equal("password [REDACTED] is too weak", err.message)
    assert.is_nil(tostring(err):find(PW, 1, true))
    assert.is_nil(err.body:find(PW, 1, true))
    -- Ansible's msg and vendor_message are tostring(err) and err.message; a diff goes through the same list
    assert.same({ password = "[REDACTED]", email = "ada@example.com" },
                c.secrets:redact_value{ password = PW, email = "ada@example.com" })
    -- the dry run prints the body through the client's secrets
    local sent = {}
    local dry = userapi.arthur{ base_url = sim.base.arthur, access_token = "arthur-test-token",
                                transport = record.module(sent), rate_limit = false }
    dry:post_organization_user{ first_name = "Ada", email = "ada@example.com", password = PW }
    local text = record.describe(sent[1], dry.secrets)
    assert.is_nil(text:find(PW, 1, true))
    assert.truthy(text:find('"password":"[REDACTED]"', 1, true))
  end)
end)

describe("secrets in a bulk of creates", function()
  before_each(function() sim.reset() end)

  it("redacts each item's own password in its error, however many items came after it", function()
    local c = sim.client("arthur", { rate_limit = false })
    local items, pw = {}, {}
    for i = 1, 40 do
      pw[i] = ("Pass-%02d-Secret-Value"):format(i)
      items[i] = { { first_name = "U" .. i, email = ("u%02d@example.com"):format(i), password = pw[i] } }
    end
    local sent = {}
    local dry = userapi.arthur{ base_url = sim.base.arthur, access_token = "arthur-test-token",
                                transport = record.module(sent), rate_limit = false }
    dry:bulk("post_organization_user", items)
    for i = 1, 40 do
      assert.is_nil(record.describe(sent[i], dry.secrets):find(pw[i], 1, true), "dry run item " .. i)
    end
    -- a vendor quoting the password it refuses; one at a time, item i meets fault i
    for i = 1, 40 do
      sim.fault{ match = { vendor = "arthur" }, status = 400, times = 1,
                 body = '{"detail":"' .. pw[i] .. ' is too weak"}' }
    end
    local res = c:bulk("post_organization_user", items, { concurrency = 1 })
    assert.equal(40, res.failed)
    for i = 1, 40 do
      assert.equal("[REDACTED] is too weak", res[i].err.message, "item " .. i)
    end
  end)
end)

describe("tokens", function()
  before_each(function() sim.reset() end)

  it("renews a 3 s token a tenth of its life before expiry, not on every request", function()
    local fetched = 0
    local clock = sim.clock()
    local c = userapi.arthur{ base_url = sim.base.arthur, rate_limit = false, retries = false, clock = clock,
      token = function()
        fetched = fetched + 1
        return "arthur-test-token", 3
      end }
    for _ = 1, 201 do
      assert(c:get_users_me())
      clock.advance(10)
    end
    -- 2.01 s of requests: one token (used until 2.7 s)
    assert.equal(1, fetched)
    clock.advance(700)
    assert(c:get_users_me())
    assert.equal(2, fetched)
  end)

  it("gives up waiting for another request's renewal within its own deadline (timeout_ms)", function()
    local clock = sim.clock()
    local c = userapi.arthur{ base_url = sim.base.arthur, rate_limit = false, retries = false, clock = clock,
      timeout_ms = 2000,
      -- a renewer that never comes back (a killed light thread)
      token = function() coroutine.yield() return "arthur-test-token", 3600 end }
    local renewer = coroutine.create(function() return c:get_users_me() end)
    assert(coroutine.resume(renewer))
    local res, err = c:get_users_me()
    assert.is_nil(res)
    assert.same({ "token", "timeout", true }, { err.operation, err.kind, err.retryable })
    assert.is_true(clock.total() <= 2000, "waited " .. clock.total() .. " ms")
    assert.is_true(clock.total() >= 1990, "waited " .. clock.total() .. " ms")
    assert.same({}, sim.requests())
  end)
end)

describe("a renewer that died, on a shared Redis store", function()
  local server
  setup(function() server = require("spec.budget.redis").start() end)
  teardown(function() server.stop() end)
  before_each(function() sim.reset() end)

  it("does not stall a waiter past its own deadline", function()
    local clock = sim.clock()
    local c = userapi.arthur{ base_url = sim.base.arthur, client_id = "arthur-client", client_secret = "arthur-secret",
                              store = server.url, clock = clock, timeout_ms = 1500, rate_limit = false,
                              retries = false }
    -- another worker took the renewal lock and was killed: the lock outlives it
    local store = c.limiter.store
    assert(store:call("set", store:key(c.limiter.key, "renewing"), "1", "PX", 30000))
    local res, err = c:get_users_me()
    assert.is_nil(res)
    assert.same({ "token", "timeout" }, { err.operation, err.kind })
    assert.is_true(clock.total() <= 1500, "waited " .. clock.total() .. " ms")
    assert.is_true(clock.total() >= 1490, "waited " .. clock.total() .. " ms")
    -- nothing went out for it: no token request, no call
    assert.same({}, sim.requests())
  end)

  it("keeps the Redis password among the client's secrets, decoded and as written", function()
    local c = sim.client("kandji", { store = server.url, rate_limit = false })
    sim.fault{ match = { vendor = "kandji" }, status = 400,
               body = '{"message":"echo ' .. server.password .. ' and ' .. server.escaped .. '"}' }
    local _, err = c:list_users()
    assert.equal("echo [REDACTED] and [REDACTED]", err.message)
  end)
end)

describe("walks", function()
  before_each(function() sim.reset() end)

  for _, concurrency in ipairs{ 4, 64 } do
    it("send the first page alone: a walk left after its first user sent one request (concurrency "
       .. concurrency .. ")", function()
      sim.control("POST", "seed", { vendor = "opendatasoft", count = 2000 })
      local c = ods()
      local limit = 20 + concurrency
      local next_user = c:each_user{ limit = limit, concurrency = concurrency }
      assert.truthy(next_user())
      assert.same({ 0 }, offsets_sent(limit))
      -- moving past the first page starts the read-ahead
      for _ = 1, limit do assert.truthy(next_user()) end
      assert.is_true(#offsets_sent(limit) > 2)
      c:close()
    end)
  end

  it("hold no more pages ahead than max_buffer_bytes allows, whatever the concurrency", function()
    sim.control("POST", "seed", { vendor = "opendatasoft", count = 600 })
    local answered = 0
    local c = ods{ on_request = function() answered = answered + 1 end }
    local pages = 0
    -- one byte: one page ahead at most
    for i, page in c:pages{ limit = 20, concurrency = 64, max_buffer_bytes = 1 } do
      assert.truthy(page)
      pages = i
      assert.is_true(answered <= i + 1, answered .. " requests answered when page " .. i .. " is read")
    end
    assert.equal(math.ceil(sim.state("opendatasoft").count / 20), pages)
  end)

  it("end with kind = closed, never a raise, when the client is closed during the walk", function()
    sim.control("POST", "seed", { vendor = "opendatasoft", count = 600 })
    for _, concurrency in ipairs{ 1, 8 } do
      local c = ods()
      local iter = c:pages{ limit = 20, concurrency = concurrency }
      assert.truthy(select(2, iter()))
      assert.truthy(select(2, iter()))
      c:close()
      local i, page, err = iter()
      assert.equal(3, i)
      assert.is_nil(page)
      assert.same({ "closed", "get_users" }, { err.kind, err.operation })
      assert.is_nil(iter())
    end
  end)
end)

describe("waits the caller does not allow", function()
  before_each(function() sim.reset() end)

  it("fail at once with kind rate_limited when the quota resets in an hour (Kandji)", function()
    sim.fault{ match = { vendor = "kandji" }, status = 429, times = 0,
               headers = { ["RateLimit-Reset"] = "3600", ["RateLimit-Remaining"] = "0" } }
    local clock = sim.clock()
    local c = sim.client("kandji", { clock = clock, rate_limit = false, log = false, retries = { max = 3 } })
    local res, err = c:list_users()
    assert.is_nil(res)
    assert.same({ "rate_limited", 429, 3600, 1 }, { err.kind, err.status, err.retry_after, err.attempts })
    local sent = 0
    for _, r in ipairs(sim.requests()) do if r.op == "list_users" then sent = sent + 1 end end
    assert.equal(1, sent)
    assert.equal(0, clock.total())
  end)

  it("fail at once when the wait would pass retries.deadline_ms", function()
    sim.fault{ match = { vendor = "sigfox" }, status = 503, times = 0, headers = { ["Retry-After"] = "5" } }
    local clock = sim.clock()
    local c = sim.client("sigfox", { clock = clock, retries = { max = 3, deadline_ms = 3000 }, rate_limit = false })
    local _, err = c:list_api_users()
    assert.same({ "rate_limited", 5, 1 }, { err.kind, err.retry_after, err.attempts })
    assert.equal(0, clock.total())
  end)

  it("say after retries how many attempts were made", function()
    sim.fault{ match = { vendor = "sigfox" }, status = 502, times = 0 }
    local c = sim.client("sigfox", { clock = sim.clock(), retries = { max = 3, base_ms = 1 }, rate_limit = false })
    local _, err = c:list_api_users()
    assert.equal(4, err.attempts)
    assert.matches("%(after 4 attempts%)$", tostring(err))
  end)
end)

describe("bulk", function()
  before_each(function() sim.reset() end)

  it("ends cleanly when the client is closed during the run: the rest fail with kind = closed", function()
    local ids = {}
    for i = 1, 20 do ids[i] = "69c009ca-1f78-4bdf-bb93-08d6d39041db" end
    local c = sim.client("kandji", { rate_limit = false })
    local res = c:bulk("get_user", ids, { concurrency = 2,
      on_result = function(i) if i == 1 then c:close() end end })
    assert.equal(20, #res)
    assert.is_true(res[1].ok)
    assert.equal(20, res.ok + res.failed)
    assert.is_true(res.failed > 0)
    for i = 2, 20 do
      if not res[i].ok then assert.equal("closed", res[i].err.kind) end
    end
    assert.is_true(#sim.requests() < 20)
  end)
end)
