-- Resumable bulk (userapi.journal): a run killed with SIGKILL half-way is run
-- again with the same journal; the simulator must see each write once.
local cjson = require "cjson"
local sim = require "spec.helper"
local proc = require "spec.proc"

local ID = "20000000-0000-4000-8000-%012d"
local PATH = "/kandji/api/v1/users/"

local function deletes()
  local per, total = {}, 0
  for _, r in ipairs(sim.requests()) do
    if r.method == "DELETE" then
      per[r.path] = (per[r.path] or 0) + 1
      total = total + 1
    end
  end
  return per, total
end

local function done_lines(path)
  local n = 0
  for line in (proc.slurp(path) or ""):gmatch("[^\n]*\n") do
    if line:find('"key"', 1, true) then n = n + 1 end
  end
  return n
end

local function child_cmd(journal, n)
  local env = proc.lua_env()
  return ("cd %s && LUA_PATH=%s LUA_CPATH=%s %s spec/journal_child.lua %s %s %d"):format(
    proc.quote(proc.root), proc.quote(env.LUA_PATH), proc.quote(env.LUA_CPATH), proc.lua, sim.url,
    proc.quote(journal), n)
end

local function kandji()
  return sim.client("kandji", { rate_limit = false })
end

-- the first 8 hex digits of a client's credential fingerprint, as messages show it
local function tenant(client)
  return require("userapi.store").tenant_key(client, client.opts):match(":(%x+)$"):sub(1, 8)
end

before_each(function()
  sim.reset()
  sim.control("POST", "seed", { vendor = "kandji", count = 500 })
end)

