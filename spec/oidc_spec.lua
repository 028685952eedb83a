-- Arthur's client-credentials grant: where the client secret may go, what a
-- token from the server may hold, and which clock decides when to renew.
local userapi = require "userapi"
local sim = require "spec.helper"

local DISCOVERY = "/arthur/api/v1/auth/oidc/.well-known/openid-configuration"
local TOKEN = "/arthur/oidc/token"

local function arthur(extra)
  local opts = { base_url = sim.base.arthur, client_id = "arthur-client", client_secret = "arthur-secret",
                 retries = false }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return userapi.arthur(opts)
end

local function paths()
  local t = {}
  for i, r in ipairs(sim.requests()) do t[i] = r.method .. " " .. r.path end
  return t
end

describe("the OIDC token endpoint", function()
  before_each(function() sim.reset() end)

  it("is pinned by token_url: no discovery, the grant goes there", function()
    local c = arthur{ token_url = sim.url .. TOKEN }
    assert(c:get_users_me())
    assert.same({ "POST " .. TOKEN, "GET /arthur/api/v1/users/me" }, paths())
  end)

  it("refuses a token_url that base_url would refuse, without echoing it", function()
    assert.has_error(function() arthur{ token_url = "http://auth.example/token" } end,
      "userapi.arthur: token_url refused: plain http to auth.example (only loopback, unless allow_insecure = true)")
    local ok, err = pcall(arthur, { token_url = "https://user:S3CRET-PASS@auth.example/token" })
    assert.is_false(ok)
    assert.equal("userapi.arthur: token_url refused: contains user:password@", tostring(err))
    assert.same({ "options", "token_url" }, { err.kind, err.option })
    assert.has_error(function() arthur{ token_url = "ftp://auth.example/token" } end,
      "userapi.arthur: token_url refused: not an http(s) URL")
  end)

  for name, endpoint in pairs{
    ["plain http to another host"] = "http://auth.example/token",
    ["user:password@"] = "https://user:S3CRET-PASS@127.0.0.1/token",
    ["not http"] = "file:///etc/passwd",
  } do
    it("is refused when discovery names one with " .. name .. ": the secret goes nowhere", function()
      sim.fault{ match = { path = DISCOVERY }, body = '{"token_endpoint":"' .. endpoint .. '"}' }
      local c = arthur()
      local res, err = c:get_users_me()
      assert.is_nil(res)
      assert.equal("auth", err.kind)
      assert.equal("token", err.operation)
      assert.matches("^discovery named a token_endpoint that is refused: ", err.message)
      assert.is_nil(tostring(err):find("S3CRET", 1, true))
      assert.same({ "GET " .. DISCOVERY }, paths())
    end)
  end

  it("is discovered from the base URL only, and the grant carries the vendor table's scope", function()
    assert(arthur():get_users_me())
    local all = sim.requests()
    assert.equal(DISCOVERY, all[1].path)
    assert.equal(TOKEN, all[2].path)
    assert.matches("scope=openid%%20email%%20profile", all[2].body)
  end)
end)

describe("a token from the server", function()
  before_each(function() sim.reset() end)

  for name, token in pairs{ ["CR LF"] = "abc\\r\\nX-Evil: 1", TAB = "abc\\tdef", DEL = "abc\\u007f",
                            NUL = "abc\\u0000" } do
    it("holding " .. name .. " is nil, err of kind auth, and no API request goes out", function()
      sim.fault{ match = { path = TOKEN }, body = '{"access_token":"' .. token .. '","expires_in":3600}' }
      local ok, res, err = pcall(arthur().get_users_me, arthur())
      assert.is_true(ok, tostring(res))
      assert.is_nil(res)
      assert.equal("auth", err.kind)
      assert.equal("arthur token: auth (the token received contains control bytes)", tostring(err))
      for _, r in ipairs(sim.requests()) do assert.not_equal("/arthur/api/v1/users/me", r.path) end
    end)
  end

  it("from a token function is checked the same way", function()
    local c = userapi.arthur{ base_url = sim.base.arthur, token = function() return "abc\r\ndef", 3600 end }
    local res, err = c:get_users_me()
    assert.is_nil(res)
    assert.equal("auth", err.kind)
    assert.same({}, sim.requests())
  end)

  it("expires on the client's clock", function()
    local c = arthur()
    assert(c:get_users_me())
    local real = c.now
    c.now = function() return real() + 3600 * 1000 end -- an hour later, for the client only
    assert(c:get_users_me())
    assert.equal(2, sim.state("arthur").tokens_issued)
  end)
end)
