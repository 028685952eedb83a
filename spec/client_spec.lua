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
end)
