-- The C core against hostile input and hostile servers (issue 13): control
-- bytes in credentials, numbers in queries, caps on what a server sends,
-- deadlines on streams, and the host's SIGPIPE left as it was.
local core = require "userapi.core"
local sim = require "spec.helper"

local KANDJI = sim.url .. "/kandji/api/v1/users"
local BEARER = { scheme = "bearer", token = "kandji-test-token" }
local LUA = jit and "luajit" or "lua5.4"

-- Drains streamed transfer id of multi m for at most `limit_ms`; returns the
-- bytes read, then the error (or nil) and whether it ended.
local function drain(m, id, limit_ms)
  local got, t0 = 0, core.now()
  while core.now() - t0 < limit_ms do
    local chunk, done = m:read(id)
    if chunk == nil then return got, done, true end
    got = got + #chunk
    if done then return got, nil, true end
    if chunk == "" then m:wait(100) end
  end
  return got, nil, false
end

-- Runs a Lua script in a fresh interpreter with the checkout's paths; its output.
local function fresh(script)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(script)
  f:close()
  -- SIGPIPE as a shell starts it, not as this process has it (LuaSocket ignores it)
  local p = io.popen(("env --default-signal=PIPE LUA_PATH=%q LUA_CPATH=%q %s %s 2>&1")
    -- (LUA_CPATH: under make memcheck, children get the plain build)
    :format(package.path, os.getenv("LUA_CPATH") or package.cpath, LUA, path))
  local out = p:read("*a")
  p:close()
  os.remove(path)
  return (out:gsub("%s+$", ""))
end

