-- Security: plain http and TLS, redirects, hostile input, and secrets that
-- appear nowhere in what failing calls return or report.
local sim = require "spec.helper"
local sh = sim.sh
local core = require "userapi.core"
local userapi = require "userapi"

local client, count, recorder, dump = sim.unlimited, sim.count, sim.recorder, sim.dump
local base64 = require "spec.base64"
local FAST = sim.FAST_RETRIES

describe("security", function()
  before_each(function() sim.reset() end)

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
        local root = sim.root
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
        sim.config{ arthur_token_ttl = 1 } -- a second apart: a new token for every call
        local clock = sim.clock()
        local c = userapi.arthur{ base_url = sim.base.arthur, client_id = "arthur-client", clock = clock,
                                  client_secret = "arthur-secret", rate_limit = false, retries = false }
        for _ = 1, 20 do
          assert(c:get_users_me())
          clock.advance(1000)
        end
        assert.equal(20, sim.state("arthur").tokens_issued)
        sim.fault{ match = { path = "/arthur/api/v1/users/me" }, status = 400,
                   body = '{"detail":"configured with arthur-secret"}' }
        local _, err = c:get_users_me()
        assert.equal("configured with [REDACTED]", err.message)
        assert.is_nil(err.body:find("arthur-secret", 1, true))
      end)
    end)
  end)
end)
