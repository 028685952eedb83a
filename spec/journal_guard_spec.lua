-- The journal's promises as users meet them (issue 19, items 1-5): one
-- tenant and one job per journal (two simulators, two credentials), a file
-- opened safely (symbolic links, a FIFO, a planted PATH.tmp, another user's
-- file), one run at a time (two processes), 5xx sent again, hostile lines.
local cjson = require "cjson"
local core = require "userapi.core"
local sim = require "spec.helper"
local proc = require "spec.proc"
local h = require "spec.cli_helper"

local ID = "20000000-0000-4000-8000-%012d"

local function ids(n)
  local t = {}
  for k = 1, n do t[k] = ID:format(k) end
  return t
end

local function kandji(extra)
  local opts = { rate_limit = false }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return sim.client("kandji", opts)
end

local function count(method)
  local n = 0
  for _, r in ipairs(sim.requests()) do if r.method == method then n = n + 1 end end
  return n
end

local sh_ok, write = proc.sh_ok, proc.write
local function scratch() return proc.scratch("guard") end

local function child(journal, n, what)
  local env = proc.lua_env()
  return ("cd %s && LUA_PATH=%s LUA_CPATH=%s %s spec/journal_child.lua %s %s %d %s"):format(
    proc.quote(proc.root), proc.quote(env.LUA_PATH), proc.quote(env.LUA_CPATH), proc.lua, sim.url,
    proc.quote(journal), n, what or "delete")
end

-- inside a case only the recorded requests are forgotten: a reset would drop the seeded users
local function forget_requests() sim.control("DELETE", "requests") end

before_each(function()
  sim.reset()
  sim.control("POST", "seed", { vendor = "kandji", count = 20 })
end)

describe("a journal belongs to one tenant and one job", function()
  it("a staging journal reused against production: exit 2, nothing sent, production keeps its users", function()
    -- staging is a second simulator, production the suite's
    local staging = sim.spawn(sim.root .. "/sim/server.lua")
    finally(staging.stop)
    local session = core.session{ timeout_ms = 10000 }
    assert.equal(200, (session:request{ method = "POST", url = staging.url .. "/_sim/seed",
      body = cjson.encode({ vendor = "kandji", count = 20 }), headers = { ["Content-Type"] = "application/json" } }))
    local journal = scratch() .. "/offboard.journal"
    local stdin = table.concat(ids(20), "\n") .. "\n"
    local function argv(base_url)
      return { "kandji", "delete_user", "--each", "-", "--journal", journal, "-o", "jsonl", "--base-url", base_url }
    end
    local code, _, err = h.run(argv(staging.url .. "/kandji"), { stdin = stdin })
    assert.equal(0, code, err)
    assert.equal("20 ok, 0 failed\n", err)

    code, _, err = h.run(argv(sim.base.kandji), { stdin = stdin })
    assert.equal(2, code)
    assert.truthy(err:find("journal " .. journal .. " belongs to another tenant or job: written for kandji "
      .. "delete_user at " .. staging.url .. "/kandji", 1, true), err)
    assert.truthy(err:find(", not kandji delete_user at " .. sim.base.kandji, 1, true), err)
    assert.equal(0, count("DELETE"))
    assert.equal(25, sim.state("kandji").count)
  end)

  it("another credential on the same base URL is another tenant", function()
    local journal = scratch() .. "/two-credentials.journal"
    assert.equal(2, kandji():bulk("get_user", ids(2), { journal = journal }).ok)
    forget_requests()
    sim.refuses("belongs to another tenant or job", function()
      kandji{ token = "another-tenant-token" }:bulk("get_user", ids(2), { journal = journal })
    end, true)
    -- and another operation of the same tenant is another job
    sim.refuses("written for kandji get_user at " .. sim.base.kandji, function()
      kandji():bulk("delete_user", ids(2), { journal = journal })
    end, true)
  end)

  it("a journal without the tenant (written before it was recorded) is refused", function()
    local journal = write(scratch() .. "/v1.journal",
      '{"userapi_journal":1,"vendor":"kandji","operation":"delete_user"}\n', "600")
    sim.refuses("bad argument #3 to 'bulk' (journal " .. journal .. " was written by an older userapi that did not "
      .. "record the tenant: finish it with that version or remove it)",
      function() kandji():bulk("delete_user", ids(1), { journal = journal }) end)
  end)
end)

