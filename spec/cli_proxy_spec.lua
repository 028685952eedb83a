-- The command behind a proxy: the config keys proxy, ca_file and user_agent,
-- and the environment as curl, gh and the aws CLI read it (HTTPS_PROXY,
-- HTTP_PROXY, NO_PROXY, their lower-case forms, USERAPI_CA_BUNDLE), through
-- a recording proxy on loopback (spec/nginx/proxy.lua: it logs each request
-- and its Proxy-Authorization, and alone resolves vendor.test).
local h = require "spec.cli_helper"
local sim, proc, run, args, lines, ADA = h.sim, h.proc, h.run, h.args, h.lines, h.ADA
local core = require "userapi.core"
local cli_proxy = require "userapi.cli.proxy"

setup(h.build_command)
before_each(function() sim.reset() end)

local PASSWORD = "pr0xy-s3cret"
local dir, proxy_port, tls_port, pids = nil, nil, nil, {}

local function wait_for(path)
  for _ = 1, 200 do
    local s = proc.slurp(path)
    if s ~= "" then return (s:gsub("%s+$", "")) end
    core.sleep(25)
  end
  error("no " .. path)
end

-- the proxy's log: { method, target, authorization } a line
local function proxied()
  local list = {}
  for _, l in ipairs(lines(proc.slurp(dir .. "/proxy.log"))) do
    local m, t, a = l:match("^(%S+)\t(%S+)\t(.*)$")
    list[#list + 1] = { m, t, a }
  end
  return list
end

local function proxy_url(password)
  return ("http://puser:%s@127.0.0.1:%s"):format(password or PASSWORD, proxy_port)
end

setup(function()
  dir = sim.sh("mktemp -d /tmp/userapi-cli-proxy.XXXXXX")
  pids[#pids + 1] = sim.sh(("env -u LD_PRELOAD lua5.4 %s/spec/nginx/proxy.lua %s/proxy.port %s/proxy.log 'puser:%s'"
    .. " vendor.test=127.0.0.1 >%s/proxy.err 2>&1 & echo $!"):format(sim.root, dir, dir, PASSWORD, dir))
  sim.sh(("env -u LD_PRELOAD openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
    .. " -subj /CN=vendor.test -addext subjectAltName=DNS:vendor.test -keyout %s/key.pem -out %s/cert.pem 2>&1")
    :format(dir, dir))
  pids[#pids + 1] = sim.sh(("env -u LD_PRELOAD lua5.4 %s/spec/tls_server.lua %s/cert.pem %s/key.pem %s/tls.port"
    .. " >%s/tls.log 2>&1 & echo $!"):format(sim.root, dir, dir, dir, dir))
  proxy_port = wait_for(dir .. "/proxy.port")
  tls_port = wait_for(dir .. "/tls.port")
end)

teardown(function()
  for _, pid in ipairs(pids) do os.execute("kill " .. pid .. " 2>/dev/null") end
  if dir then os.execute("rm -rf " .. dir) end
end)

local SIM_USERS = "/kandji/api/v1/users"

