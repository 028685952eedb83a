-- Fork safety (issue 12.1): a client used by the nginx master (libcurl, in
-- init_by_lua) and then by each worker after the fork. No worker may use a
-- curl handle or a connection it inherited: every answer is the one asked
-- for, and no worker stalls on a socket another process reads.
local core = require "userapi.core"
local json = require "userapi.json"
local sim = require "spec.helper"
local sh, free_port = sim.sh, sim.free_port

local ROOT = debug.getinfo(1, "S").source:match("^@(.*)/spec/fork_spec%.lua$") or "."
if ROOT:sub(1, 1) ~= "/" then ROOT = io.popen("pwd"):read("*l") .. "/" .. ROOT end

local KANDJI_GEN = "20000000-0000-4000-8000-%012d" -- the simulator's generated Kandji ids

local CONF = [[
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
worker_processes @WORKERS@;
daemon on;
pid @PREFIX@/nginx.pid;
error_log @PREFIX@/error.log warn;
env USERAPI_SIM_URL;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path @PREFIX@/tmp;
    proxy_temp_path @PREFIX@/tmp;
    fastcgi_temp_path @PREFIX@/tmp;
    uwsgi_temp_path @PREFIX@/tmp;
    scgi_temp_path @PREFIX@/tmp;
    lua_package_path "@PREFIX@/?.lua;@ROOT@/lua/?.lua;@ROOT@/lua/?/init.lua;;";
    lua_package_cpath "@ROOT@/build/luajit/?.so;;";
    lua_shared_dict results 1m;
    init_by_lua_block { require("forkapp").master() }
    init_worker_by_lua_block { require("forkapp").worker(@CALLS@) }
    server {
        listen 127.0.0.1:@PORT@ reuseport;  # the kernel spreads connections over every worker
        location = /results { content_by_lua_block { require("forkapp").results() } }
        location = /ask { content_by_lua_block { ngx.say("ok") } log_by_lua_block { require("forkapp").ask() } }
    }
}
]]

-- The nginx side: one client for the whole nginx, made and used in the master.
local APP = [[
local userapi = require "userapi"
local json = require "userapi.json"
local _M = {}
local client
local GEN = "]] .. KANDJI_GEN .. [["

function _M.master()
  client = userapi.kandji{ base_url = os.getenv("USERAPI_SIM_URL") .. "/kandji", token = "kandji-test-token",
                           transport = "curl", retries = false, rate_limit = false, timeout_ms = 3000 }
  -- the master's request leaves a kept-alive connection in the client's pool
  assert(client:get_user("69c009ca-1f78-4bdf-bb93-08d6d39041db"))
end

local function check(id)
  local u, err = client:get_user(id)
  if not u then return "error", tostring(err) end
  return u.id == id and "right" or "wrong"
end

-- Each worker asks for `calls` distinct users and tallies the answers.
function _M.worker(calls)
  if calls == 0 then return end
  local w, dict = ngx.worker.id(), ngx.shared.results
  ngx.update_time()
  local t0, tally = ngx.now(), { right = 0, wrong = 0, error = 0 }
  for i = 1, calls do
    local outcome, msg = check(GEN:format(w * calls + i))
    tally[outcome] = tally[outcome] + 1
    if msg then tally.last_error = msg end
  end
  ngx.update_time()
  tally.ms = math.floor((ngx.now() - t0) * 1000)
  tally.pid = ngx.worker.pid()
  dict:set("worker" .. w, json.encode(tally))
end

-- log phase: the answer for ?k=K is recorded under K, with the worker's pid
function _M.ask()
  local k = tonumber(ngx.var.arg_k)
  ngx.update_time()
  local t0 = ngx.now()
  local outcome = check(GEN:format(k))
  ngx.update_time()
  ngx.shared.results:set("ask" .. k, json.encode{ outcome = outcome, pid = ngx.worker.pid(),
                                                    ms = math.floor((ngx.now() - t0) * 1000) })
end

function _M.results()
  local out = {}
  for _, key in ipairs(ngx.shared.results:get_keys(0)) do
    out[key] = json.decode(ngx.shared.results:get(key))
  end
  ngx.say(json.encode(out))
end

return _M
]]

-- Starts nginx with `workers` workers, each making `calls` calls at start;
-- returns its base URL and a function that stops it by its pid.
local function start_nginx(workers, calls)
  local prefix = sh("mktemp -d /tmp/userapi-fork.XXXXXX")
  os.execute("mkdir -p " .. prefix .. "/tmp " .. prefix .. "/logs")
  local port = free_port()
  local vars = { PREFIX = prefix, ROOT = ROOT, PORT = port, WORKERS = workers, CALLS = calls }
  local f = assert(io.open(prefix .. "/nginx.conf", "w"))
  f:write((CONF:gsub("@(%u+)@", function(k) return tostring(vars[k]) end)))
  f:close()
  f = assert(io.open(prefix .. "/forkapp.lua", "w"))
  f:write(APP)
  f:close()
  local out = sh(("env -u LD_PRELOAD USERAPI_SIM_URL=%s /usr/sbin/nginx -p %s -c %s/nginx.conf 2>&1; echo rc=$?")
    :format(sim.url, prefix, prefix))
  assert(out:find("rc=0", 1, true), "nginx did not start: " .. out)
  local function stop()
    local pid = io.open(prefix .. "/nginx.pid")
    if pid then
      os.execute("kill " .. pid:read("*l"))
      pid:close()
    end
    os.execute("sleep 0.2; rm -rf " .. prefix)
  end
  return "http://127.0.0.1:" .. port, stop
