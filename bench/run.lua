-- make bench: the same scenarios through userapi and the peers a user would
-- pick instead, against a local nginx that is never the bottleneck; one
-- table of results, ratios to the C limit. usage: lua5.4 bench/run.lua
local socket = require "socket"

local ROOT = arg[0]:match("^(.*)/bench/run%.lua$") or "."
if ROOT:sub(1, 1) ~= "/" then ROOT = io.popen("cd " .. ROOT .. " && pwd"):read("*l") end
local BUILD = ROOT .. "/build/bench"

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("*a")
  local ok = p:close()
  return out, ok
end

local function must(cmd)
  local out, ok = sh(cmd)
  if not ok then error(cmd .. " failed:\n" .. out) end
  return out
end

local function free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

-- ---- build the C peers -----------------------------------------------------
must("mkdir -p " .. BUILD .. "/lua5.4 " .. BUILD .. "/luajit " .. BUILD .. "/tmp")
must(("cc -O2 -o %s/limit %s/bench/limit.c -lcurl"):format(BUILD, ROOT))
for _, l in ipairs({ { "lua5.4", "lua5.4" }, { "luajit", "luajit" } }) do
  must(("cc -O2 -shared -fPIC -o %s/%s/benchbare.so %s/bench/bare.c $(pkg-config --cflags %s) -lcurl")
    :format(BUILD, l[1], ROOT, l[2]))
end

-- ---- the server ------------------------------------------------------------
local port = free_port()
local conf = assert(io.open(ROOT .. "/bench/nginx.conf.in")):read("*a")
conf = conf:gsub("@PREFIX@", BUILD):gsub("@ROOT@", ROOT):gsub("@PORT@", tostring(port))
local f = assert(io.open(BUILD .. "/nginx.conf", "w"))
f:write(conf)
f:close()
must(("BENCH_DELAY_MS=5 BENCH_USERS=1000000 /usr/sbin/nginx -p %s -c %s/nginx.conf"):format(BUILD, BUILD))
local pid = must("sleep 0.3; cat " .. BUILD .. "/nginx.pid"):gsub("%s+$", "")
local BASE = ("http://127.0.0.1:%d/ods/api/automation/v1.0"):format(port)

local results = {}

local function run_once(peer, cmd, scenario, n, conc)
  local env = ("LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua;%s/bench/?.lua;;' "):format(ROOT, ROOT, ROOT)
  local lua = cmd:match("^(%S+)")
  local cpath = (lua == "luajit") and "luajit" or "lua5.4"
  env = env .. ("LUA_CPATH='%s/build/%s/?.so;%s/%s/?.so;;' "):format(ROOT, cpath, BUILD, cpath)
  local out, ok = sh(("%s%s %s %s %d %d"):format(env, cmd, scenario, BASE, n, conc or 1))
  local secs, extra = out:match("RESULT %S+ ([%d%.]+) %d+ ?(%S*)")
  if not ok or not secs then
    io.stderr:write(("%s %s failed: %s\n"):format(peer, scenario, out))
    return
  end
  local key = scenario .. (conc and conc > 1 and ("@" .. conc) or "")
  results[key] = results[key] or {}
  local old = results[key][peer]
  -- the best of the repeats: noise on a shared machine only ever adds time
  if not old or tonumber(secs) < old.secs then
    results[key][peer] = { secs = tonumber(secs), n = n, extra = tonumber(extra) }
  end
  io.stderr:write(("  %-10s %-14s %8.3f s %s\n"):format(key, peer, tonumber(secs), extra or ""))
end

local run = run_once

local PEERS = {
  { "C limit", BUILD .. "/limit" },
  { "userapi 5.4", "lua5.4 " .. ROOT .. "/bench/userapi_peer.lua" },
  { "userapi jit", "luajit " .. ROOT .. "/bench/userapi_peer.lua" },
  { "bare 5.4", "lua5.4 " .. ROOT .. "/bench/bare_peer.lua" },
  { "python urllib3", "/usr/bin/python3 " .. ROOT .. "/bench/peer.py" },
  { "luasocket", "lua5.4 " .. ROOT .. "/bench/luasocket_peer.lua" },
}

local ok, err = pcall(function()
  io.stderr:write("warming the server's page cache\n")
  run("warmup", BUILD .. "/limit", "S2", 50000)
  run("ceiling", BUILD .. "/limit", "ceiling", 20000, 64)
  -- interleaved repeats: a slow moment of the machine hits every peer alike
  for _ = 1, 5 do
    for _, p in ipairs(PEERS) do run_once(p[1], p[2], "S1", 2000) end
  end
  for _ = 1, 5 do
    for _, p in ipairs(PEERS) do run_once(p[1], p[2], "S2", 50000) end
  end
  for _, p in ipairs(PEERS) do run(p[1], p[2], "S3", 1000, 1) end
  for _, p in ipairs(PEERS) do
    if not p[1]:find("bare") and p[1] ~= "luasocket" then run(p[1], p[2], "S3", 1000, 32) end
  end
  for _, p in ipairs({ PEERS[2], PEERS[3] }) do
    run(p[1], p[2], "S4", 100000, 1)
    results["S4-100k"] = results["S4-100k"] or {}
    results["S4-100k"][p[1]] = results.S4[p[1]]
    run(p[1], p[2], "S4", 1000000, 1)
  end
  -- OpenResty: a client nginx worker driving this server (bench/openresty.lua)
  io.stderr:write("OpenResty: one worker, userapi beside a hand-written cosocket GET\n")
  results.openresty = dofile(ROOT .. "/bench/openresty.lua"){ root = ROOT, build = BUILD, base = BASE,
    must = must, sh = sh, free_port = free_port }
end)
os.execute("kill " .. pid)
if not ok then error(err) end