describe("the config keys proxy, ca_file and user_agent", function()
  it("are read from a [profile.vendor] section and used", function()
    local conf = h.config_file("proxy.conf", ("[default.kandji]\nproxy = %s\nuser_agent = cron-host/1.0\n")
      :format(proxy_url()))
    local before = #proxied()
    local code, _, err = run(args("kandji", "list_users"), { env = { USERAPI_CONFIG = conf } })
    assert.equal(0, code, err)
    local log = proxied()
    assert.equal(before + 1, #log)
    assert.same({ "GET", sim.base.kandji:gsub("/kandji$", "") .. SIM_USERS },
      { log[#log][1], log[#log][2] })
    assert.truthy(log[#log][3]:find("^Basic "))
    assert.equal("cron-host/1.0", sim.last_request().headers["user-agent"])
  end)

  it("ca_file trusts a private CA, through an HTTPS proxy's tunnel", function()
    local conf = h.config_file("ca.conf", ("[default.kandji]\nproxy = %s\nca_file = %s/cert.pem\n")
      :format(proxy_url(), dir))
    local code, out, err = run({ "kandji", "get_user", ADA, "--base-url", "https://vendor.test:" .. tls_port },
      { env = { USERAPI_CONFIG = conf } })
    assert.equal(0, code, err)
    assert.same({ tls = true }, h.cjson.decode(out))
    local log = proxied()
    assert.same({ "CONNECT", "vendor.test:" .. tls_port }, { log[#log][1], log[#log][2] })
  end)

  it("the config's proxy wins over the environment; an empty one means none", function()
    local conf = h.config_file("wins.conf", ("[default.kandji]\nproxy = %s\n"):format(proxy_url()))
    local before = #proxied()
    local code, _, err = run(args("kandji", "list_users", "-v"),
      { env = { USERAPI_CONFIG = conf, HTTP_PROXY = "http://127.0.0.1:1" } })
    assert.equal(0, code, err)
    assert.equal(before + 1, #proxied())
    assert.truthy(err:find("userapi: kandji: proxy http://[REDACTED]@127.0.0.1:" .. proxy_port .. " (from the config)",
      1, true), err)
    conf = h.config_file("none.conf", "[default.kandji]\nproxy =\n")
    code, _, err = run(args("kandji", "list_users", "-v"),
      { env = { USERAPI_CONFIG = conf, http_proxy = proxy_url() } })
    assert.equal(0, code, err)
    assert.equal(before + 1, #proxied())
    assert.truthy(err:find("no proxy (the config's proxy is empty)", 1, true), err)
  end)
end)

describe("the proxy of the environment", function()
  it("HTTP_PROXY for http URLs; -v names it without its password", function()
    local before = #proxied()
    local code, out, err = run(args("kandji", "list_users", "-v"), { env = { HTTP_PROXY = proxy_url() } })
    assert.equal(0, code, err)
    assert.equal(5, #h.cjson.decode(out).results)
    assert.equal(before + 1, #proxied())
    assert.truthy(err:find("userapi: kandji: proxy http://[REDACTED]@127.0.0.1:" .. proxy_port .. " (from HTTP_PROXY)",
      1, true), err)
    assert.falsy(err:find(PASSWORD, 1, true))
    assert.falsy(err:find("puser", 1, true))
  end)

  it("the lower-case form wins, as in curl; a proxy refusing the password is an error, not a direct call", function()
    local before = #proxied()
    local code, _, err = run(args("kandji", "list_users"),
      { env = { http_proxy = proxy_url(), HTTP_PROXY = "http://127.0.0.1:1" } })
    assert.equal(0, code, err)
    assert.equal(before + 1, #proxied())
    sim.reset()
    code, _, err = run(args("kandji", "list_users"), { env = { HTTP_PROXY = proxy_url("wrong-pw") } })
    assert.equal(1, code)
    assert.truthy(err:find("407", 1, true), err)
    assert.falsy(err:find("wrong-pw", 1, true), err)
    assert.same({}, sim.requests())
  end)

  it("NO_PROXY (or no_proxy) sends the matching hosts directly", function()
    local before = #proxied()
    for _, env in ipairs({ { HTTP_PROXY = proxy_url(), NO_PROXY = "example.com, 127.0.0.1" },
                           { http_proxy = proxy_url(), no_proxy = "*" } }) do
      local code, _, err = run(args("kandji", "list_users", "-v"), { env = env })
      assert.equal(0, code, err)
      assert.truthy(err:find("userapi: kandji: no proxy (127.0.0.1 matches NO_PROXY's ", 1, true), err)
    end
    assert.equal(before, #proxied())
    assert.equal(2, #sim.requests())
  end)

  it("HTTPS_PROXY and USERAPI_CA_BUNDLE for an https vendor", function()
    local base = "https://vendor.test:" .. tls_port
    local code, out, err = run({ "kandji", "get_user", ADA, "--base-url", base },
      { env = { HTTPS_PROXY = proxy_url(), USERAPI_CA_BUNDLE = dir .. "/cert.pem",
                HTTP_PROXY = "http://127.0.0.1:1" } })
    assert.equal(0, code, err)
    assert.same({ tls = true }, h.cjson.decode(out))
    local log = proxied()
    assert.same({ "CONNECT", "vendor.test:" .. tls_port }, { log[#log][1], log[#log][2] })
    -- without the bundle the private CA is not trusted; without the proxy vendor.test does not resolve
    code = run({ "kandji", "get_user", ADA, "--base-url", base }, { env = { HTTPS_PROXY = proxy_url() } })
    assert.equal(1, code)
    code = run({ "kandji", "get_user", ADA, "--base-url", base }, { env = { USERAPI_CA_BUNDLE = dir .. "/cert.pem" } })
    assert.equal(1, code)
  end)

  it("a proxy the library refuses is a usage error naming the variable, its password hidden, nothing sent", function()
    local code, _, err = run(args("kandji", "list_users"),
      { env = { http_proxy = "socks9://u:HIDDEN-PW@127.0.0.1:1" } })
    assert.equal(2, code)
    assert.truthy(err:find("proxy socks9://[REDACTED]@127.0.0.1:1 (from http_proxy)", 1, true), err)
    assert.falsy(err:find("HIDDEN-PW", 1, true), err)
    assert.same({}, sim.requests())
  end)

  it("HTTP_PROXY is not read under CGI (REQUEST_METHOD set: httpoxy)", function()
    local before = #proxied()
    local code, _, err = run(args("kandji", "list_users"),
      { env = { HTTP_PROXY = proxy_url(), REQUEST_METHOD = "GET" } })
    assert.equal(0, code, err)
    assert.equal(before, #proxied())
  end)

  it("is read by the real command from its environment", function()
    local before = #proxied()
    local r = h.userapi(args("kandji", "list_users", "-v", "--format", "jsonl"), { HTTPS_PROXY = "http://127.0.0.1:1",
      http_proxy = proxy_url() })
    assert.equal(0, r.code, r.err)
    assert.equal(5, #lines(r.out))
    assert.equal(before + 1, #proxied())
    assert.falsy(r.err:find(PASSWORD, 1, true))
  end)

  it("NO_PROXY matches a name and its subdomains, not a longer name", function()
    local function no(list, host)
      return cli_proxy.no_proxy(function(k) return k == "NO_PROXY" and list or nil end, host)
    end
    assert.equal("example.com", no("example.com", "api.example.com"))
    assert.equal(".example.com", no("other,.example.com", "example.com"))
    assert.equal("Example.COM:443", no("Example.COM:443", "example.com"))
    assert.is_nil(no("example.com", "badexample.com"))
    assert.is_nil(no("", "example.com"))
    assert.equal("[::1]", no("[::1]", "::1"))
    assert.equal("::1", cli_proxy.host_of("http://u:p@[::1]:8080/x"))
    assert.equal("vendor.test", cli_proxy.host_of("https://u:p@Vendor.Test:8443/api"))
  end)
end)
