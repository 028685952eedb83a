-- userapi inside nginx (lua-nginx-module, LuaJIT): the same behaviour as
-- under plain Lua, without blocking the worker, over kept-alive connections.
local core = require "userapi.core"
local json = require "userapi.json"
local userapi = require "userapi"
local sim = require "spec.helper"
local cases = require "spec.shared_cases"

local run = require "spec.nginx.run"
local ROOT, start_nginx = run.ROOT, run.start

describe("userapi in nginx #nginx", function()
  local url, stop, session

  setup(function()
    sim.reset()
    url, stop = start_nginx("spec/nginx/nginx.conf.in", "nginx.pid", run.filler())
    session = core.session{ timeout_ms = 10000 }
    for _ = 1, 100 do
      if session:request{ method = "GET", url = url .. "/timer" } then break end
      core.sleep(20)
    end
  end)

  teardown(function() stop() end)

  local function get(path)
    local status, body = session:request{ method = "GET", url = url .. path }
    assert(status, body)
    return status, json.decode(body)
  end

  it("behaves as under plain Lua: operations, iterators, bulk, export, errors", function()
    for _, name in ipairs(cases.names) do
      sim.reset()
      local plain = json.decode(json.encode(cases[name](cases.clients(userapi, sim.url))))
      sim.reset()
      local status, in_nginx = get("/case?name=" .. name)
      assert.equal(200, status, name .. ": " .. tostring(in_nginx and in_nginx.error))
      assert.same(plain, in_nginx, name)
    end
  end)

  it("uses cosockets in request handlers", function()
    local _, res = get("/lookup?id=69c009ca-1f78-4bdf-bb93-08d6d39041db")
    assert.equal("ada@example.com", res.email)
    assert.equal("nginx", res.transport)
  end)

  it("walks all users from a timer", function()
    local res
    for _ = 1, 100 do
      _, res = get("/timer")
      if res.walked or res.error then break end
      core.sleep(20)
    end
    assert.is_nil(res.error)
    assert.is_true(res.walked > 0)
  end)

  it("does not block the worker: 20 requests complete while one waits 1 s on the vendor", function()
    sim.reset()
    sim.fault{ match = { vendor = "kandji", query = "email=slow" }, delay_ms = 1000 }
    local m = session:multi()
    local t0 = core.now()
    local slow = m:add{ method = "GET", url = url .. "/slow" }
    -- the multi sends while it waits: then the slow request waits inside the worker
    assert.same({}, m:wait(100))
    local fast = {}
    for _ = 1, 20 do
      local t = core.now()
      local status = session:request{ method = "GET", url = url .. "/lookup?id=69c009ca-1f78-4bdf-bb93-08d6d39041db" }
      assert.equal(200, status)
      fast[#fast + 1] = core.now() - t
    end
    local all_fast_done = core.now() - t0
    local slow_done
    while not slow_done do
      for _, r in ipairs(m:wait(2000)) do
        if r.id == slow then slow_done = core.now() - t0 end
      end
    end
    m:close()
    table.sort(fast)
    assert.is_true(fast[#fast] < 300, "slowest fast request took " .. fast[#fast] .. " ms")
    assert.is_true(all_fast_done < 900, "20 requests took " .. all_fast_done .. " ms")
    assert.is_true(slow_done >= 1000, "the slow one took " .. slow_done .. " ms")
  end)

  -- the list requests of the simulator's log: the pages a walk fetched
  local function list_requests()
    local n = 0
    for _, r in ipairs(sim.requests()) do if r.op == "list_users" then n = n + 1 end end
    return n
  end

  it("runs the example config of examples/nginx (4 workers): a lookup endpoint, worker 0 walking all users", function()
    sim.reset()
    for _ in userapi.kandji{ base_url = sim.base.kandji, token = "kandji-test-token" }:each_user() do end
    local one_walk = list_requests()
    sim.reset()
    -- as examples/nginx/run.sh runs it: a prefix linking the checkout, open to the workers
    local base, stop_example = start_nginx("examples/nginx/nginx.conf", "logs/nginx.pid", function(conf, prefix, port)
      assert(os.execute("chmod 755 " .. prefix))
      for _, d in ipairs({ "lua", "build", "examples" }) do
        assert(os.execute(("ln -s %s/%s %s/%s"):format(ROOT, d, prefix, d)))
      end
      return (conf:gsub("127%.0%.0%.1:8090", "127.0.0.1:" .. port))
    end)
    local ok, err = pcall(function()
      local status, body
      local ada, nobody = "/users/kandji/69c009ca-1f78-4bdf-bb93-08d6d39041db",
                          "/users/kandji/00000000-0000-0000-0000-000000000000"
      for _ = 1, 100 do
        status, body = session:request{ method = "GET", url = base .. ada }
        if status then break end
        core.sleep(20)
      end
      assert.equal(200, status)
      assert.equal("ada@example.com", json.decode(body).email)
      assert.equal(404, (session:request{ method = "GET", url = base .. nobody }))
      for _ = 1, 100 do
        body = select(2, session:request{ method = "GET", url = base .. "/sync" })
        if not body:find("not yet", 1, true) then break end
        core.sleep(20)
      end
      assert.equal("kandji users at last walk: " .. math.floor(sim.state("kandji").count), body:gsub("%s+$", ""))
      core.sleep(300) -- time for any other worker's walk to show
      assert.equal(one_walk, list_requests())
    end)
    stop_example()
    assert(ok, err)
  end)

  it("keeps connections alive: 100 lookups open only a handful of connections to the vendor", function()
    sim.reset()
    local before = sim.stats().connections_accepted
    local lookup = url .. "/lookup?id=69c009ca-1f78-4bdf-bb93-08d6d39041db"
    for _ = 1, 100 do assert.equal(200, (session:request{ method = "GET", url = lookup })) end
    local opened = sim.stats().connections_accepted - before
    assert.is_true(opened <= 3, opened .. " connections for 100 lookups")
  end)
end)
