-- The curl transport and a proxy libcurl refuses (issue 19 item 23): the
-- call fails with kind "proxy" and nothing reaches the vendor, whose bearer
-- token would otherwise go out on a direct connection; the refusal never
-- quotes the proxy URL (it holds a password). The simulator is the
-- recording vendor on loopback.
local helper = require "spec.helper"
local userapi = require "userapi"
local core = require "userapi.core"

local PW = "SECRETPW"

-- proxies the option check admits and libcurl's parser refuses: a character
-- it allows in no host name, a bracketed host that is no IPv6 address, an
-- encoded byte in the host, a SOCKS host libcurl cannot parse
local ADMITTED = {
  "http://u:" .. PW .. "@ho^st:8080",
  "http://u:" .. PW .. "@[zz]:8080",
  "http://u:" .. PW .. "@%20:3128",
  "socks5://u:" .. PW .. "@a*b:1080",
}
-- and what the C core refuses when given directly: an unknown scheme variant,
-- a port out of range, port 0, no host
local DIRECT = { "socks9://u:" .. PW .. "@127.0.0.1:1080", "http://u:" .. PW .. "@127.0.0.1:99999",
                 "http://u:" .. PW .. "@127.0.0.1:0", "http://u:" .. PW .. "@" }

local function assert_refused(err, proxy)
  assert.equal("proxy", err.kind, proxy .. ": " .. tostring(err.message))
  assert.matches("^proxy URL refused %(.+%); nothing sent$", err.message)
  assert.is_nil(tostring(err):find(PW, 1, true))
end

describe("curl transport: a proxy libcurl refuses", function()
  before_each(function() helper.reset() end)

  for _, proxy in ipairs(ADMITTED) do
    it("fails the call with kind proxy, nothing sent to the vendor: " .. proxy:gsub(PW, "..."), function()
      local kandji = userapi.kandji{ base_url = helper.base.kandji, token = "kandji-test-token", proxy = proxy,
                                     transport = "curl", retries = false }
      local res, err = kandji:list_users()
      assert.is_nil(res)
      assert_refused(err, proxy)
      assert.is_false(err.retryable)
      assert.same({}, helper.requests())
    end)
  end

  it("a walk (the multi of read-ahead) fails the same way", function()
    local kandji = userapi.kandji{ base_url = helper.base.kandji, token = "kandji-test-token", proxy = ADMITTED[1],
                                   transport = "curl", retries = false }
    local ok, err = pcall(function()
      for _ in kandji:each_user{ concurrency = 4 } do error("a user came back") end
    end)
    assert.is_false(ok)
    assert_refused(err, ADMITTED[1])
    assert.same({}, helper.requests())
  end)

  for _, proxy in ipairs(DIRECT) do
    it("core.session and its multi: kind proxy, nothing sent: " .. proxy:gsub(PW, "..."), function()
      local s = core.session{ proxy = proxy, auth = { scheme = "bearer", token = "kandji-test-token" } }
      local req = { method = "GET", url = helper.base.kandji .. "/api/v1/users" }
      local status, err = s:request(req)
      assert.is_nil(status)
      assert_refused(err, proxy)
      local m = s:multi()
      local id = m:add(req)
      local done = m:wait(1000)
      assert.equal(1, #done)
      assert.equal(id, done[1].id)
      assert_refused(done[1].err, proxy)
      assert.equal(0, m:pending())
      m:close()
      s:close()
      assert.same({}, helper.requests())
    end)
  end

  it("a proxy libcurl accepts is still the route: a closed proxy port is a connect error, not a direct call",
    function()
      local s = core.session{ proxy = "http://127.0.0.1:" .. helper.free_port() }
      local status, err = s:request{ method = "GET", url = helper.base.kandji .. "/api/v1/users" }
      assert.is_nil(status)
      assert.equal("connect", err.kind)
      assert.same({}, helper.requests())
    end)
end)
