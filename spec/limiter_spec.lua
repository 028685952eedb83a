-- The client-side rate limit, measured where it matters: the times at which
-- the simulator received the requests.
local userapi = require "userapi"
local sim = require "spec.helper"
local budget = require "spec.budget.common"

local ADA = "69c009ca-1f78-4bdf-bb93-08d6d39041db"

local function kandji(extra)
  local opts = { rate_limit = { per_second = 10 } }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return sim.client("kandji", opts)
end

local function ids(n)
  local t = {}
  for i = 1, n do t[i] = ADA end
  return t
end

describe("the rate limiter", function()
  before_each(function() sim.reset() end)

  for _, concurrency in ipairs{ 1, 16, 64 } do
    it("lets bulk at concurrency " .. concurrency .. " put at most per_second requests in any 1 s window", function()
      -- two windows' worth and one more, where waiters on one slot used to wake together
      local n = concurrency == 1 and 11 or 21
      local res = kandji():bulk("get_user", ids(n), { concurrency = concurrency })
      assert.equal(n, res.ok)
      local times = budget.times(sim.requests())
      assert.equal(n, #times)
      assert.is_true(budget.busiest(times, 1.0) <= 10, "busiest second: " .. budget.busiest(times, 1.0))
      -- and it does not crawl: at 10/s each window after the first takes 1.05 s, not much more
      local expected = (n - 1) / 10 * 1.05
      assert.is_true(times[#times] - times[1] < expected + 0.4, "took " .. (times[#times] - times[1]) .. " s")
    end)
  end

  it("keeps calls one after another under per_second", function()
    local c = kandji()
    for _ = 1, 11 do assert(c:get_user(ADA)) end
    local times = budget.times(sim.requests())
    assert.is_true(budget.busiest(times, 1.0) <= 10, "busiest second: " .. budget.busiest(times, 1.0))
  end)

  it("reserves per_hour slots too: the fourth of 3 per hour is an hour away, and no request is sent", function()
    local c = kandji{ rate_limit = { per_hour = 3 } }
    for _ = 1, 3 do assert.equal(0, c.limiter:reserve()) end
    local wait = c.limiter:reserve()
    assert.is_true(wait >= 3600000 and wait <= 3600000 * 1.06, "waits " .. wait .. " ms")
    assert.same({}, sim.requests())
  end)

  it("reports throttle waits through log: vendor and wait, once a second at most, never the token", function()
    local lines = {}
    local c = kandji{ rate_limit = { per_second = 2 }, log = function(msg) lines[#lines + 1] = msg end }
    for _ = 1, 3 do assert(c:get_user(ADA)) end
    assert.equal(1, #lines)
    assert.matches("^userapi%.kandji: client%-side rate limit: waiting %d+ ms before get_user", lines[1])
    assert.is_nil(lines[1]:find("kandji-test-token", 1, true))
  end)

  it("refuses a bad rate_limit", function()
    assert.has_error(function() kandji{ rate_limit = { per_minute = 5 } } end,
      "userapi.kandji: unknown rate_limit field 'per_minute'")
    assert.has_error(function() kandji{ rate_limit = { per_second = 0 } } end,
      "userapi.kandji: rate_limit.per_second must be a positive integer")
  end)

  it("ignores shared_dict outside nginx and refuses one that is not a name", function()
    assert(kandji{ shared_dict = "userapi" }:get_user(ADA))
    assert.has_error(function() kandji{ shared_dict = 5 } end,
      "userapi.kandji: shared_dict must be the name of a lua_shared_dict or false")
  end)
end)

describe("the tenant fingerprint", function()
  local fingerprint = require "userapi.store.fingerprint"

  it("is SHA-256 (the FIPS 180-2 vectors) on both Luas", function()
    assert.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", fingerprint.sha256("abc"))
    assert.equal("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
      fingerprint.sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))
  end)

  it("names the vendor, never the secret, and differs per credential and per base URL", function()
    local a = fingerprint.tenant("kandji", "https://a.example", { "token=kandji-test-token" })
    assert.matches("^kandji:%x+$", a)
    assert.is_nil(a:find("kandji-test-token", 1, true))
    assert.not_equal(a, fingerprint.tenant("kandji", "https://a.example", { "token=other" }))
    assert.not_equal(a, fingerprint.tenant("kandji", "https://b.example", { "token=kandji-test-token" }))
  end)
end)

describe("token renewal in plain Lua", function()
  before_each(function() sim.reset() end)

  it("makes 1 discovery and 1 token fetch for 64 concurrent first requests (bulk)", function()
    local c = userapi.arthur{ base_url = sim.base.arthur, client_id = "arthur-client",
                              client_secret = "arthur-secret", retries = false }
    local res = c:bulk("get_users_me", budget.empty_items(64), { concurrency = 64 })
    assert.equal(64, res.ok)
    local counts = budget.count_paths(sim.requests())
    assert.equal(1, counts["/arthur/api/v1/auth/oidc/.well-known/openid-configuration"])
    assert.equal(1, counts["/arthur/oidc/token"])
  end)
end)