-- ---- the table -------------------------------------------------------------
local function rate(r) return r and r.n / r.secs end
local lines = {}
local function row(...) lines[#lines + 1] = "| " .. table.concat({ ... }, " | ") .. " |" end
local names = { "C limit", "userapi 5.4", "userapi jit", "bare 5.4", "python urllib3", "luasocket" }
row("scenario", table.unpack(names))
row("---", "---", "---", "---", "---", "---", "---")
local function scenario_row(label, key, unit)
  local limit = rate(results[key] and results[key]["C limit"])
  local cells = {}
  for i, name in ipairs(names) do
    local r = results[key] and results[key][name]
    if not r then cells[i] = "" else
      local v = rate(r)
      cells[i] = ("%.0f %s"):format(v, unit) .. (limit and (" (%.2fx)"):format(v / limit) or "")
    end
  end
  row(label, table.unpack(cells))
end
scenario_row("S1 2,000 get_user + decode, sequential", "S1", "calls/s")
scenario_row("S2 walk 50,000 users, pages of 100", "S2", "users/s")
scenario_row("S3 1,000 deletes, 5 ms latency, concurrency 1", "S3", "calls/s")
scenario_row("S3 1,000 deletes, 5 ms latency, concurrency 32", "S3@32", "calls/s")
local s4 = {}
for i, name in ipairs(names) do
  local a, b = results["S4-100k"] and results["S4-100k"][name], results.S4 and results.S4[name]
  s4[i] = (a and b) and ("%.1f MB at 100k, %.1f MB at 1M"):format(a.extra / 1024, b.extra / 1024) or ""
end
row("S4 peak RSS walking users, pages of 1,000", table.unpack(s4))
local s5 = {}
for i, name in ipairs(names) do
  local u, bare = results.S1 and results.S1[name], results.S1 and results.S1["bare 5.4"]
  if name:find("userapi") and u and bare then
    s5[i] = ("%+.1f µs per call vs bare"):format((u.secs - bare.secs) / u.n * 1e6)
  else s5[i] = "" end
end
row("S5 Lua layer overhead per call (S1)", table.unpack(s5))
local ceiling = results["ceiling@64"] and results["ceiling@64"]["ceiling"]
local ideal = 1000 / 32 * 5 / 1000
local s2 = results.S2 or {}
local function vs_bare(name)
  return (s2[name] and s2["bare 5.4"]) and ("%.2fx"):format(s2["bare 5.4"].secs / s2[name].secs) or "?"
end
local function secs(key, name) return results[key] and results[key][name] and results[key][name].secs or 0 end
local notes = {
  ("S2 against the bare same stack: userapi 5.4 %s, userapi jit %s.")
    :format(vs_bare("userapi 5.4"), vs_bare("userapi jit")),
  ("Server ceiling (C limit, 64 concurrent GETs): %.0f req/s.")
    :format(ceiling and rate(ceiling) or 0),
  ("S3 at concurrency 32: ideal %.3f s, userapi %.3f s (%.2fx the ideal), Python thread pool %.3f s.")
    :format(ideal, secs("S3@32", "userapi 5.4"), secs("S3@32", "userapi 5.4") / ideal,
            secs("S3@32", "python urllib3")),
}
local o = results.openresty
if o and o.userapi and o.handmade then
  local line = ("OpenResty (one worker, %d get_user + decode, best of 5): worker CPU %.1f µs per call through"
    .. " userapi, %.1f µs through a hand-written cosocket GET (%.2fx)"):format(o.calls, o.userapi, o.handmade,
    o.userapi / o.handmade)
  if o.userapi_instructions then
    line = line .. ("; instructions per call (callgrind) %.0fk and %.0fk (%.2fx)"):format(o.userapi_instructions / 1000,
      o.handmade_instructions / 1000, o.userapi_instructions / o.handmade_instructions)
  end
  notes[#notes + 1] = line .. "."
end
local text = table.concat(lines, "\n") .. "\n\n" .. table.concat(notes, "\n") .. "\n"
print(text)
local out = io.open(BUILD .. "/results.md", "w")
out:write(text)
out:close()
os.execute("lua5.4 " .. ROOT .. "/bench/walk.lua") -- issue 16.1: the walk that hides latency
