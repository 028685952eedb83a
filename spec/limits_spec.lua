-- Bounds on what a server can make the client do: streams end (idle and total
-- deadlines), an error body and a CSV row have a maximum size, paging ends, and
-- data from a server never raises. Against spec/limits_server.lua, a hostile
-- server on 127.0.0.1 started and stopped by its pid.
local sim = require "spec.helper"
local proc = require "spec.proc"
local core = require "userapi.core"
local json = require "userapi.json"
local userapi = require "userapi"

local MiB = 1024 * 1024
local url, pid

local function stats(name)
  local status, body = sim.session:request{ method = "GET", url = url .. "/_stats" }
  assert.equal(200, status)
  return json.decode(body)[name] or { requests = 0, bytes = 0, ms = 0 }
end

local function client(vendor, scenario, extra)
  local opts = { base_url = url .. "/" .. scenario, retries = false, rate_limit = false }
  local creds = { opendatasoft = { apikey = "ods-key" }, kandji = { token = "kandji-token" },
                  arthur = { access_token = "arthur-token" } }
  for k, v in pairs(creds[vendor]) do opts[k] = v end
  for k, v in pairs(extra or {}) do opts[k] = v end
  return userapi[vendor](opts)
end

-- Runs the iterator to its end or its error; returns what it gave and the error.
local function drain(iter)
  local got = {}
  local ok, err = pcall(function() for x in iter do got[#got + 1] = x end end)
  return got, (not ok) and err or nil
end

-- Runs `lua -e code` in a fresh process of the spec's interpreter; returns
-- its stdout lines and its peak RSS in MB.
local function measure(code)
  local env = proc.lua_env{ LIMITS_URL = url }
  local r = proc.run({ proc.lua, "-e", code .. [[
    local f = io.open("/proc/self/status")
    local hwm = f:read("a"):match("VmHWM:%s*(%d+)")
    print("hwm_mb " .. math.floor(hwm / 1024))]] }, env)
  assert.equal(0, r.code, r.err)
  return r.out, tonumber(r.out:match("hwm_mb (%d+)"))
end

local EXPORT_IN_CHILD = [[
  local userapi = require "userapi"
  local ods = userapi.opendatasoft{ base_url = os.getenv("LIMITS_URL") .. "/%s", apikey = "k", retries = false }
  local ok, err = pcall(function() for _ in ods:each_export_row() do end end)
  print("kind " .. tostring(not ok and err.kind))
]]

setup(function()
  local port = sim.free_port()
  local root = proc.root
  pid = sim.sh(("cd %s; env -u LD_PRELOAD lua5.4 spec/limits_server.lua %d >/tmp/limits_server.%d.log 2>&1 & echo $!")
    :format(root, port, port))
  url = "http://127.0.0.1:" .. port
  for _ = 1, 200 do
    local status = sim.session:request{ method = "GET", url = url .. "/_stats" }
    if status == 200 then return end
    core.sleep(25)
  end
  error("limits_server did not start")
end)

teardown(function()
  if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
end)

describe("a stream", function()
  it("ends with kind timeout at stream_timeout_ms when the server drips bytes", function()
    local rows, err = drain(client("opendatasoft", "drip_1", { stream_timeout_ms = 1000 }):each_export_row())
    assert.is_true(userapi.is_error(err))
    assert.equal("timeout", err.kind)
    assert.matches("stream_timeout_ms", tostring(err))
    assert.is_true(#rows <= 1)
    -- the server saw the client leave well before its own 8 s were over
    assert.is_true(stats("drip_1").ms < 4000, stats("drip_1").ms)
  end)

  it("takes stream_timeout_ms per call, over the client's option", function()
    local c = client("opendatasoft", "drip_2", { stream_timeout_ms = 3600000 })
    local _, err = drain(c:each_export_row{ stream_timeout_ms = 800 })
    assert.equal("timeout", err.kind)
    assert.is_true(stats("drip_2").ms < 4000, stats("drip_2").ms)
  end)

  it("ends with kind timeout when no byte arrives for idle_timeout_ms", function()
    local t0 = core.now()
    local rows, err = drain(client("opendatasoft", "silent_1", { idle_timeout_ms = 300 }):each_export_row())
    assert.equal("timeout", err.kind)
    assert.matches("idle_timeout_ms", tostring(err))
    assert.same({ { username = "ada", email = "ada@example.com" } }, rows)
    assert.is_true(core.now() - t0 < 4000) -- the server would have gone on after 5 s
  end)

  it("takes idle_timeout_ms per call, over the client's option", function()
    local c = client("opendatasoft", "silent_2", { idle_timeout_ms = 60000 })
    local rows, err = drain(c:each_export_row{ idle_timeout_ms = 300 })
    assert.equal("timeout", err.kind)
    assert.equal(1, #rows)
  end)

  it("caps an error body at max_body_bytes with kind too_large", function()
    local c = client("opendatasoft", "errorbody_" .. 64 * MiB, { max_body_bytes = MiB })
    local _, err = drain(c:each_export_row())
    assert.is_true(userapi.is_error(err))
    assert.equal("too_large", err.kind)
    assert.matches("max_body_bytes", tostring(err))
    -- the client left early: the socket buffers took some, not the rest
    assert.is_true(stats("errorbody_" .. 64 * MiB).bytes < 48 * MiB)
  end)

  it("reads a 1 GiB error body in under 100 MB of RSS (default max_body_bytes)", function()
    local out, hwm = measure(EXPORT_IN_CHILD:format("errorbody_" .. 1024 * MiB))
    assert.matches("kind too_large", out)
    assert.is_true(hwm < 100, hwm .. " MB")
  end)

  it("ends a CSV row longer than max_row_bytes (1 MiB by default) with kind too_large", function()
    local _, err = drain(client("opendatasoft", "endless_" .. 8 * MiB):each_export_row())
    assert.is_true(userapi.is_error(err))
    assert.equal("too_large", err.kind)
    assert.matches("max_row_bytes", tostring(err))
  end)

  it("takes max_row_bytes per call, and counts a quoted field that never closes", function()
    local c = client("opendatasoft", "endlessq_" .. 8 * MiB, { max_row_bytes = 4 * MiB })
    local _, err = drain(c:each_export_row{ max_row_bytes = 64 * 1024 })
    assert.equal("too_large", err.kind)
    assert.matches("65536", tostring(err))
  end)

  it("reads a row that never ends in little memory", function()
    local out, hwm = measure(EXPORT_IN_CHILD:format("endless_" .. 1024 * MiB))
    assert.matches("kind too_large", out)
    assert.is_true(hwm < 40, hwm .. " MB")
  end)

  it("refuses stream options that are not positive integers", function()
    local c = client("opendatasoft", "drip_3")
    assert.has_error(function() c:each_export_row{ idle_timeout_ms = 0 } end,
      "bad argument #1 to 'each_export_row' (idle_timeout_ms: positive integer expected, got 0)")
    assert.has_error(function() c:each_export_row{ max_row_bytes = -1 } end,
      "bad argument #1 to 'each_export_row' (max_row_bytes: positive integer expected, got -1)")
    assert.equal(0, stats("drip_3").requests)
  end)
end)

-- Each walk case runs one page at a time and with pages asked for ahead:
-- the bounds and the errors are the same.
for _, concurrency in ipairs{ 1, 4 } do
  -- the call's parameters with this concurrency; a scenario name of its own
  local function C(params)
    params.concurrency = concurrency
    return params
  end
  local function S(name)
    local base, n = name:match("^(%a+)_?(%d*)$")
    return base .. "_" .. (tonumber(n ~= "" and n or "0") * 10 + concurrency)
  end

  describe("paging (concurrency " .. concurrency .. ")", function()
    -- every page of pages() until it ends: the count of pages and the error
    local function walk(iter)
      local n, last
      for i, page, err in iter do
        if err then return n or 0, err, i end
        assert.truthy(page)
        n, last = i, i
      end
      return n or 0, nil, last
    end

    it("ends full pages forever at max_pages with kind paging (per call)", function()
      local n, err, i = walk(client("opendatasoft", S"fullpages_1"):pages(C{ limit = 10, max_pages = 20 }))
      assert.equal(20, n)
      assert.equal(21, i)
      assert.equal("paging", err.kind)
      assert.matches("max_pages", tostring(err))
      assert.equal(20, stats(S"fullpages_1").requests)
    end)

    it("takes max_pages from the client, and the call's over it", function()
      local _, err = drain(client("opendatasoft", S"fullpages_2", { max_pages = 15 }):each_user(C{ limit = 10 }))
      assert.is_true(userapi.is_error(err))
      assert.equal("paging", err.kind)
      assert.equal(15, stats(S"fullpages_2").requests)
      drain(client("opendatasoft", S"fullpages_3", { max_pages = 5 }):each_user(C{ limit = 10, max_pages = 8 }))
      assert.equal(8, stats(S"fullpages_3").requests)
    end)

    it("ends an offset walk past total_count", function()
      local users, err = drain(client("opendatasoft", S"pasttotal"):each_user(C{ limit = 100 }))
      assert.is_nil(err)
      assert.equal(300, #users)
      assert.equal(3, stats(S"pasttotal").requests)
    end)

    it("ends fresh cursors forever at max_pages", function()
      local n, err = walk(client("kandji", S"freshcursor", { max_pages = 25 }):pages(C{}))
      assert.equal(25, n)
      assert.equal("paging", err.kind)
      assert.equal(25, stats(S"freshcursor").requests)
    end)

    it("ends an ever-growing total_pages at max_pages", function()
      local n, err = walk(client("arthur", S"growing", { max_pages = 30 }):pages(C{}))
      assert.equal(30, n)
      assert.equal("paging", err.kind)
      assert.equal(30, stats(S"growing").requests)
    end)

    it("refuses a total_pages that is not a finite integer (1e400)", function()
      local n, err, i = walk(client("arthur", S"infinite"):pages(C{}))
      assert.equal(1, n)
      assert.equal(2, i)
      assert.equal("paging", err.kind)
      assert.matches("total_pages", tostring(err))
      assert.equal(1, stats(S"infinite").requests)
    end)

    it("refuses max_pages that is not a positive integer", function()
      local c = client("opendatasoft", "fullpages_4")
      assert.has_error(function() c:pages{ max_pages = 0 } end,
        "bad argument #1 to 'pages' (max_pages: positive integer expected, got 0)")
      assert.has_error(function() c:each_user{ max_pages = 1.5 } end,
        "bad argument #1 to 'each_user' (max_pages: positive integer expected, got 1.5)")
      assert.equal(0, stats("fullpages_4").requests)
    end)
  end)

  describe("data from a server (concurrency " .. concurrency .. ")", function()
    local CASES = {
      { "a float offset", "opendatasoft", "floatoffset", "offset" },
      { "a cursor with CR LF", "kandji", "crlfcursor", "cursor" },
      { "a cursor over 8 KiB", "kandji", "longcursor", "cursor" },
    }
    for _, case in ipairs(CASES) do
      local what, vendor, scenario, field = case[1], case[2], case[3], case[4]
      it("never raises bad argument: " .. what .. " ends pages() with i, nil, err", function()
        local iter = client(vendor, S(scenario .. "_1")):pages(C{})
        local i, page = iter()
        assert.equal(1, i)
        assert.truthy(page)
        local i2, page2, err = iter()
        assert.equal(2, i2)
        assert.is_nil(page2)
        assert.is_true(userapi.is_error(err))
        assert.equal("paging", err.kind)
        assert.matches(field, tostring(err))
        assert.not_matches("bad argument", tostring(err))
        assert.is_nil(iter())
        assert.equal(1, stats(S(scenario .. "_1")).requests)
      end)

      it("raises the structured error from each_user: " .. what, function()
        local users, err = drain(client(vendor, S(scenario .. "_2")):each_user(C{}))
        assert.is_true(#users >= 1)
        assert.is_true(userapi.is_error(err), tostring(err))
        assert.equal("paging", err.kind)
        assert.equal(1, stats(S(scenario .. "_2")).requests)
      end)
    end
  end)
end
