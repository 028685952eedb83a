-- The C core through real libcurl to the simulator over loopback.
local core = require "userapi.core"
local sim = require "spec.helper"

local KANDJI = sim.url .. "/kandji/api/v1/users"
local BEARER = { scheme = "bearer", token = "kandji-test-token" }

describe("userapi.core", function()
  before_each(function() sim.reset() end)

  describe("session:request", function()
    it("sends method, path, sorted and encoded query and headers, and returns status, body, headers", function()
      local s = core.session{ auth = BEARER }
      local status, body, headers = s:request{
        method = "GET", url = KANDJI,
        query = { email = "a b&c=d/é", id = { "x", "y" }, archived = false },
        headers = { ["X-Trace"] = "t-1", Accept = "application/json" },
      }
      assert.equal(200, status)
      assert.truthy(body:find('"results"', 1, true))
      assert.equal("application/json", headers["content-type"]:match("^[^;]+"))
      local r = sim.last_request()
      assert.equal("GET", r.method)
      assert.equal("/kandji/api/v1/users", r.path)
      assert.equal("archived=false&email=a%20b%26c%3Dd%2F%C3%A9&id=x&id=y", r.query)
      assert.equal("t-1", r.headers["x-trace"])
      assert.equal("application/json", r.headers["accept"])
      assert.matches("^userapi/%d+%.%d+%.%d+ libcurl/", r.headers["user-agent"])
      s:close()
    end)

    it("says whether a rate-limit header came (the Lua layer parses the block only then)", function()
      local kandji = core.session{ auth = BEARER } -- Kandji's answers carry RateLimit-* and X-RateLimit-*
      local status, _, headers, rate = kandji:request{ method = "GET", url = KANDJI, raw_headers = true }
      assert.equal(200, status)
      assert.truthy(headers:find("RateLimit-Remaining", 1, true))
      assert.is_true(rate)
      local m = kandji:multi()
      m:add{ method = "GET", url = KANDJI }
      local done = {}
      while #done == 0 do done = m:wait(1000) end
      assert.is_true(done[1].rate_limit_headers)
      m:close()
      local ods = core.session{ auth = { scheme = "apikey", key = "ods-test-key" } }
      status, _, headers, rate = ods:request{ method = "GET", url = sim.base.opendatasoft .. "/users/" }
      assert.equal(200, status)
      assert.is_nil(next((function()
        local names = {}
        for k in pairs(headers) do if k:find("ratelimit", 1, true) or k == "retry-after" then names[k] = true end end
        return names
      end)()))
      assert.is_false(rate)
    end)

    it("sends the session's user_agent, or the caller's own User-Agent header instead", function()
      local s = core.session{ auth = BEARER, user_agent = "ops-bot/1.0" }
      s:request{ method = "GET", url = KANDJI }
      assert.equal("ops-bot/1.0", sim.last_request().headers["user-agent"])
      s:request{ method = "GET", url = KANDJI, headers = { ["User-Agent"] = "mine/2" } }
      assert.equal("mine/2", sim.last_request().headers["user-agent"])
      assert.has_error(function() core.session{ user_agent = "x\r\nX-Evil: 1" } end)
    end)

    it("sends a body byte for byte with its length, and no Expect header", function()
      local s = core.session{ auth = BEARER }
      local payload = '{"name":"x","list":[1,2,3]}' .. string.rep("z", 5000)
      for _, method in ipairs({ "POST", "PUT", "PATCH", "DELETE" }) do
        s:request{ method = method, url = KANDJI .. "/u1", body = payload,
                   headers = { ["Content-Type"] = "application/json" } }
        local r = sim.last_request()
        assert.equal(method, r.method)
        assert.equal(payload, r.body)
        assert.equal(tostring(#payload), r.headers["content-length"])
        assert.is_nil(r.headers["expect"])
      end
    end)

    it("sends Content-Length: 0 on a bodiless POST", function()
      local s = core.session{ auth = BEARER }
      s:request{ method = "POST", url = KANDJI }
      local r = sim.last_request()
      assert.equal("POST", r.method)
      assert.equal("0", r.headers["content-length"])
      assert.equal("", r.body)
    end)

    it("keeps repeated response headers, names lower-cased", function()
      local s = core.session{ auth = BEARER }
      sim.fault{ match = { path = "/kandji/api/v1/users" }, status = 200, body = "{}",
                 headers = { ["X-One"] = "1", ["Set-Cookie"] = { "a=1", "b=2" } } }
      local status, _, headers = s:request{ method = "GET", url = KANDJI }
      assert.equal(200, status)
      assert.equal("1", headers["x-one"])
      assert.same({ "a=1", "b=2" }, headers["set-cookie"])
    end)

    it("reuses one kept-alive connection for 50 requests", function()
      local s = core.session{ auth = BEARER }
      local before = sim.stats().connections_accepted
      for _ = 1, 50 do assert.equal(200, (s:request{ method = "GET", url = KANDJI })) end
      assert.equal(before + 1, sim.stats().connections_accepted)
    end)

    it("returns a timeout error when the server is slower than timeout_ms", function()
      local s = core.session{ auth = BEARER, timeout_ms = 200 }
      sim.fault{ match = { path = "/kandji/api/v1/users" }, delay_ms = 1500 }
      local t0 = core.now()
      local ok, err = s:request{ method = "GET", url = KANDJI }
      assert.is_nil(ok)
      assert.equal("timeout", err.kind)
      assert.equal(28, err.code)
      assert.matches("timeout %(.+%)$", tostring(err))
      assert.is_true(core.now() - t0 < 1400)
      -- the per-request timeout wins over the session's
      sim.fault{ match = { path = "/kandji/api/v1/users" }, delay_ms = 300 }
      assert.equal(200, (s:request{ method = "GET", url = KANDJI, timeout_ms = 2000 }))
    end)

    it("returns a connect error for a closed port", function()
      local s = core.session()
      local ok, err = s:request{ method = "GET", url = "http://127.0.0.1:1/" }
      assert.is_nil(ok)
      assert.equal("connect", err.kind)
      assert.equal(7, err.code)
    end)

    it("fails with too_large beyond max_body_bytes, without buffering the rest", function()
      local s = core.session{ auth = BEARER, max_body_bytes = 1000 }
      sim.fault{ match = { path = "/kandji/api/v1/users" }, huge_bytes = 200000 }
      local ok, err = s:request{ method = "GET", url = KANDJI }
      assert.is_nil(ok)
      assert.equal("too_large", err.kind)
    end)

    it("streams a 2xx body to a sink instead of buffering it", function()
      local s = core.session{ auth = BEARER }
      local chunks = {}
      local status, body = s:request{ method = "GET", url = KANDJI,
                                      sink = function(c) chunks[#chunks + 1] = c end }
      assert.equal(200, status)
      assert.equal("", body)
      assert.truthy(table.concat(chunks):find('"results"', 1, true))
    end)

    it("refuses to reuse or close a session from inside its own sink, and finishes the request", function()
      local s = core.session{ auth = BEARER }
      local tried = {}
      local status = s:request{ method = "GET", url = KANDJI, sink = function()
        tried[#tried + 1] = select(2, pcall(s.request, s, { method = "GET", url = KANDJI }))
        tried[#tried + 1] = select(2, pcall(s.close, s))
        tried[#tried + 1] = select(2, pcall(s.multi, s))
      end }
      assert.equal(200, status)
      assert.matches("in use by a running request", tried[1])
      assert.matches("cannot close during its own request", tried[2])
      assert.matches("in use by a running request", tried[3])
      assert.equal(200, (s:request{ method = "GET", url = KANDJI }))
    end)

    it("streams to a sink past max_body_bytes: the limit bounds buffers, not sinks", function()
      local s = core.session{ auth = BEARER, max_body_bytes = 1000 }
      sim.fault{ match = { path = "/kandji/api/v1/users" }, status = 200, huge_bytes = 200000 }
      local got = 0
      local status = s:request{ method = "GET", url = KANDJI, sink = function(c) got = got + #c end }
      assert.equal(200, status)
      assert.equal(200000, got)
    end)

    it("sends Content-Length: 0 and no Content-Type on a bodiless PUT, and refuses a body on GET", function()
      local s = core.session{ auth = BEARER }
      s:request{ method = "PUT", url = KANDJI .. "/u1" }
      local r = sim.last_request()
      assert.equal("PUT", r.method)
      assert.equal("0", r.headers["content-length"])
      assert.is_nil(r.headers["content-type"])
      assert.has_error(function() s:request{ method = "GET", url = KANDJI, body = "x" } end,
        "bad field 'body' (a GET request has no body)")
    end)

    if math.maxinteger then
      it("writes 64-bit integers in a query exactly", function()
        assert.equal("http://h/?m=-9007199254740993&n=9223372036854775807",
          core.url("http://h/", { n = math.maxinteger, m = -9007199254740993 }))
      end)
    end

    it("re-raises an error raised by the sink", function()
      local s = core.session{ auth = BEARER }
      assert.has_error(function()
        s:request{ method = "GET", url = KANDJI, sink = function() error("sink broke") end }
      end)
      assert.equal(200, (s:request{ method = "GET", url = KANDJI }))
    end)
  end)

  describe("auth", function()
    local function sent(auth)
      local s = core.session{ auth = auth }
      s:request{ method = "GET", url = sim.url .. "/kandji/api/v1/users", query = { email = "x" } }
      s:close()
      return sim.last_request()
    end

    it("sends HTTP Basic as base64(user:password)", function()
      local r = sent{ scheme = "basic", user = "sigfox-login", password = "p@ss:wörd" }
      assert.equal("Basic c2lnZm94LWxvZ2luOnBAc3M6d8O2cmQ=", r.headers.authorization)
    end)

    it("sends a bearer token", function()
      assert.equal("Bearer tok-123", sent{ scheme = "bearer", token = "tok-123" }.headers.authorization)
    end)

    it("sends an API key in the Authorization header", function()
      assert.equal("Apikey k-1", sent{ scheme = "apikey", key = "k-1" }.headers.authorization)
    end)

    it("sends an API key percent-encoded in the query, after the other parameters", function()
      local r = sent{ scheme = "apikey", key = "a+b/c=", ["in"] = "query" }
      assert.equal("email=x&apikey=a%2Bb%2Fc%3D", r.query)
      assert.is_nil(r.headers.authorization)
    end)

    it("leaves auth out of a request that says auth = false, and can change it", function()
      local s = core.session{ auth = { scheme = "bearer", token = "one" } }
      s:request{ method = "GET", url = KANDJI, auth = false }
      assert.is_nil(sim.last_request().headers.authorization)
      s:set_auth{ scheme = "bearer", token = "two" }
      s:request{ method = "GET", url = KANDJI }
      assert.equal("Bearer two", sim.last_request().headers.authorization)
      s:set_auth(nil)
      s:request{ method = "GET", url = KANDJI }
      assert.is_nil(sim.last_request().headers.authorization)
    end)

    it("refuses malformed auth, never echoing the secret", function()
      local ok, err = pcall(core.session, { auth = { scheme = "basic", user = "a:b", password = "hunter22" } })
      assert.is_false(ok)
      assert.falsy(tostring(err):find("hunter22", 1, true))
      assert.has_error(function() core.session{ auth = { scheme = "bearer", token = "x\r\nX-Evil: 1" } } end)
      assert.has_error(function() core.session{ auth = { scheme = "magic" } } end)
      assert.has_error(function() core.session{ auth = { scheme = "apikey", key = "k", ["in"] = "cookie" } } end)
    end)
  end)

  describe("URL building", function()
    it("percent-encodes everything but RFC 3986 unreserved characters", function()
      assert.equal("a-b.c_d~e", core.escape("a-b.c_d~e"))
      assert.equal("%2F%3F%23%25%20%2B%26%3D", core.escape("/?#% +&="))
      assert.equal("%C3%A9%E2%82%AC", core.escape("é€"))
      assert.equal("..%2F..", core.escape("../.."))
      assert.equal("%00%0D%0A", core.escape("\0\r\n"))
    end)

    it("tells a string escape would leave as it is (is_unreserved: the usual id)", function()
      assert.is_true(core.is_unreserved("a-b.c_d~e09AZ"))
      for _, v in ipairs({ "", "a/b", "a b", "a%41", "é", "a\0b", "a\tb", "a\127", "a+b" }) do
        assert.is_false(core.is_unreserved(v), v)
        if v ~= "" then assert.are_not.equal(v, core.escape(v)) end
      end
      for _, v in ipairs({ 42, true, {} }) do assert.is_false(core.is_unreserved(v)) end
      assert.is_false(core.is_unreserved())
    end)

    it("builds sorted queries with repeated keys, numbers and booleans", function()
      assert.equal("http://h/p?a=1&b=x&b=y&c=true&d=1.5",
        core.url("http://h/p", { d = 1.5, c = true, b = { "x", "y" }, a = 1 }))
      assert.equal("http://h/p?q=1&z=2", core.url("http://h/p?q=1", { z = 2 }))
      assert.equal("http://h/p", core.url("http://h/p", {}))
    end)

    it("keeps an encoded id inside its path segment on the wire", function()
      local s = core.session{ auth = BEARER }
      s:request{ method = "GET", url = KANDJI .. "/" .. core.escape("../a/b?c#d%e f é") }
      assert.equal("/kandji/api/v1/users/..%2Fa%2Fb%3Fc%23d%25e%20f%20%C3%A9", sim.last_request().path)
    end)

    it("refuses CR, LF and NUL in URLs, header names, header values and queries, sending nothing", function()
      local s = core.session{ auth = BEARER }
      sim.control("DELETE", "requests")
      local bad = {
        { method = "GET", url = KANDJI .. "\r\nX: 1" },
        { method = "GET", url = KANDJI .. " x" },
        { method = "GET", url = KANDJI, headers = { ["X-A"] = "a\r\nb: c" } },
        { method = "GET", url = KANDJI, headers = { ["X-A\n"] = "a" } },
        { method = "GET", url = KANDJI, headers = { ["X A"] = "a" } },
        { method = "GET", url = KANDJI, query = { q = "a\nb" } },
        { method = "GET", url = KANDJI, query = { ["q\r"] = "a" } },
        { method = "GET", url = KANDJI, query = { q = { "ok", "a\0b" } } },
      }
      for _, req in ipairs(bad) do
        local ok, err = pcall(s.request, s, req)
        assert.is_false(ok)
        assert.matches("CR, LF", tostring(err) .. " CR, LF") -- a clear message
      end
      assert.same({}, sim.requests())
    end)
  end)

  describe("errors", function()
    -- a fresh Lua state, as each luaopen reads userapi.errors once; `preload`
    -- stands in for that module. Prints what the script returns.
    local function fresh(preload, script)
      local lua = jit and "luajit" or "lua5.4"
      local cpath = (os.getenv("LUA_CPATH") or package.cpath):match("[^;]*build/[^;]*") or ""
      local code = ("package.cpath = %q .. ';' .. package.cpath\n%s\n%s"):format(cpath, preload, script)
      local path = os.tmpname()
      local f = assert(io.open(path, "w"))
      f:write(code)
      f:close()
      local p = io.popen(lua .. " " .. path .. " 2>&1")
      local out = p:read("*a")
      p:close()
      os.remove(path)
      return (out:gsub("%s+$", ""))
    end
    local FAIL = [[
      local core = require "userapi.core"
      MT = MT or debug.getregistry()["userapi.core.error"] -- the fallback
      local ok, err = core.session():request{ method = "GET", url = "http://127.0.0.1:1/" }
      print(ok == nil and getmetatable(err) == MT, err.kind, tostring(err))
    ]]

    it("gives its error tables the metatable handed to core.set_error_mt", function()
      local out = fresh([[MT = { __tostring = function(e) return "one type: " .. e.kind end }
        require("userapi.core").set_error_mt(MT)]], FAIL)
      assert.equal("true\tconnect\tone type: connect", out)
      assert.matches("table expected", fresh("", [[print(pcall(require("userapi.core").set_error_mt, "mt"))]]))
    end)

    it("the library hands it the metatable of userapi.errors: one error type", function()
      local out = fresh([[require "userapi.transport.curl"
        MT = require("userapi.errors").mt]], FAIL)
      assert.matches("^true\tconnect\tuserapi %?: connect %(.+%)$", out)
    end)

    it("requires no Lua module: alone, its errors have a metatable of their own", function()
      local out = fresh([[package.preload["userapi.errors"] = function() REQUIRED = true return { mt = {} } end]],
        FAIL .. [[print(REQUIRED)]])
      assert.matches("^true\tconnect\tconnect %(.+%)\nnil$", out)
    end)
  end)

  it("exports luaopen_userapi_core and nothing else (the Makefile's build; the install spec checks the rock's)",
    function()
      local so = assert(package.searchpath("userapi.core", package.cpath))
      local p = io.popen("nm -D --defined-only " .. so)
      local names = {}
      for name in p:read("*a"):gmatch("%x+ %a (%S+)") do names[#names + 1] = name end
      p:close()
      assert.same({ "luaopen_userapi_core" }, names)
    end)

  describe("argument checks", function()
    it("raises clear errors for wrong types, without crashing", function()
      local s = core.session()
      local cases = {
        { nil, "table expected" },
        { { url = KANDJI }, "method" },
        { { method = "get", url = KANDJI }, "upper%-case" },
        { { method = 1, url = KANDJI }, "method" },
        { { method = "GET" }, "url" },
        { { method = "GET", url = KANDJI, headers = 5 }, "headers" },
        { { method = "GET", url = KANDJI, headers = { A = {} } }, "header 'A'" },
        { { method = "GET", url = KANDJI, query = { a = {} , b = { {} } } }, "query value" },
        { { method = "GET", url = KANDJI, query = { [1] = "x" } }, "query key" },
        { { method = "GET", url = KANDJI, body = {} }, "body" },
        { { method = "GET", url = KANDJI, timeout_ms = -1 }, "timeout_ms" },
        { { method = "GET", url = KANDJI, sink = 3 }, "function expected" },
      }
      for _, c in ipairs(cases) do
        local ok, err = pcall(s.request, s, c[1])
        assert.is_false(ok)
        assert.matches(c[2], tostring(err))
      end
      assert.has_error(function() core.session(42) end)
      assert.has_error(function() core.session{ timeout_ms = "soon" } end)
    end)

    it("refuses a closed session, closes idempotently and prints its state", function()
      local s = core.session()
      assert.matches("^userapi.session: 0x%x+$", tostring(s))
      s:close()
      s:close()
      assert.matches("%(closed%)$", tostring(s))
      assert.has_error(function() s:request{ method = "GET", url = KANDJI } end,
        "userapi.session: attempt to use a closed session")
    end)

    it("is freed by the garbage collector and by to-be-closed variables", function()
      for _ = 1, 200 do core.session() end
      collectgarbage()
      collectgarbage()
      if _VERSION == "Lua 5.4" then
        local chunk = load([[
          local core = ...
          local s <close> = core.session()
          return s
        ]])
        assert.matches("%(closed%)$", tostring(chunk(core)))
      end
    end)
  end)

  describe("multi", function()
    it("runs many transfers at once and reports each by id", function()
      local s = core.session{ auth = BEARER }
      local m = s:multi()
      local ids = {}
      for i = 1, 20 do ids[m:add{ method = "GET", url = KANDJI, query = { email = "n" .. i } }] = i end
      local seen = 0
      while m:pending() > 0 do
        for _, r in ipairs(m:wait(1000)) do
          assert.equal(200, r.status)
          assert.truthy(ids[r.id])
          assert.equal("table", type(r.headers))
          seen = seen + 1
        end
      end
      assert.equal(20, seen)
      assert.equal(20, #sim.requests())
      m:close()
      m:close()
      assert.has_error(function() m:add{ method = "GET", url = KANDJI } end)
    end)

    it("overlaps slow requests instead of queueing them", function()
      local s = core.session{ auth = BEARER }
      sim.fault{ match = { path = "/kandji/api/v1/users" }, delay_ms = 300, times = 0 }
      local m = s:multi()
      for _ = 1, 8 do m:add{ method = "GET", url = KANDJI } end
      local t0 = core.now()
      local done = 0
      while m:pending() > 0 do done = done + #m:wait(2000) end
      assert.equal(8, done)
      assert.is_true(core.now() - t0 < 1500)
    end)

    it("reports transport errors per transfer", function()
      local s = core.session()
      local m = s:multi()
      local id = m:add{ method = "GET", url = "http://127.0.0.1:1/" }
      local r
      repeat r = m:wait(1000)[1] until r
      assert.equal(id, r.id)
      assert.equal("connect", r.err.kind)
    end)
  end)
  describe("operating-system helpers", function()
    it("fsyncs an open file, refuses a closed one", function()
      local path = os.tmpname()
      local f = assert(io.open(path, "w"))
      f:write("journal line\n")
      assert.is_true(core.fsync(f))
      f:close()
      assert.has_error(function() core.fsync(f) end)
      assert.equal("journal line\n", assert(io.open(path)):read("a"))
      os.remove(path)
    end)

    it("reads a file's permission bits and owner, nil and the reason for a missing one", function()
      local path = os.tmpname()
      os.execute("chmod 640 " .. path)
      local st = assert(core.stat(path))
      assert.same({ mode = tonumber("640", 8), uid = core.geteuid() }, st)
      os.remove(path)
      local none, err = core.stat(path)
      assert.is_nil(none)
      assert.matches("No such file", err)
    end)

    it("dies of SIGPIPE, as a write to a closed pipe would have it", function()
      local lua = jit and "luajit" or "lua5.4"
      local p = assert(io.popen(("LUA_CPATH=%q %s -e 'require(\"userapi.core\").die_of_sigpipe()'; echo $?")
        :format(os.getenv("LUA_CPATH") or package.cpath, lua)))
      local status = p:read("a")
      p:close()
      assert.equal("141\n", status)
    end)

    it("tells a terminal from a file", function()
      local f = io.tmpfile()
      assert.is_false(core.isatty(f))
      f:close()
    end)
  end)
end)