end

-- Polls the results until `done(results)` or the deadline (ms).
local function results(session, url, done, deadline_ms)
  local t0, res = core.now(), {}
  while core.now() - t0 < deadline_ms do
    local status, body = session:request{ method = "GET", url = url .. "/results" }
    if status == 200 then
      res = json.decode(body)
      if done(res) then break end
    end
    core.sleep(50)
  end
  return res
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

describe("a client made before nginx forks its workers #nginx", function()
  local session

  setup(function()
    sim.reset()
    sim.control("POST", "seed", { vendor = "kandji", count = 400 })
    session = core.session{ timeout_ms = 10000 }
  end)

  it("serves 4 workers x 50 calls in init_worker_by_lua, each answer the one asked for, none stalled", function()
    local url, stop = start_nginx(4, 50)
    local ok, err = pcall(function()
      -- a stalled worker ends its calls with 3 s timeouts: 15 s is ample
      local res = results(session, url, function(r) return count(r) == 4 end, 15000)
      local pids = {}
      for w = 0, 3 do
        local t = res["worker" .. w]
        assert(t, "worker " .. w .. " did not report")
        assert.same({ w = w, right = 50, wrong = 0, error = 0 },
                    { w = w, right = t.right, wrong = t.wrong, error = t.error }, t.last_error)
        assert.is_true(t.ms < 2000, "worker " .. w .. " took " .. t.ms .. " ms")
        pids[t.pid] = true
      end
      assert.equal(4, count(pids))
    end)
    stop()
    assert(ok, err)
  end)

  it("serves 2 workers in log_by_lua (transport = \"curl\"), each answer the one asked for", function()
    local url, stop = start_nginx(2, 0)
    local ok, err = pcall(function()
      -- 40 requests at once spread over both workers; each worker answers
      -- its request first, then asks the vendor from the log phase
      local m = session:multi()
      for k = 1, 40 do m:add{ method = "GET", url = url .. "/ask?k=" .. k } end
      while m:pending() > 0 do
        for _, r in ipairs(m:wait(1000)) do assert.equal(200, r.status, tostring(r.err)) end
      end
      m:close()
      local res = results(session, url, function(r) return count(r) == 40 end, 15000)
      local pids = {}
      for k = 1, 40 do
        local r = res["ask" .. k]
        assert(r, "no answer for request " .. k)
        assert.equal("right", r.outcome, "request " .. k)
        assert.is_true(r.ms < 2000, "request " .. k .. " took " .. r.ms .. " ms")
        pids[r.pid] = true
      end
      assert.equal(2, count(pids), "both workers served")
    end)
    stop()
    assert(ok, err)
  end)
end)

-- The same in plain Lua, where a program forks itself (lua-posix: LuaJIT's
-- build only in Debian): the child abandons the parent's handles, a transfer
-- running at the fork ends in the child as "aborted", and the parent's goes on.
local has_posix, unistd = pcall(require, "posix.unistd")
local wait = has_posix and require("posix.sys.wait")

describe("a session and a multi used across fork()", function()
  local BEARER = { scheme = "bearer", token = "kandji-test-token" }
  local USERS = sim.url .. "/kandji/api/v1/users/"
  local ADA, ALAN = "69c009ca-1f78-4bdf-bb93-08d6d39041db", "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

  -- the child's checks, as an exit code: 0 when all hold
  local function in_child(s, m, running)
    local r = m:wait(10)[1]
    if not (r and r.id == running and r.err and r.err.kind == "aborted") then return 1 end
    local status, body = s:request{ method = "GET", url = USERS .. ALAN }
    if status ~= 200 or json.decode(body).id ~= ALAN then return 2 end
    local id = m:add{ method = "GET", url = USERS .. ADA }
    repeat r = m:wait(1000)[1] until r
    if r.id ~= id or r.status ~= 200 or json.decode(r.body).id ~= ADA then return 3 end
    m:close()
    s:close()
    return 0
  end

  local run = has_posix and it or pending
  run("gives the child fresh handles and leaves the parent's connections and transfers alone", function()
    sim.reset()
    sim.fault{ match = { vendor = "kandji", path = "/kandji/api/v1/users/" .. ADA }, delay_ms = 500 }
    local s = core.session{ auth = BEARER, timeout_ms = 5000 }
    assert.equal(200, (s:request{ method = "GET", url = USERS .. ALAN }))
    local m = s:multi()
    local running = m:add{ method = "GET", url = USERS .. ADA }
    m:wait(50) -- the slow transfer is on the wire
    local before = sim.stats().connections_accepted
    local pid = unistd.fork()
    if pid == 0 then unistd._exit(in_child(s, m, running)) end
    local _, how, code = wait.wait(pid)
    assert.same({ "exited", 0 }, { how, code })
    -- the child opened connections of its own
    local after = sim.stats().connections_accepted
    assert.is_true(after - before >= 1, "the child reused the parent's connection")
    local r
    repeat r = m:wait(1000)[1] until r
    assert.same({ running, 200, ADA }, { r.id, r.status, json.decode(r.body).id })
    local status, body = s:request{ method = "GET", url = USERS .. ALAN }
    assert.same({ 200, ALAN }, { status, json.decode(body).id })
    m:close()
    s:close()
  end)
end)