describe("bulk with a journal", function()
  it("killed with SIGKILL in the middle of 500 deletes, resumes: each DELETE sent once, 500 outcomes", function()
    -- the simulator applies each delete, then answers 15 ms later: a kill
    -- always finds some requests applied but not yet answered
    sim.fault{ match = { vendor = "kandji", op = "delete_user" }, delay_ms = 15, times = 0 }
    local dir = proc.tmpdir()
    local journal = dir .. "/kill.journal"
    local pid = sim.sh(child_cmd(journal, 500) .. " >" .. dir .. "/first.out 2>&1 & echo $!")
    local waited = 0
    while done_lines(journal) < 150 and waited < 20000 do
      require("userapi.core").sleep(20)
      waited = waited + 20
    end
    os.execute("kill -9 " .. pid)
    -- (os.execute: true in 5.4, 0 in LuaJIT when the process still exists)
    local function alive()
      local ok = os.execute("kill -0 " .. pid .. " 2>/dev/null")
      return ok == true or ok == 0
    end
    while alive() do require("userapi.core").sleep(10) end
    local before = done_lines(journal)
    local _, sent_before = deletes()
    assert.is_true(before >= 150 and before < 500, "killed after " .. before .. " items")
    assert.is_true(sent_before > before, "some deletes were applied but not recorded")
    -- the kill may cut a line: make sure one is cut
    local f = assert(io.open(journal, "ab"))
    f:write('{"key":"' .. ID:format(499) .. '","ok":tr')
    f:close()

    local r = proc.run({ proc.lua, "spec/journal_child.lua", sim.url, journal, "500" }, proc.lua_env())
    assert.equal(0, r.code, r.err)
    local res = cjson.decode(r.out)
    assert.equal(500, res.ok)
    assert.equal(0, res.failed)
    assert.equal(500, #res.each)
    local confirmed = 0
    for i, e in ipairs(res.each) do
      assert.is_true(e.ok, "item " .. i)
      if e.confirmed then confirmed = confirmed + 1 end
    end
    assert.equal(before + confirmed, res.resumed)
    assert.is_true(confirmed >= 1)
    local per, total = deletes()
    assert.equal(500, total)
    for k = 1, 500 do assert.equal(1, per[PATH .. ID:format(k)], "user " .. k) end
    assert.equal(5, sim.state("kandji").count)
    -- the torn line is gone, every line is whole
    local text = proc.slurp(journal)
    assert.equal("\n", text:sub(-1))
    assert.is_nil(text:find("ok\":tr\n", 1, true))
  end)

  it("returns recorded outcomes without sending; a retryable failure is sent again", function()
    local journal = proc.tmpdir() .. "/retry.journal"
    local ids = { ID:format(1), ID:format(2), ID:format(3) }
    sim.fault{ match = { path = PATH .. ID:format(2) }, status = 503 }
    local res = kandji():bulk("delete_user", ids, { journal = journal })
    assert.same({ 2, 1 }, { res.ok, res.failed })
    sim.control("DELETE", "requests")
    res = kandji():bulk("delete_user", ids, { journal = journal })
    assert.same({ 3, 0, 2 }, { res.ok, res.failed, res.resumed })
    assert.is_true(res[1].resumed)
    assert.is_nil(res[2].resumed)
    local _, total = deletes()
    assert.equal(1, total)
    -- a 404 is final: recorded as failed, returned as such, not sent again
    sim.control("DELETE", "requests")
    res = kandji():bulk("delete_user", { ID:format(1) }, { journal = proc.tmpdir() .. "/final.journal" })
    assert.equal(404, res[1].err.status)
  end)

  it("starts afresh on a journal whose header was cut short", function()
    local journal = proc.file("torn-header.journal", '{"userapi_journal":2,"vendor":"kan')
    os.execute("chmod 600 " .. journal)
    local res = kandji():bulk("delete_user", { ID:format(1) }, { journal = journal })
    assert.same({ 1, 0 }, { res.ok, res.resumed })
    res = kandji():bulk("delete_user", { ID:format(1) }, { journal = journal })
    assert.same({ 1, 1 }, { res.ok, res.resumed })
    local _, total = deletes()
    assert.equal(1, total)
  end)

  it("stops with a clear error when the journal cannot be written (a full disk)", function()
    -- a file-size limit of 2 KiB with SIGXFSZ ignored: writes past it fail
    -- with EFBIG as they would on a full disk, after a few items were sent
    local journal = proc.tmpdir() .. "/full.journal"
    os.remove(journal)
    local r = proc.run(nil, proc.lua_env(), nil,
      "sh -c " .. proc.quote("trap '' XFSZ; ulimit -f 2; " .. child_cmd(journal, 200)))
    assert.is_not.equal(0, r.code)
    assert.matches("userapi journal: cannot write .*full%.journal", r.err)
    assert.equal("", r.out)
    -- it stopped: far fewer deletes than items
    local _, total = deletes()
    assert.is_true(total < 200, total)
  end)

  it("is made readable by its owner alone: it holds what was sent and got back", function()
    local journal = proc.tmpdir() .. "/private.journal"
    os.remove(journal)
    local core = require "userapi.core"
    local before = core.umask(tonumber("022", 8))
    assert.equal(1, kandji():bulk("delete_user", { ID:format(1) }, { journal = journal }).ok)
    -- the process's own umask is left as it was
    assert.equal(tonumber("022", 8), core.umask(before))
    assert.equal(tonumber("600", 8), core.stat(journal).mode)
  end)

  it("refuses a journal written for another operation", function()
    local journal = proc.tmpdir() .. "/other.journal"
    local ods = sim.client("opendatasoft")
    assert.equal(1, ods:bulk("get_user", { "ada.lovelace" }, { journal = journal }).ok)
    assert.has_error(function() kandji():bulk("get_user", { ID:format(1) }, { journal = journal }) end,
      ("bad argument #3 to 'bulk' (journal %s belongs to another tenant or job: written for opendatasoft get_user "
       .. "at %s (credential %s), not kandji get_user at %s (credential %s))"):format(journal, sim.base.opendatasoft,
       tenant(ods), sim.base.kandji, tenant(kandji())))
    assert.has_error(function() kandji():bulk("get_user", { ID:format(1) }, { journal = 1 }) end,
      "bad argument #3 to 'bulk' (journal: file name expected)")
  end)
end)
