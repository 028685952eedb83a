-- Arthur's token providers: a wrong static token, the OIDC client-credentials
-- grant (discovery, renewal before expiry and after a 401), a token function.
local sim = require "spec.helper"
local json = require "userapi.json"
local userapi = require "userapi"

local A = require "spec.arthur_helper"
local API, BEARER, GRACE, SA = A.API, A.BEARER, A.GRACE, A.SA
local assert_error, oidc_client = A.assert_error, A.oidc_client
local only_request = sim.only_request

describe("arthur auth", function()
  before_each(function() sim.reset() end)

  describe("with a wrong access token", function()
    it("returns a 401 error that shows the token nowhere", function()
      local secret = "wrong-token-0f1e2d3c"
      local bad = sim.client("arthur", { access_token = secret })
      local me, err = bad:get_users_me()
      assert.is_nil(me)
      assert_error(err, { operation = "get_users_me", status = 401, message = "Could not validate credentials" })
      assert.equal("Bearer " .. secret, only_request().headers["authorization"])
      for _, s in ipairs({ tostring(err), err.message, err.body }) do
        assert.is_nil(s:find(secret, 1, true))
      end
    end)
  end)

  describe("with client_id and client_secret", function()
    it("discovers the token endpoint, POSTs the client-credentials grant, then sends the issued token", function()
      local client = oidc_client("arthur-client", "arthur-secret")
      local me = assert(client:get_users_me())
      assert.equal(SA, me.id)
      assert.equal("userapi automation", me.first_name)
      local all = sim.requests()
      assert.equal(3, #all)
      local disco, tok, call = all[1], all[2], all[3]
      assert.equal("GET", disco.method)
      assert.equal("/arthur/api/v1/auth/oidc/.well-known/openid-configuration", disco.path)
      assert.is_nil(disco.headers["authorization"])
      assert.equal("POST", tok.method)
      assert.equal("/arthur/oidc/token", tok.path)
      assert.equal("application/x-www-form-urlencoded", tok.headers["content-type"])
      local form = {}
      for k, v in tok.body:gmatch("([^&=]+)=([^&]*)") do form[k] = v end
      assert.equal("client_credentials", form.grant_type)
      assert.equal("openid%20email%20profile", form.scope)
      assert.equal("arthur-client", form.client_id)
      assert.equal("arthur-secret", form.client_secret)
      assert.equal(200, tok.status)
      assert.equal("GET", call.method)
      assert.equal(API .. "/users/me", call.path)
      assert.matches("^Bearer sim%-arthur%-%x+$", call.headers["authorization"])
      assert.equal(1, sim.state("arthur").tokens_issued)
    end)

    it("reuses the token across calls", function()
      local client = oidc_client("arthur-client", "arthur-secret")
      assert(client:get_users_me())
      assert(client:get_organization_users{ page_size = 1 })
      assert(client:get_users_me())
      local all = sim.requests()
      assert.equal(5, #all)
      assert.equal(all[3].headers["authorization"], all[4].headers["authorization"])
      assert.equal(all[3].headers["authorization"], all[5].headers["authorization"])
      assert.equal(1, sim.state("arthur").tokens_issued)
    end)

    it("fetches a new token once the old one is within a tenth of its life of expiry, without a new discovery",
       function()
      sim.config{ arthur_token_ttl = 31 }
      local clock = sim.clock()
      local client = oidc_client("arthur-client", "arthur-secret", { clock = clock })
      assert(client:get_users_me())
      clock.advance(27899)   -- 31 s tokens enter their 3.1 s leeway after 27.9 s
      assert(client:get_users_me())
      clock.advance(2)
      assert(client:get_users_me())
      local all = sim.requests()
      local paths = {}
      for i, r in ipairs(all) do paths[i] = r.method .. " " .. r.path end
      assert.same({
        "GET /arthur/api/v1/auth/oidc/.well-known/openid-configuration",
        "POST /arthur/oidc/token", "GET " .. API .. "/users/me", "GET " .. API .. "/users/me",
        "POST /arthur/oidc/token", "GET " .. API .. "/users/me",
      }, paths)
      assert.equal(all[3].headers["authorization"], all[4].headers["authorization"])
      assert.not_equal(all[3].headers["authorization"], all[6].headers["authorization"])
      assert.equal(2, sim.state("arthur").tokens_issued)
    end)

    it("renews its token once on a 401 and retries the call once", function()
      local client = oidc_client("arthur-client", "arthur-secret")
      assert(client:get_users_me())
      sim.fault{ match = { path = API .. "/users/me" }, status = 401 }
      local me = assert(client:get_users_me())
      assert.equal(SA, me.id)
      local all = sim.requests()
      assert.equal(6, #all)
      assert.equal(401, all[4].status)
      assert.equal("/arthur/oidc/token", all[5].path)
      assert.equal(200, all[6].status)
      assert.equal(all[3].headers["authorization"], all[4].headers["authorization"])
      assert.not_equal(all[4].headers["authorization"], all[6].headers["authorization"])
      assert.equal(2, sim.state("arthur").tokens_issued)
    end)

    it("returns the 401 when it persists after the one renewal", function()
      local client = oidc_client("arthur-client", "arthur-secret")
      sim.fault{ match = { path = API .. "/users/me" }, status = 401, times = 0 }
      local me, err = client:get_users_me()
      assert.is_nil(me)
      assert_error(err, { operation = "get_users_me", status = 401, message = "Not authenticated" })
      local calls = 0
      for _, r in ipairs(sim.requests()) do if r.path == API .. "/users/me" then calls = calls + 1 end end
      assert.equal(2, calls)
      assert.equal(2, sim.state("arthur").tokens_issued)
    end)

    it("with a wrong client secret returns a token error that shows the secret nowhere", function()
      local secret = "not-the-secret-9a8b7c"
      local me, err = oidc_client("arthur-client", secret):get_users_me()
      assert.is_nil(me)
      assert.is_true(userapi.is_error(err))
      assert.equal("arthur", err.vendor)
      assert.equal("token", err.operation)
      assert.equal(401, err.status)
      assert.is_false(err.retryable)
      assert.matches("^arthur token: 401 ", tostring(err))
      for _, s in ipairs({ tostring(err), err.message, err.body }) do
        assert.is_nil(s:find(secret, 1, true))
      end
      -- the API itself was never called
      for _, r in ipairs(sim.requests()) do assert.not_equal(API .. "/users/me", r.path) end
    end)

    it("with a wrong client secret takes the message from the OAuth2 error body", function()
      local me, err = oidc_client("arthur-client", "not-the-secret"):get_users_me()
      assert.is_nil(me)
      assert.same({ error = "invalid_client", error_description = "Invalid client or Invalid client credentials" },
                  json.decode(err.body))
      assert.equal("Invalid client or Invalid client credentials", err.message)
      assert.equal("arthur token: 401 Invalid client or Invalid client credentials", tostring(err))
    end)
  end)

  describe("with a token function", function()
    it("sends the token it returns and asks again only when the token expires", function()
      local calls = 0
      local client = sim.client("arthur", { token = function()
        calls = calls + 1
        return "arthur-test-token", 3600
      end })
      assert.equal(GRACE, assert(client:get_users_me()).id)
      assert(client:get_organization_users())
      assert.equal(1, calls)
      for _, r in ipairs(sim.requests()) do assert.equal(BEARER, r.headers["authorization"]) end
    end)

    it("is asked again after a 401, and the call is retried once with the new token", function()
      local tokens = { "stale-token-0001", "arthur-test-token" }
      local calls = 0
      local client = sim.client("arthur", { token = function()
        calls = calls + 1
        return tokens[calls], 3600
      end })
      local me = assert(client:get_users_me())
      assert.equal(GRACE, me.id)
      assert.equal(2, calls)
      local all = sim.requests()
      assert.equal(2, #all)
      assert.equal("Bearer stale-token-0001", all[1].headers["authorization"])
      assert.equal(401, all[1].status)
      assert.equal(BEARER, all[2].headers["authorization"])
      assert.equal(200, all[2].status)
    end)

    it("that fails with nil and a message gives a userapi error carrying that message", function()
      local client = sim.client("arthur", { token = function() return nil, "vault unreachable" end })
      local me, err = client:get_users_me()
      assert.is_nil(me)
      assert.same({}, sim.requests())
      assert.is_true(userapi.is_error(err))
      assert.equal("arthur", err.vendor)
      assert.equal("token", err.operation)
      assert.matches("vault unreachable", tostring(err), 1, true)
    end)
  end)
end)
