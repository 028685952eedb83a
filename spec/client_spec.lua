-- The generic caller, across vendors: building without sending, closing,
-- and the argument checks that no vendor table spells out.
local sim = require "spec.helper"

describe("client", function()
  before_each(function() sim.reset() end)

  it("builds the request an operation would send, without sending it", function()
    local sigfox = sim.client("sigfox")
    local req = sigfox:build("list_api_users", { group_ids = { "g1", "g2" }, limit = 10 })
    assert.equal("GET", req.method)
    assert.equal(sim.base.sigfox .. "/api-users/", req.url)
    assert.same({ groupIds = "g1,g2", limit = 10 }, req.query)
    assert.same({}, sim.requests())
  end)

  it("refuses a comma inside an item of a comma-joined list: it would become two items", function()
    local sigfox = sim.client("sigfox")
    assert.has_error(function() sigfox:list_api_users{ group_ids = { "g1,g2" } } end,
      "bad argument #1 to 'list_api_users' (group_ids: item 1 contains ',')")
    assert.same({}, sim.requests())
  end)

  it("refuses integers a double cannot hold exactly", function()
    local ods = sim.client("opendatasoft")
    assert.has_error(function() ods:get_users{ offset = 2 ^ 60 } end)
    assert.has_error(function() ods:get_users{ offset = math.huge } end)
    assert.same({}, sim.requests())
  end)

  it("closes its connections and opens new ones on the next call", function()
    local kandji = sim.client("kandji", { rate_limit = false })
    assert.truthy(kandji:list_users())
    local before = sim.stats().connections_accepted
    kandji:close()
    assert.truthy(kandji:list_users())
    assert.truthy(kandji:list_users())
    assert.equal(before + 1, sim.stats().connections_accepted)
  end)

  it("gets a fresh token after close when it renews its own", function()
    local arthur = require("userapi").arthur{ base_url = sim.base.arthur, client_id = "arthur-client",
                                              client_secret = "arthur-secret" }
    assert.truthy(arthur:get_users_me())
    arthur:close()
    assert.truthy(arthur:get_users_me())
    local tokens = 0
    for _, r in ipairs(sim.requests()) do
      if r.path == "/arthur/oidc/token" then tokens = tokens + 1 end
    end
    assert.equal(2, tokens)
  end)

  describe("secrets", function()
    -- every string an error holds, to grep for secrets
    local function dump(err)
      local parts = { tostring(err), err.message or "", err.body or "" }
      for k, v in pairs(err.headers or {}) do
        parts[#parts + 1] = k .. ": " .. (type(v) == "table" and table.concat(v, ", ") or tostring(v))
      end
      return table.concat(parts, "\n")
    end
    local function leaks(err, forms)
      local all = dump(err)
      for name, f in pairs(forms) do assert.is_nil(all:find(f, 1, true), name .. " leaked in:\n" .. all) end
    end

    it("hides a Sigfox password echoed back as its Basic blob base64(login:password)", function()
      local sigfox = sim.client("sigfox", { password = "SIGPASS-SECRET-42" })
      local blob = require("userapi.errors").base64("sigfox-login:SIGPASS-SECRET-42")
      assert.equal("c2lnZm94LWxvZ2luOlNJR1BBU1MtU0VDUkVULTQy", blob)
      sim.fault{ match = { vendor = "sigfox" }, status = 401,
                 body = '{"message":"you sent Basic ' .. blob .. '"}' }
      local _, err = sigfox:get_api_user("u1")
      assert.equal("sigfox get_api_user: 401 you sent Basic [REDACTED]", tostring(err))
      leaks(err, { blob = blob })
    end)

    it("hides a key echoed as given, percent-encoded, form-encoded or JSON-escaped", function()
      local key = "ods WRONG/key=4711"
      local ods = sim.client("opendatasoft", { apikey = key })
      local forms = { raw = key, upper = "ods%20WRONG%2Fkey%3D4711", lower = "ods%20WRONG%2fkey%3d4711",
                      form = "ods+WRONG%2Fkey%3D4711", json = "ods WRONG\\/key=4711" }
      for name, f in pairs(forms) do
        sim.fault{ match = { vendor = "ods" }, status = 400, body = "bad key (" .. name .. ") " .. f }
        local _, err = ods:get_users()
        assert.equal("bad key (" .. name .. ") [REDACTED]", err.message)
        leaks(err, forms)
      end
    end)

    it("redacts the response headers of an error like its message and body", function()
      local kandji = sim.client("kandji", { token = "kandji-WRONG-token-4714" })
      sim.fault{ match = { vendor = "kandji" }, status = 401, body = '{"detail":"no"}',
                 headers = { ["X-Echo-Authorization"] = "Bearer kandji-WRONG-token-4714",
                             ["X-Echo-Form"] = "token=kandji-WRONG-token-4714&x=1" } }
      local _, err = kandji:list_users()
      assert.equal("Bearer [REDACTED]", err.headers["x-echo-authorization"])
      assert.equal("token=[REDACTED]&x=1", err.headers["x-echo-form"])
    end)

    it("redacts a plain-text error body before cutting its excerpt at 200 bytes", function()
      local secret = "kandji-STRADDLING-secret-4715"
      local kandji = sim.client("kandji", { token = secret })
      -- the secret starts 10 bytes before the cut
      sim.fault{ match = { vendor = "kandji" }, status = 500, body = ("x"):rep(190) .. secret .. " tail" }
      local _, err = kandji:list_users()
      assert.equal(("x"):rep(190) .. "[REDACTED]...", err.message)
      assert.is_nil(err.message:find("kandji-STR", 1, true))
    end)
  end)
end)
