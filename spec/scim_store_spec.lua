-- What the bridge keeps for a vendor (externalId, addresses, ...) across an
-- nginx restart: lost with the shared dict, kept with Redis (a real
-- redis-server with a password, the URL form the client's `store` takes).
local sim = require "spec.helper"
local bridge = require "spec.scim.bridge"
local redis = require "spec.budget.redis"

local USER = { userName = "ada@example.com", externalId = "entra-42",
               emails = { { value = "ada@example.com", type = "work", primary = true } },
               addresses = { { type = "work", country = "UK" } } }

local function created_then_restarted(env)
  bridge.empty()
  local b = bridge.start(2, env)
  local status, u = b.request("POST", "arthur/Users", USER)
  assert.equal(201, status)
  local _, found = b.request("GET", 'arthur/Users?filter=externalId%20eq%20%22entra-42%22')
  assert.equal(1, found.totalResults)
  b.stop()
  b = bridge.start(2, env)
  local _, after = b.request("GET", 'arthur/Users?filter=externalId%20eq%20%22entra-42%22')
  local _, again = b.request("GET", "arthur/Users/" .. u.id)
  b.stop()
  return after, again
end

describe("the SCIM bridge's store #nginx", function()
  it("loses with the shared dict what the vendor cannot hold when nginx restarts", function()
    local after, again = created_then_restarted()
    assert.equal(0, after.totalResults)
    assert.is_nil(again.externalId)
    assert.is_nil(again.addresses)
    assert.equal("ada@example.com", again.emails[1].value) -- what Arthur holds stays
  end)

  it("keeps it in Redis", function()
    local server = redis.start()
    local ok, err = pcall(function()
      local after, again = created_then_restarted{ SCIM_REDIS_URL = server.url }
      assert.equal(1, after.totalResults)
      assert.equal("entra-42", again.externalId)
      assert.same({ { type = "work", country = "UK" } }, again.addresses)
    end)
    server.stop()
    assert(ok, err)
    sim.reset()
  end)
end)