describe("a journal is opened safely", function()
  it("refuses a symbolic link: the file it points to is not touched", function()
    local dir = scratch()
    local victim = write(dir .. "/victim", "precious\n", "600")
    assert(sh_ok(("ln -s %s %s/link.journal"):format(victim, dir)))
    sim.refuses("bad argument #3 to 'bulk' (journal " .. dir .. "/link.journal is a symbolic link: name the file "
      .. "itself)", function() kandji():bulk("delete_user", ids(1), { journal = dir .. "/link.journal" }) end)
    assert.equal("precious\n", proc.slurp(victim))
  end)

  it("refuses a FIFO at once, where the open blocked forever", function()
    local fifo = scratch() .. "/fifo.journal"
    assert(sh_ok("mkfifo " .. fifo))
    local started = core.now()
    local r = proc.run(nil, nil, nil, "timeout 20 sh -c " .. proc.quote(child(fifo, 1)))
    assert.is_true(core.now() - started < 10000, "blocked until the timeout")
    assert.equal(1, r.code, r.err)
    assert.truthy(r.err:find(fifo .. " is not a regular file", 1, true), r.err)
    assert.equal(0, #sim.requests())
  end)

  it("refuses another user's journal, one group or others may use, a device", function()
    local dir = scratch()
    local journal = dir .. "/shared.journal"
    assert.equal(1, kandji():bulk("delete_user", ids(1), { journal = journal }).ok)
    forget_requests()
    for _, mode in ipairs({ "644", "660", "606" }) do
      os.execute("chmod " .. mode .. " " .. journal)
      sim.refuses(("journal %s may be read or changed by group or others (mode %s): run chmod 600 %s"):format(
        journal, mode, journal), function() kandji():bulk("delete_user", ids(2), { journal = journal }) end, true)
    end
    os.execute("chmod 600 " .. journal)
    if core.geteuid() == 0 then -- root may give it away
      assert(sh_ok("chown 65534 " .. journal))
      sim.refuses("journal " .. journal .. " belongs to uid 65534, not to you (uid 0)",
        function() kandji():bulk("delete_user", ids(2), { journal = journal }) end, true)
    end
    sim.refuses("journal /dev/null is not a regular file",
      function() kandji():bulk("delete_user", ids(2), { journal = "/dev/null" }) end, true)
  end)

  it("a planted PATH.tmp symlink does not make the run overwrite another file", function()
    local dir = scratch()
    local journal = dir .. "/torn.journal"
    assert.equal(2, kandji():bulk("get_user", ids(2), { journal = journal }).ok)
    -- a kill tore the last line; someone planted PATH.tmp pointing at a file of the user
    local f = assert(io.open(journal, "ab"))
    f:write('{"key":"' .. ID:format(3) .. '","ok":tr')
    f:close()
    local victim = write(dir .. "/victim", "precious\n", "600")
    assert(sh_ok(("ln -s %s %s.tmp"):format(victim, journal)))
    forget_requests()
    local res = kandji():bulk("get_user", ids(3), { journal = journal })
    assert.same({ 3, 2 }, { res.ok, res.resumed })
    assert.equal(1, count("GET"))
    assert.equal("precious\n", proc.slurp(victim))
    assert.is_nil(proc.slurp(journal):find('"ok":tr\n', 1, true))
    assert.equal("\n", proc.slurp(journal):sub(-1))
  end)
end)

describe("one run at a time", function()
  it("two processes on one journal of 40 creates: the second fails at once, 40 POSTs", function()
    sim.fault{ match = { vendor = "sigfox", op = "create_api_user" }, delay_ms = 250, times = 0 }
    local dir = scratch()
    local journal = dir .. "/create.journal"
    local pid = sim.sh(child(journal, 40, "create") .. " >" .. dir .. "/first.out 2>&1 & echo $!")
    -- the first run holds the journal once its first window is begun
    local waited = 0
    while not proc.slurp(journal):find('"begin"', 1, true) and waited < 10000 do
      core.sleep(10)
      waited = waited + 10
    end
    local started = core.now()
    local second = proc.run(nil, nil, nil, "sh -c " .. proc.quote(child(journal, 40, "create")))
    assert.is_true(core.now() - started < 1000, "the second run waited")
    while sh_ok("kill -0 " .. pid .. " 2>/dev/null") do core.sleep(20) end
    assert.equal(1, second.code)
    assert.truthy(second.err:find("userapi journal: " .. journal .. " is in use by another run (it holds the "
      .. "lock); nothing was sent", 1, true), second.err)
    assert.equal("", second.out)
    local first = cjson.decode(proc.slurp(dir .. "/first.out"))
    assert.same({ 40, 0 }, { first.ok, first.failed })
    assert.equal(40, count("POST"))
    -- the lock goes with the run: a third run finds every item done
    forget_requests()
    local third = proc.run(nil, nil, nil, "sh -c " .. proc.quote(child(journal, 40, "create")))
    assert.equal(0, third.code, third.err)
    assert.same({ 40, 40 }, { cjson.decode(third.out).ok, cjson.decode(third.out).resumed })
    assert.equal(0, #sim.requests())
  end)
end)

describe("retries as the README says", function()
  it("a 500, a 429 and a timeout are sent again on the next run; a 404 is final", function()
    local journal = scratch() .. "/retry.journal"
    local list = ids(4)
    list[5] = "20000000-0000-4000-8000-999999999999" -- no such user: 404
    sim.fault{ match = { path = "/kandji/api/v1/users/" .. list[1] }, status = 500 }
    sim.fault{ match = { path = "/kandji/api/v1/users/" .. list[2] }, status = 429 }
    sim.fault{ match = { path = "/kandji/api/v1/users/" .. list[3] }, delay_ms = 3000 }
    local res = kandji{ timeout_ms = 500 }:bulk("get_user", list, { journal = journal })
    assert.same({ 1, 4 }, { res.ok, res.failed })
    assert.same({ 500, 429 }, { res[1].err.status, res[2].err.status })
    assert.equal("timeout", res[3].err.kind)
    forget_requests()
    res = kandji():bulk("get_user", list, { journal = journal })
    assert.same({ 4, 1, 2 }, { res.ok, res.failed, res.resumed })
    local sent = {}
    for _, r in ipairs(sim.requests()) do sent[#sent + 1] = r.path:match("[^/]+$") end
    table.sort(sent)
    assert.same({ list[1], list[2], list[3] }, sent)
    assert.is_true(res[5].resumed)
    assert.equal(404, res[5].err.status)
  end)
end)

describe("hostile lines", function()
  local HEADER
  local function journal_with(line)
    local path = scratch() .. "/hostile.journal"
    if not HEADER then
      local probe = scratch() .. "/probe.journal"
      kandji():bulk("get_user", { ID:format(1) }, { journal = probe })
      HEADER = proc.slurp(probe):match("^[^\n]*\n")
    end
    return write(path, HEADER .. line .. "\n", "600")
  end

  it("a tampered or foreign line gets an error naming it, nothing sent", function()
    for _, line in ipairs({ '{"begin":5}', '{"begin":[1,2]}', '{"key":{"id":1},"ok":true}', '[1,2,3]',
                            '{"key":"x","ok":"yes"}', 'null', '"a string"', '{"userapi_journal":2}' }) do
      local path = journal_with(line)
      forget_requests()
      local ok, err = pcall(kandji().bulk, kandji(), "get_user", ids(1), { journal = path })
      assert.is_false(ok)
      assert.is_string(err, line)
      assert.truthy(err:find("^userapi journal: " .. path:gsub("%p", "%%%0") .. ": line 2"), line .. " -> " .. err)
      assert.equal(0, #sim.requests(), line)
    end
  end)

  it("an error read back whose fields are not strings still prints", function()
    local path = journal_with(cjson.encode({ key = ID:format(1), ok = false,
      error = { vendor = { "kandji" }, operation = 7, status = "404", message = { text = "gone" }, code = false,
                attempts = "two" } }))
    local res = kandji():bulk("get_user", ids(1), { journal = path })
    assert.same({ 0, 1, 1 }, { res.ok, res.failed, res.resumed })
    assert.equal('["kandji"] 7: journal ({"text":"gone"})', tostring(res[1].err))
    assert.equal(0, #sim.requests())
  end)
end)

describe("the journal wraps bulk, not the reverse", function()
  it("bulk does not require the journal; client:bulk hands it a call with one", function()
    assert.is_nil(proc.slurp(proc.root .. "/lua/userapi/bulk.lua"):find("require%s*%(?%s*[\"']userapi%.journal"))
    sim.refuses("bad argument #3 to 'bulk' (journal: through client:bulk, which keeps the journal)", function()
      require("userapi.bulk").run(kandji(), "get_user", ids(1), { journal = scratch() .. "/direct.journal" })
    end)
    local journal = scratch() .. "/wrapped.journal"
    assert.equal(1, kandji():bulk("get_user", ids(1), { journal = journal }).ok)
    assert.truthy(proc.slurp(journal):find('"key":"' .. ID:format(1) .. '"', 1, true))
  end)
end)
