-- The cosocket transport in production settings, through real nginx (LuaJIT):
-- a forward proxy honoured as libcurl honours it, one deadline per exchange,
-- refusal in phases without cosockets, ca_file refused, pool options, retry
-- logs, a multi wait that keeps its timeout. The vendor stand-ins are named
-- "vendor.test", a name only the test proxy resolves: an answer proves the
-- call went through the proxy. The https stand-in is an nginx with a
-- certificate for vendor.test.
local core = require "userapi.core"
local json = require "userapi.json"
local userapi = require "userapi"
local sim = require "spec.helper"
local run = require "spec.nginx.run"
local proxy = require "userapi.transport.proxy"
local base64 = require "spec.base64"

local ADA = "69c009ca-1f78-4bdf-bb93-08d6d39041db"
local PASSWORD, WRONG = "p@ss-s3cret", "wr0ng-s3cret"

local function read(path)
  local f = io.open(path)
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end

local function wait_for_file(path)
  for _ = 1, 200 do
    local s = read(path)
    if s ~= "" then return s end
    core.sleep(25)
  end
  error("no " .. path)
end

-- the proxy log as { method, target, authorization } lines
local function proxy_lines(path)
  local out = {}
  for line in read(path):gmatch("[^\n]+") do
    local m, t, a = line:match("^(%S+)\t(%S+)\t(.*)$")
    out[#out + 1] = { method = m, target = t, authorization = a }
  end
  return out
end

local function contains_none(text, needles, what)
  for _, s in ipairs(needles) do
    assert(not text:find(s, 1, true), what .. " reveals a secret: " .. s)
  end
end

describe("the nginx transport in production #nginx", function()
  local dir, url, stop, prefix, session, pids = nil, nil, nil, nil, nil, {}
  local proxy_port, tls_port, proxy_log, cert, stop_tls
  local sim_port = sim.url:match(":(%d+)$")

  local function get(path)
    local status, body = session:request{ method = "GET", url = url .. path }
    assert(status == 200, tostring(status) .. " " .. tostring(body))
    return json.decode(body)
  end

  local function new_proxy_lines(since) return { select(since + 1, table.unpack(proxy_lines(proxy_log))) } end

  setup(function()
    dir = sim.sh("mktemp -d /tmp/userapi-proxy.XXXXXX")
    cert, proxy_log = dir .. "/cert.pem", dir .. "/proxy.log"
    sim.sh(("env -u LD_PRELOAD openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
      .. " -subj /CN=vendor.test -addext subjectAltName=DNS:vendor.test -keyout %s/key.pem -out %s 2>&1")
      :format(dir, cert))
    pids[#pids + 1] = sim.sh(("env -u LD_PRELOAD lua5.4 %s/spec/nginx/proxy.lua %s/proxy.port %s 'puser:%s'"
      .. " vendor.test=127.0.0.1 >%s/proxy.err 2>&1 & echo $!"):format(run.ROOT, dir, proxy_log, PASSWORD, dir))
    proxy_port = wait_for_file(dir .. "/proxy.port")
    local tls_url
    tls_url, stop_tls = run.start("spec/nginx/tls_vendor.conf.in", "nginx.pid",
                                  run.filler{ CERT = cert, KEY = dir .. "/key.pem" })
    tls_port = tls_url:match(":(%d+)$")
    sim.reset()
    url, stop, prefix = run.start("spec/nginx/transport.conf.in", "nginx.pid", run.filler{ CERT = cert }, {
      USERAPI_PROXY = "http://puser:p%40ss-s3cret@127.0.0.1:" .. proxy_port,
      USERAPI_BAD_PROXY = "http://puser:" .. WRONG .. "@127.0.0.1:" .. proxy_port,
      USERAPI_VIA_HTTP = "http://vendor.test:" .. sim_port,
      USERAPI_VIA_HTTPS = "https://vendor.test:" .. tls_port,
      USERAPI_CA = cert,
    })
    session = core.session{ timeout_ms = 10000 }
    for _ = 1, 100 do
      if session:request{ method = "GET", url = url .. "/ping" } then break end
      core.sleep(20)
    end
  end)

  teardown(function()
    stop()
    stop_tls()
    for _, pid in ipairs(pids) do os.execute("kill " .. pid .. " 2>/dev/null") end
    os.execute("rm -rf " .. dir)
  end)

  before_each(function() sim.reset() end)

  local function secrets_of(password)
    local list = proxy.secrets("http://puser:" .. password:gsub("@", "%%40") .. "@h:1")
    list[#list + 1] = base64("puser:" .. password)
    list[#list + 1] = (password:gsub("[^%w%-._~]", function(c) return ("%%%02X"):format(c:byte()) end))
    return list
  end

  -- Ada's email (or the error) as a Kandji client made of `opts` (Lua source)
  -- gets it in plain Lua, in a process whose environment adds `env`
  local function get_ada(env, opts)
    local lua = jit and "luajit" or "lua5.4"
    return sim.sh(("cd %s && env -u LD_PRELOAD %s LUA_CPATH='build/%s/?.so;;'"
      .. " LUA_PATH='lua/?.lua;lua/?/init.lua;;' %s -e '"
      .. [[local c = require("userapi").kandji%s
           local u, err = c:get_user("%s") print(u and u.email or tostring(err))]] .. "' 2>&1")
      :format(run.ROOT, env, lua, lua, opts, ADA))
  end

  describe("proxy", function()
    local basic = "Basic " .. base64("puser:" .. PASSWORD)
    local http_target = "http://vendor.test:" .. sim_port .. "/kandji/api/v1/users/" .. ADA

    it("is honoured by libcurl in init_by_lua: absolute form for http, CONNECT for https, with credentials", function()
      local init = json.decode(get("/results").init)
      assert.equal("ada@example.com", init.http.email)
      assert.is_true(init.https.tls)
      local seen = {}
      for _, l in ipairs(proxy_lines(proxy_log)) do
        seen[l.method .. " " .. l.target .. " " .. l.authorization] = true
      end
      assert.is_true(seen["GET " .. http_target .. " " .. basic])
      assert.is_true(seen["CONNECT vendor.test:" .. tls_port .. " " .. basic])
    end)

    it("is honoured by cosockets in content_by_lua: an absolute-form request for an http vendor", function()
      local before = #proxy_lines(proxy_log)
      local res = get("/proxied?scheme=http")
      assert.equal("ada@example.com", res.email)
      assert.same({ { method = "GET", target = http_target, authorization = basic } }, new_proxy_lines(before))
      assert.equal(1, #sim.requests())
    end)

    it("is honoured by cosockets in content_by_lua: a CONNECT tunnel for an https vendor, TLS verified", function()
      local before = #proxy_lines(proxy_log)
      local res = get("/proxied?scheme=https")
      assert.is_true(res.tls)
      assert.same({ { method = "CONNECT", target = "vendor.test:" .. tls_port, authorization = basic } },
                  new_proxy_lines(before))
    end)

    it("is honoured by libcurl in plain Lua, for http and https", function()
      local before = #proxy_lines(proxy_log)
      local opts = { token = "kandji-test-token", retries = false, proxy = "http://puser:p%40ss-s3cret@127.0.0.1:"
                     .. proxy_port, ca_file = cert, allow_insecure = true }
      opts.base_url = "http://vendor.test:" .. sim_port .. "/kandji"
      assert.equal("ada@example.com", assert(userapi.kandji(opts):get_user(ADA)).email)
      opts.base_url = "https://vendor.test:" .. tls_port .. "/kandji"
      assert.is_true(assert(userapi.kandji(opts):get_user(ADA)).tls)
      local lines = new_proxy_lines(before)
      assert.equal(2, #lines)
      assert.equal("CONNECT", lines[2].method)
    end)

    it("is honoured by libcurl even when no_proxy in the environment names the vendor", function()
      local before = #proxy_lines(proxy_log)
      local out = get_ada("no_proxy=vendor.test NO_PROXY=vendor.test", ([[{
        base_url = "http://vendor.test:%s/kandji", token = "kandji-test-token", retries = false, allow_insecure = true,
        proxy = "http://puser:p%%40ss-s3cret@127.0.0.1:%s" }]]):format(sim_port, proxy_port))
      assert.equal("ada@example.com", out)
      assert.same({ { method = "GET", target = http_target, authorization = basic } }, new_proxy_lines(before))
    end)

    it("is the only route: libcurl does not take http_proxy from the environment, as cosockets do not", function()
      local before = #proxy_lines(proxy_log)
      local proxies = ("http_proxy=http://127.0.0.1:%s https_proxy=http://127.0.0.1:%s"):format(proxy_port, proxy_port)
      local out = get_ada(proxies, ([[{ base_url = "http://127.0.0.1:%s/kandji", token = "kandji-test-token",
        retries = false }]]):format(sim_port))
      assert.equal("ada@example.com", out)
      assert.same({}, new_proxy_lines(before))
    end)

    it("refused by the proxy (wrong password): the call fails, never goes direct, the password shows nowhere",
      function()
      local secrets = secrets_of(WRONG)
      local http = get("/denied?scheme=http")
      assert.equal(407, http.status)
      assert.truthy(http.body:find("[REDACTED]", 1, true))
      local https = get("/denied?scheme=https")
      assert.equal("proxy", https.kind)
      assert.truthy(https.text:find("answered 407 to CONNECT vendor.test:" .. tls_port, 1, true))
      contains_none(json.encode{ http, https }, secrets, "the cosocket error or on_request event")
      -- libcurl, in plain Lua
      local c = userapi.kandji{ base_url = "http://vendor.test:" .. sim_port .. "/kandji", token = "kandji-test-token",
        retries = false, allow_insecure = true, proxy = "http://puser:" .. WRONG .. "@127.0.0.1:" .. proxy_port }
      local res, err = c:get_user(ADA)
      assert.is_nil(res)
      assert.equal(407, err.status)
      contains_none(tostring(err) .. err.body, secrets, "the libcurl error")
      contains_none(read(prefix .. "/error.log"), secrets, "nginx's error log")
      assert.same({}, sim.requests())
    end)

    it("that cosockets cannot speak (socks5) refuses the call with a clear error and sends nothing", function()
      local res = get("/refused?what=socks")
      assert.equal("userapi: the nginx transport speaks to http:// proxies only, not socks5://;"
        .. " the call is refused rather than sent direct", res.raised)
      assert.same({}, sim.requests())
    end)
  end)

  it("verifies TLS: a certificate for another name fails with kind tls; verify_tls = false accepts it", function()
    assert.is_true(get("/direct_tls?verify=false").tls)
    local refused = get("/direct_tls")
    assert.equal("tls", refused.kind)
    assert.truthy(refused.text:find("TLS handshake with 127.0.0.1", 1, true))
  end)

  it("ca_file under cosockets is refused with a pointer to lua_ssl_trusted_certificate", function()
    local res = get("/refused?what=ca_file")
    assert.truthy(res.raised:find("'ca_file' cannot be honoured by nginx cosockets", 1, true))
    assert.truthy(res.raised:find("lua_ssl_trusted_certificate <file>;", 1, true))
    assert.same({}, sim.requests())
  end)

  it("timeout_ms bounds the whole exchange: an answer dripping a byte every 250 ms ends in about 1 s", function()
    sim.fault{ match = { vendor = "kandji" }, drip_ms = 250 }
    local res = get("/deadline")
    assert.equal("timeout", res.kind)
    assert.is_true(res.ms >= 950 and res.ms < 1600, "took " .. res.ms .. " ms")
  end)

  -- the /results once the log phase has filled in `key` (waits up to 2 s)
  local function results_with(key)
    local res
    for _ = 1, 100 do
      res = get("/results")
      if res[key] then break end
      core.sleep(20)
    end
    return res
  end

  describe("phases without cosockets", function()
    it("refuse the call, naming the phase and the fix, and send nothing", function()
      get("/phases")
      local res = results_with("log")
      for _, phase in ipairs({ "set", "header_filter", "body_filter", "log" }) do
        assert.equal("userapi: no cosockets in nginx's " .. phase .. " phase, and libcurl here would block every"
          .. " request of the worker; make the call from a timer (ngx.timer.at(0, fn)), or build the client with"
          .. " transport = \"curl\" to accept blocking", res[phase])
      end
      assert.same({}, sim.requests())
    end)

    it("refuse a client built with transport = \"nginx\" the same way: no raw nginx error, nothing sent", function()
      get("/phases_nginx")
      local res = results_with("nginx_log")
      for _, phase in ipairs({ "set", "header_filter", "body_filter", "log" }) do
        assert.equal("userapi: no cosockets in nginx's " .. phase .. " phase, and libcurl here would block every"
          .. " request of the worker; make the call from a timer (ngx.timer.at(0, fn)), or build the client with"
          .. " transport = \"curl\" to accept blocking", res["nginx_" .. phase])
      end
      assert.same({}, sim.requests())
    end)

    it("use libcurl when the client was built with transport = \"curl\"; a retry wait there raises", function()
      sim.fault{ match = { vendor = "kandji" }, status = 503, headers = { ["Retry-After"] = "1" } }
      get("/log_curl")
      local res = results_with("log_curl")
      assert.equal("ada@example.com", res.log_curl)
      assert.equal("userapi: a wait of 1000 ms (a retry or the rate limit) in nginx's log phase would block every"
        .. " request of the worker; make the call from a timer (ngx.timer.at(0, fn)), or set retries = false and"
        .. " rate_limit = false", res.log_curl_wait)
      assert.equal(2, #sim.requests())
    end)
  end)

  describe("retries", function()
    local function warn_lines()
      local n = 0
      for line in read(prefix .. "/error.log"):gmatch("[^\n]+") do
        if line:find("[warn]", 1, true) and line:find("userapi kandji get_user: status 503, retry 1 of 2 in 0 ms",
                                                      1, true) then
          n = n + 1
        end
      end
      return n
    end

    it("are logged at WARN with vendor, operation, status, attempt and wait, never the token; log = false is quiet",
      function()
      local before = warn_lines()
      sim.fault{ match = { vendor = "kandji" }, status = 503, headers = { ["Retry-After"] = "0" } }
      assert.equal("ada@example.com", get("/retry").email)
      assert.equal(before + 1, warn_lines())
      assert.falsy(read(prefix .. "/error.log"):find("kandji-test-token", 1, true))
      sim.fault{ match = { vendor = "kandji" }, status = 503, headers = { ["Retry-After"] = "0" } }
      local quiet = get("/retry?log=false")
      assert.equal("ada@example.com", quiet.email)
      assert.equal(1, quiet.retried)
      assert.equal(before + 1, warn_lines())
    end)

    it("wait without blocking the worker, even on the libcurl transport", function()
      sim.fault{ match = { vendor = "kandji" }, status = 503, headers = { ["Retry-After"] = "1" } }
      local m = session:multi()
      local id = m:add{ method = "GET", url = url .. "/retry?transport=curl" }
      -- the multi sends while it waits: then the retry waits inside the worker
      assert.same({}, m:wait(300))
      local t = core.now()
      assert.equal(200, (session:request{ method = "GET", url = url .. "/ping" }))
      local ping_ms = core.now() - t
      local done
      while not done do
        for _, r in ipairs(m:wait(3000)) do if r.id == id then done = json.decode(r.body) end end
      end
      m:close()
      assert.equal("ada@example.com", done.email)
      assert.is_true(done.ms >= 1000, "the retry waited " .. done.ms .. " ms")
      assert.is_true(ping_ms < 300, "another request waited " .. ping_ms .. " ms")
    end)
  end)

  describe("pool options", function()
    local function connections(path)
      local before = sim.stats().connections_accepted
      assert.is_true(get(path).ok > 0)
      return sim.stats().connections_accepted - before
    end

    it("pool_size with backlog: 5 concurrent calls share the one connection allowed", function()
      assert.is_true(connections("/pool?mode=bulk&size=1") >= 3)
      assert.equal(1, connections("/pool?mode=bulk&size=1&backlog=10"))
    end)

    it("keepalive_timeout_ms: an idle connection is closed after it", function()
      assert.equal(1, connections("/pool?mode=seq&size=7"))
      assert.equal(2, connections("/pool?mode=seq&size=8&keepalive=100"))
    end)
  end)

  it("sends a headers table as it is at each request, however often it changed", function()
    assert.same({ 200, 200, 200, 200 }, get("/headers"))
    local seen = {}
    for i, r in ipairs(sim.requests()) do seen[i] = { r.headers["x-probe"] or "-", r.headers["x-other"] or "-" } end
    assert.same({ { "one", "-" }, { "two", "-" }, { "two", "three" }, { "-", "three" } }, seen)
  end)

  it("a multi's wait honours its timeout while requests run", function()
    sim.fault{ match = { vendor = "kandji", query = "email=slow" }, delay_ms = 1000 }
    local res = get("/multi_wait")
    assert.equal(0, res.first)
    assert.is_true(res.first_ms >= 90 and res.first_ms < 500, "the first wait took " .. res.first_ms .. " ms")
    assert.equal(200, res.second)
    assert.is_true(res.second_ms >= 1000)
  end)
end)
