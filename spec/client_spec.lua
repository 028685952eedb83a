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

    it("leaves no form of a random secret in any text it redacts", function()
      local errors = require "userapi.errors"
      math.randomseed(4711)
      local function bytes(n, lo, hi)
        local t = {}
        for i = 1, n do t[i] = string.char(math.random(lo, hi)) end
        return table.concat(t)
      end
      for _ = 1, 300 do
        local secret = bytes(math.random(4, 24), 32, 126)
        local login = bytes(math.random(1, 8), 97, 122)
        local secrets = errors.secret_forms(secret)
        local blob = errors.base64(login .. ":" .. secret)
        secrets[#secrets + 1] = blob
        for _, form in ipairs(secrets) do
          local text = bytes(math.random(0, 40), 32, 126) .. form .. bytes(math.random(0, 40), 32, 126)
          local out = errors.redact(text, secrets)
          assert.is_nil(out:find(form, 1, true), ("%q survived in %q"):format(form, out))
        end
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

  describe("construction", function()
    local userapi = require "userapi"
    local function kandji(extra)
      local o = { subdomain = "acme", token = "t0k3n-kandji" }
      for k, v in pairs(extra or {}) do o[k] = v end
      return userapi.kandji(o)
    end

    it("refuses host options that are not host names", function()
      for _, bad in ipairs({ "attacker.example/", "a/b", "acme.example.com?x=", "acme#", "user@acme", "a b", "",
                             "-acme", "acme:443" }) do
        assert.has_error(function() kandji{ subdomain = bad } end,
          "bad argument #1 to 'userapi.kandji' (subdomain: host name expected (letters, digits, '-' and '.'))")
        assert.has_error(function() userapi.opendatasoft{ domain = bad, apikey = "k3y-ods" } end,
          "bad argument #1 to 'userapi.opendatasoft' (domain: host name expected (letters, digits, '-' and '.'))")
      end
      assert.equal("https://acme-2.api.kandji.io", kandji{ subdomain = "acme-2" }.base_url)
      assert.equal("https://data.example.org/api/automation/v1.0",
                   userapi.opendatasoft{ domain = "data.example.org", apikey = "k3y-ods" }.base_url)
    end)

    it("never quotes the user:password@ of a base_url it refuses", function()
      local ok, err = pcall(kandji, { base_url = "ftp://user:S3CRET-PASS@host/" })
      assert.is_false(ok)
      assert.equal("userapi.kandji: base_url must be an http(s) URL, got 'ftp://[REDACTED]@host/'", tostring(err))
      ok, err = pcall(kandji, { base_url = "user:S3CRET-PASS@host" })
      assert.is_false(ok)
      assert.is_nil(err:find("S3CRET", 1, true))
    end)

    it("refuses zero and negative timeouts and limits: zero is not 'unlimited'", function()
      for _, k in ipairs({ "timeout_ms", "connect_timeout_ms", "max_body_bytes", "idle_timeout_ms",
                           "stream_timeout_ms", "max_pages", "max_row_bytes", "pool_size" }) do
        for _, v in ipairs({ 0, -1, 0.5, 1 / 0, "5" }) do
          local ok, err = pcall(kandji, { [k] = v })
          assert.is_false(ok, k .. " = " .. tostring(v))
          assert.matches("^bad argument #1 to 'userapi.kandji' %(" .. k .. ": positive integer expected", err)
        end
      end
    end)

    it("takes an integral float such as 5e3 as that integer, on Lua 5.4 as on LuaJIT", function()
      local c = sim.client("kandji", { timeout_ms = 5e3, connect_timeout_ms = 1e3, max_body_bytes = 1e6 })
      assert.truthy(c:list_users())
      assert.equal(5000, c.opts.timeout_ms)
      assert.equal("5000", tostring(c.opts.timeout_ms))
    end)

    it("refuses an unknown option, naming the nearest valid one", function()
      assert.has_error(function() kandji{ timeout = 5 } end,
        "bad argument #1 to 'userapi.kandji' (timeout: unknown option (did you mean 'timeout_ms'?))")
      assert.has_error(function() kandji{ retry = false } end,
        "bad argument #1 to 'userapi.kandji' (retry: unknown option (did you mean 'retries'?))")
      assert.has_error(function() kandji{ subdomian = "acme" } end,
        "bad argument #1 to 'userapi.kandji' (subdomian: unknown option (did you mean 'subdomain'?))")
      assert.has_error(function() kandji{ apikey = "x" } end,
        "bad argument #1 to 'userapi.kandji' (apikey: unknown option)")
    end)

    it("refuses a bad region with a message that carries no file position", function()
      local ok, err = pcall(kandji, { region = "mars" })
      assert.is_false(ok)
      assert.equal("bad argument #1 to 'userapi.kandji' (region: one of us, eu expected, got 'mars')", tostring(err))
    end)
  end)

  describe("wrong calls", function()
    it("raises bad argument naming an unknown operation, with a did-you-mean", function()
      local kandji = sim.client("kandji")
      sim.refuses("bad argument #1 to 'call' (kandji has no operation 'nope'; its operations: "
                  .. "delete_user, get_user, list_users)", function() kandji:call("nope") end)
      sim.refuses("bad argument #1 to 'call' (kandji has no operation 'list_user'; did you mean 'list_users'?)",
                  function() kandji:call("list_user") end)
      sim.refuses("bad argument #1 to 'build' (kandji has no operation 'get_users'; did you mean 'get_user'?)",
                  function() kandji:build("get_users") end)
    end)

    it("raises bad argument for a misspelt method, with a did-you-mean", function()
      local kandji = sim.client("kandji")
      sim.refuses("bad argument #1 to 'list_user' (kandji has no operation or method 'list_user'; "
                  .. "did you mean 'list_users'?)", function() kandji:list_user() end)
      sim.refuses("bad argument #1 to 'each_users' (kandji has no operation or method 'each_users'; "
                  .. "did you mean 'each_user'?)", function() kandji:each_users() end)
      -- fields the client leaves unset stay nil
      assert.falsy(kandji.token_provider)
      assert.is_nil(kandji.token)
      assert.is_nil(kandji.something_else)
    end)

    it("raises bad argument for an operation called with a dot instead of a colon", function()
      local kandji = sim.client("kandji")
      sim.refuses("bad argument #1 to 'list_users' (client expected, got table: call it as kandji:list_users(...))",
                  function() kandji.list_users{} end)
      sim.refuses("bad argument #1 to 'get_user' (client expected, got string: call it as kandji:get_user(...))",
                  function() kandji.get_user("u1") end)
    end)
  end)

  it("closes on __close without opening a new session; the next call opens one", function()
    local opened = 0
    local core = require "userapi.core"
    local counting = { name = "counting", sleep = core.sleep, now = core.now,
                       new = function(o) opened = opened + 1 return core.session(o) end }
    local kandji = sim.client("kandji", { transport = counting, rate_limit = false })
    assert.equal(1, opened)
    assert.truthy(kandji:list_users())
    getmetatable(kandji).__close(kandji)   -- what a <close> variable does at the end of its scope
    getmetatable(kandji).__close(kandji)   -- twice is harmless
    assert.equal(1, opened)
    assert.truthy(kandji:list_users())
    assert.equal(2, opened)
  end)
  -- a transport of the caller's own (the `transport` option takes a table)
  -- whose failures quote the credential: the seams above it must not
  local function quoting(secret)
    local core = require "userapi.core"
    return { name = "quoting", sleep = core.sleep, now = core.now, new = function()
      return { request = function()
        return nil, require("userapi.errors").new{ kind = "connect", code = 7, message = "refused for " .. secret }
      end }
    end }
  end

  it("redacts a transport failure in on_request as in the error", function()
    local events = {}
    local kandji = sim.client("kandji", { token = "tok-QUOTED-2231", transport = quoting("tok-QUOTED-2231"),
      retries = false, rate_limit = false, on_request = function(e) events[#events + 1] = e end })
    local _, err = kandji:list_users()
    assert.equal("kandji list_users: connect (refused for [REDACTED])", tostring(err))
    assert.equal(1, #events)
    assert.truthy(events[1].error:find("refused for [REDACTED]", 1, true), events[1].error)
    assert.is_nil(events[1].error:find("QUOTED", 1, true))
  end)

  it("names the constructor, without a file position, when the transport refuses its options", function()
    local refusing = { name = "refusing", new = function() error("bad option") end,
                       sleep = function() end, now = function() return 0 end }
    sim.refuses("userapi.kandji: bad option", function()
      sim.client("kandji", { transport = refusing })
    end)
  end)
end)