describe("userapi.core, hardened", function()
  before_each(function() sim.reset() end)

  it("refuses TAB, VT, DEL and every other control byte in tokens, keys, logins and passwords", function()
    local s = core.session()
    for _, byte in ipairs({ "\t", "\v", "\127", "\1", "\27", "\31", "\r", "\0" }) do
      local secret = "SECRET" .. byte .. "X"
      for _, auth in ipairs({
        { scheme = "bearer", token = secret }, { scheme = "apikey", key = secret },
        { scheme = "apikey", key = secret, ["in"] = "query" },
        { scheme = "basic", user = secret, password = "p" }, { scheme = "basic", user = "u", password = secret },
      }) do
        local ok, err = pcall(core.session, { auth = auth })
        assert.is_false(ok)
        assert.matches("bad auth %(contains CR, LF, NUL or another control byte%)", err)
        assert.falsy(err:find("SECRET", 1, true))
        assert.is_false((pcall(s.set_auth, s, auth)))
      end
    end
    -- a space is an ordinary byte of a password
    assert.truthy(core.session{ auth = { scheme = "basic", user = "u", password = "a b" } })
  end)

  describe("core.url", function()
    it("writes numbers in the shortest form that reads back the same", function()
      assert.equal("http://h/?a=0.1&b=1e%2B300&c=-2.5&d=0.30000000000000004&e=5",
        core.url("http://h/", { a = 0.1, b = 1e300, c = -2.5, d = 0.1 + 0.2, e = 5.0 }))
      for _, v in ipairs({ 1 / 3, 2 ^ 60 + 0.0, 5e-324, 1.7976931348623157e308, -123.456, 1e21 }) do
        local text = core.url("h", { v = v }):match("=(.*)$"):gsub("%%2B", "+")
        assert.equal(v, tonumber(text))
        assert.is_true(#text <= 24, text)
      end
    end)

    it("refuses NaN and the infinities with a bad-argument error", function()
      for _, v in ipairs({ 0 / 0, math.huge, -math.huge }) do
        assert.has_error(function() core.url("http://h/", { x = v }) end,
          "bad query value for 'x' (a finite number expected)")
      end
      local s = core.session{ auth = BEARER }
      assert.has_error(function() s:request{ method = "GET", url = KANDJI, query = { n = 0 / 0 } } end)
      assert.same({}, sim.requests())
    end)
  end)

  describe("caps", function()
    it("reports a 10 MB response header as too_large", function()
      sim.fault{ match = { path = "/kandji/api/v1/users" }, headers = { ["X-Big"] = ("h"):rep(10 * 2 ^ 20) } }
      local ok, err = core.session{ auth = BEARER }:request{ method = "GET", url = KANDJI }
      assert.is_nil(ok)
      assert.equal("too_large", err.kind)
    end)

    it("caps a stream's error body at max_body_bytes (too_large), but not its 2xx body", function()
      local s = core.session{ auth = BEARER, max_body_bytes = 2 ^ 20 }
      sim.fault{ match = { path = "/kandji/api/v1/users/nobody" }, huge_bytes = 4 * 2 ^ 20 }
      local m = s:multi()
      local got, err, ended = drain(m, m:add{ method = "GET", url = KANDJI .. "/nobody", stream = true }, 10000)
      assert.is_true(ended)
      assert.equal("too_large", err and err.kind)
      assert.is_true(got <= 2 ^ 20, got .. " bytes of an error body")
      sim.fault{ match = { path = "/kandji/api/v1/users" }, huge_bytes = 4 * 2 ^ 20 }
      got, err, ended = drain(m, m:add{ method = "GET", url = KANDJI, stream = true }, 10000)
      assert.same({ true, nil }, { ended, err })
      assert.equal(4 * 2 ^ 20, got)
      m:close()
    end)
  end)

  describe("deadlines", function()
    local USER_PATH = "/kandji/api/v1/users/69c009ca-1f78-4bdf-bb93-08d6d39041db"
    local USER = sim.url .. USER_PATH

    it("ends a stream at timeout_ms, the total deadline, however steadily the server drips", function()
      sim.fault{ match = { path = "/kandji/api/v1/users" }, drip_ms = 100, drip_bytes = 40 }
      local m = core.session{ auth = BEARER }:multi()
      local t0 = core.now()
      local got, err, ended = drain(m, m:add{ method = "GET", url = KANDJI, stream = true, timeout_ms = 1500 }, 4000)
      assert.is_true(ended, "still streaming after 4 s")
      assert.equal("timeout", err and err.kind)
      assert.is_true(got > 0)
      assert.is_true(core.now() - t0 < 3000)
      m:close()
    end)

    it("ends a request with a sink, a stream or a multi transfer when no byte comes for idle_timeout_ms", function()
      local s = core.session{ auth = BEARER }
      local function stall() sim.fault{ match = { path = USER_PATH }, delay_ms = 4000 } end
      local t0 = core.now()
      stall()
      local ok, err = s:request{ method = "GET", url = USER, timeout_ms = 20000, idle_timeout_ms = 1000,
                                 sink = function() end }
      assert.same({ nil, "timeout" }, { ok, err.kind })
      local m = s:multi()
      stall()
      local _, serr = drain(m, m:add{ method = "GET", url = USER, stream = true, timeout_ms = 20000,
                                      idle_timeout_ms = 1000 }, 8000)
      assert.equal("timeout", serr and serr.kind)
      stall()
      m:add{ method = "GET", url = USER, timeout_ms = 20000, idle_timeout_ms = 1000 }
      local r
      repeat r = m:wait(1000)[1] until r
      assert.equal("timeout", r.err and r.err.kind)
      m:close()
      -- three stalls of 4 s, each cut after 1 to 2 s
      assert.is_true(core.now() - t0 < 8000, "took " .. (core.now() - t0) .. " ms")
    end)

    it("takes idle_timeout_ms from the session as well", function()
      sim.fault{ match = { path = USER_PATH }, delay_ms = 4000 }
      local s = core.session{ auth = BEARER, timeout_ms = 20000, idle_timeout_ms = 1000 }
      local ok, err = s:request{ method = "GET", url = USER }
      assert.same({ nil, "timeout" }, { ok, err.kind })
    end)
  end)

  it("leaves the host's SIGPIPE disposition as it was, ignoring it only during its calls", function()
    -- bit 13 of SigIgn in /proc/self/status: SIGPIPE ignored
    local out = fresh([[
      local function ignored()
        local mask = io.open("/proc/self/status"):read("*a"):match("SigIgn:%s*(%x+)")
        return math.floor(tonumber(mask:sub(-4), 16) / 4096) % 2 == 1
      end
      local before = ignored()
      local core = require "userapi.core"
      local s = core.session{ auth = { scheme = "bearer", token = "kandji-test-token" } }
      local during
      s:request{ method = "GET", url = "]] .. KANDJI .. [[", sink = function() during = ignored() end }
      print(before, during, ignored())
    ]])
    -- ignored only while libcurl may write to a socket whose peer has gone
    assert.equal("false\ttrue\tfalse", out)
  end)
end)
