-- The one retry loop (retry.decide) as both paths use it: a call's exchange
-- and bulk. The same answers give the same decisions, the same reports and
-- the same errors, whichever path sent the request.
local sim = require "spec.helper"
local userapi = require "userapi"

local FAST = { max = 3, base_ms = 1, max_ms = 2 }

describe("one retry loop", function()
  before_each(function() sim.reset() end)

  -- an Arthur client whose token provider works once, then fails
  local function sealed_vault()
    local calls = 0
    return userapi.arthur{ base_url = sim.base.arthur, retries = false, rate_limit = false,
      token = function()
        calls = calls + 1
        if calls == 1 then return "arthur-test-token", 3600 end
        return nil, "vault is sealed"
      end }
  end

  it("returns a failed token renewal as the token call's own error from a call and from bulk", function()
    local c = sealed_vault()
    assert.truthy(c:get_users_me())
    sim.fault{ match = { vendor = "arthur" }, status = 401, times = 0 }
    local _, from_call = c:get_users_me()
    sim.reset()
    c = sealed_vault()
    assert.truthy(c:get_users_me())
    sim.fault{ match = { vendor = "arthur" }, status = 401, times = 0 }
    local res = c:bulk("get_users_me", { {}, {} })
    assert.same({ 0, 2 }, { res.ok, res.failed })
    local from_bulk = res[1].err
    for _, err in ipairs({ from_call, from_bulk }) do
      assert.same({ "arthur", "token", "auth", "vault is sealed" },
                  { err.vendor, err.operation, err.kind, err.message })
      assert.equal("arthur token: auth (vault is sealed)", tostring(err))
    end
  end)

  it("reports each retry wait through log, from a call and from bulk, with no secret", function()
    local lines = {}
    local kandji = sim.client("kandji", { retries = FAST, rate_limit = false,
                                          log = function(msg) lines[#lines + 1] = msg end })
    sim.fault{ match = { vendor = "kandji" }, status = 503, times = 2 }
    assert.truthy(kandji:list_users())
    -- Retry-After 0: a wait the policy allows (Kandji's hourly RateLimit-Reset would not be)
    sim.fault{ match = { vendor = "kandji" }, status = 429, times = 1, headers = { ["Retry-After"] = "0" } }
    local res = kandji:bulk("get_user", { "69c009ca-1f78-4bdf-bb93-08d6d39041db" })
    assert.equal(1, res.ok)
    assert.equal(3, #lines)
    -- the tenant named as everywhere: vendor@host#fingerprint
    local label = kandji:tenant().label
    assert.matches("^kandji@127%.0%.0%.1:%d+#%x%x%x%x%x%x%x%x$", label)
    local head = "^userapi " .. label:gsub("%p", "%%%0")
    assert.matches(head .. " list_users: status 503, retry 1 of 3 in %d+ ms$", lines[1])
    assert.matches(head .. " list_users: status 503, retry 2 of 3 in %d+ ms$", lines[2])
    assert.matches(head .. " get_user: status 429, retry 1 of 3 in %d+ ms$", lines[3])
    for _, l in ipairs(lines) do assert.is_nil(l:find("kandji-test-token", 1, true)) end
  end)

  it("stays silent with log = false", function()
    local kandji = sim.client("kandji", { retries = FAST, rate_limit = false, log = false })
    sim.fault{ match = { vendor = "kandji" }, status = 503, times = 1 }
    assert.truthy(kandji:list_users())
    assert.equal(2, #sim.requests())
  end)

  it("keeps one list of what is retryable: err.retryable agrees with what the loop retries", function()
    local retry = require "userapi.retry"
    for _, status in ipairs({ 400, 401, 404, 408, 429, 500, 502, 503, 504 }) do
      sim.reset()
      local kandji = sim.client("kandji", { retries = FAST, rate_limit = false, log = false })
      sim.fault{ match = { vendor = "kandji" }, status = status, times = 0, headers = { ["Retry-After"] = "0" } }
      local _, err = kandji:list_users()
      assert.equal(retry.retryable(status), err.retryable, status)
      assert.equal(err.retryable and 4 or 1, err.attempts, status)
    end
  end)
end)
