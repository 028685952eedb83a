-- Exercises every C path (success, transport errors, raised argument errors,
-- sinks that raise, multis closed mid-flight, garbage-collected handles) for
-- `make memcheck` to run under valgrind, where busted itself would be slow.
package.path = "lua/?.lua;lua/?/init.lua;./?.lua;" .. package.path
local core = require "userapi.core"
local sim = require "spec.helper"

local KANDJI = sim.url .. "/kandji/api/v1/users"
local auths = {
  { scheme = "bearer", token = "kandji-test-token" },
  { scheme = "basic", user = "u", password = "p" },
  { scheme = "apikey", key = "k k", ["in"] = "query" },
  { scheme = "apikey", key = "k" },
}

for round = 1, 3 do
  for _, auth in ipairs(auths) do
    local s = core.session{ auth = auth, user_agent = "memcheck", proxy = "", timeout_ms = 2000 }
    assert(s:request{ method = "GET", url = KANDJI, query = { a = { "1", "2" }, b = true, c = 1.5 },
                      headers = { ["X-A"] = "1", ["X-Empty"] = "" } })
    assert(s:request{ method = "POST", url = KANDJI, body = ("x"):rep(10000) })
    assert(not s:request{ method = "GET", url = "http://127.0.0.1:1/" })
    -- each raises after part of the request is built
    for _, bad in ipairs({
      { method = "GET", url = KANDJI, query = { a = "ok", b = "x\ny" } },
      { method = "GET", url = KANDJI, headers = { A = "1", B = "x\ny" } },
      { method = "GET", url = KANDJI, headers = { A = "1" }, timeout_ms = "x" },
      { method = "GET", url = KANDJI, query = { a = { "1", {} } } },
    }) do assert(not pcall(s.request, s, bad)) end
    if auth.scheme == "bearer" then -- the sink only sees 2xx bodies
      assert(not pcall(s.request, s, { method = "GET", url = KANDJI, sink = function() error("x") end }))
      assert(s:request{ method = "GET", url = KANDJI, sink = function() return false end } == nil)
      local m = s:multi()
      local id = m:add{ method = "GET", url = KANDJI, stream = true }
      repeat
        local chunk, done = m:read(id)
        if not done then m:wait(100) end
      until done or not chunk
      m:close()
    end
    s:set_auth{ scheme = "bearer", token = "t" .. round }
    assert(not pcall(s.set_auth, s, { scheme = "bearer", token = "a\nb" }))
    local m = s:multi()
    for i = 1, 10 do m:add{ method = "GET", url = KANDJI, query = { i = i } } end
    assert(not pcall(m.add, m, { method = "GET", url = KANDJI, headers = { A = "\n" } }))
    local done = 0
    while m:pending() > 0 do done = done + #m:wait(1000) end
    assert(done == 10)
    -- left running: close must tear the transfers down
    for _ = 1, 5 do m:add{ method = "GET", url = KANDJI } end
    m:wait(1)
    if round == 1 then m:close() end
    if round == 2 then s:close() end -- the multi keeps the pool alive
  end
  -- the hardened paths: idle and total deadlines, a capped stream error
  -- body, refused numbers and credentials, a header past curl's limit
  sim.fault{ match = { path = "/kandji/api/v1/users/slow" }, delay_ms = 3000 }
  local s = core.session{ auth = auths[1], idle_timeout_ms = 1000, max_body_bytes = 2 ^ 16 }
  assert(not s:request{ method = "GET", url = KANDJI .. "/slow", sink = function() end })
  sim.fault{ match = { path = "/kandji/api/v1/users/nobody" }, huge_bytes = 2 ^ 18 }
  local m = s:multi()
  local id = m:add{ method = "GET", url = KANDJI .. "/nobody", stream = true, timeout_ms = 5000 }
  repeat
    local chunk, done = m:read(id)
    if chunk == "" then m:wait(100) end
  until chunk == nil or done
  m:close()
  sim.fault{ match = { path = "/kandji/api/v1/users" }, headers = { ["X-Big"] = ("h"):rep(200000) } }
  assert(not s:request{ method = "GET", url = KANDJI })
  assert(not pcall(core.url, "http://h/", { n = 0 / 0 }))
  assert(core.url("http://h/", { a = 0.1, b = 1e300 }) == "http://h/?a=0.1&b=1e%2B300")
  assert(not pcall(core.session, { auth = { scheme = "basic", user = "u", password = "p\tq" } }))
  s:close()
  assert(core.url("http://h/", { z = "é", a = { 1, 2 } }))
  assert(not pcall(core.url, "http://h/", { a = "\r" }))
  assert(core.escape(("\0\255/"):rep(100)))
  -- never sent: a proxy libcurl refuses, a URL it cannot parse (a session and
  -- a multi each); many header lines (their buffers grow); URL handle reuse
  -- across origins and the parts that force a whole parse
  local refused = core.session{ proxy = "http://u:p@ho^st:1" }
  assert(not refused:request{ method = "GET", url = KANDJI })
  local rm = refused:multi()
  rm:add{ method = "GET", url = KANDJI }
  rm:add{ method = "GET", url = KANDJI, stream = true }
  assert(#rm:wait(100) == 1)
  rm:close()
  refused:close()
  local many = {}
  for i = 1, 40 do many["X-H" .. i] = ("v"):rep(i * 10) end
  s = core.session{ auth = auths[1] }
  assert(s:request{ method = "GET", url = KANDJI, headers = many })
  assert(not s:request{ method = "GET", url = "http://[zz]/x" })
  assert(s:request{ method = "GET", url = KANDJI .. "/a%3Bb/../x#f" })
  assert(s:request{ method = "GET", url = (KANDJI:gsub("127%.0%.0%.1", "localhost")) })
  local um = s:multi()
  um:add{ method = "GET", url = "http://" }
  um:add{ method = "GET", url = KANDJI, headers = many }
  local got = 0
  while um:pending() > 0 do got = got + #um:wait(1000) end
  assert(got == 2)
  um:close()
  s:close()
  assert(core.may_hold_empty_array('{"a":[ \n]}') and not core.may_hold_empty_array('{"a":[1]}'))
  assert(core.is_unreserved("user0000123") and not core.is_unreserved("a/b") and not core.is_unreserved(42))
  core.set_error_mt({ __index = {} })
  collectgarbage()
end
collectgarbage()
collectgarbage()
print("memcheck: ok")
