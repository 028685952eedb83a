-- `userapi ... --each -o jsonl` streams (issue 19, item 6): each row is
-- written as its item finishes, so a run killed with SIGKILL leaves on
-- stdout what it finished; the next run with the journal marks the rows it
-- had from the first as resumed.
local cjson = require "cjson"
local core = require "userapi.core"
local sim = require "spec.helper"
local proc = require "spec.proc"
local h = require "spec.cli_helper"

local ID = "20000000-0000-4000-8000-%012d"
local N = 40

-- the keys of the items the journal recorded as finished
local function recorded(journal)
  local keys, n = {}, 0
  for line in proc.slurp(journal):gmatch("[^\n]*\n") do
    local key = line:match('^{.-"key":"([^"]+)"')
    if key then
      keys[key] = true
      n = n + 1
    end
  end
  return keys, n
end

local function rows(text)
  local t = {}
  for i, l in ipairs(proc.lines(text)) do t[i] = cjson.decode(l) end
  return t
end

describe("--each -o jsonl", function()
  before_each(function()
    sim.reset()
    sim.control("POST", "seed", { vendor = "kandji", count = N })
  end)

  it("killed with SIGKILL, leaves on stdout the rows it finished; the next run marks them resumed", function()
    h.build_command()
    sim.fault{ match = { vendor = "kandji", op = "delete_user" }, delay_ms = 60, times = 0 }
    local dir = proc.tmpdir()
    local journal, out = dir .. "/stream.journal", dir .. "/stream.out"
    os.remove(journal)
    local list = {}
    for k = 1, N do list[k] = ID:format(k) end
    local idfile = proc.file("stream-ids.txt", table.concat(list, "\n") .. "\n")
    local argv = { "bin/userapi", "kandji", "delete_user", "--each", idfile, "--journal", journal, "-o", "jsonl",
                   "--concurrency", "4", "--base-url", sim.base.kandji }
    local words = {}
    for i, a in ipairs(argv) do words[i] = proc.quote(a) end
    local pid = sim.sh(("cd %s && exec env -i PATH=%s USERAPI_KANDJI_TOKEN=kandji-test-token %s >%s 2>/dev/null "
      .. "& echo $!"):format(proc.quote(proc.root), proc.quote(os.getenv("PATH")), table.concat(words, " "), out))
    local waited = 0
    while select(2, recorded(journal)) < 10 and waited < 20000 do
      core.sleep(10)
      waited = waited + 10
    end
    os.execute("kill -9 " .. pid)
    local function alive()
      local ok = os.execute("kill -0 " .. pid .. " 2>/dev/null")
      return ok == true or ok == 0
    end
    while alive() do core.sleep(10) end

    local done, n = recorded(journal)
    assert.is_true(n >= 10 and n < N, "killed after " .. n .. " items")
    local first = rows(proc.slurp(out))
    -- each row follows its journal line: the kill may fall between the two
    assert.is_true(#first >= n - 1 and #first <= n, #first .. " rows, " .. n .. " recorded")
    for _, r in ipairs(first) do
      assert.is_true(r.ok)
      assert.is_true(done[r.item], r.item)
      assert.is_nil(r.resumed)
    end

    local r = h.userapi({ "kandji", "delete_user", "--each", idfile, "--journal", journal, "-o", "jsonl",
                          "--base-url", sim.base.kandji })
    assert.equal(0, r.code, r.err)
    assert.equal(N .. " ok, 0 failed\n", r.err)
    local second, by_item, resumed = rows(r.out), {}, 0
    assert.equal(N, #second)
    for i, row in ipairs(second) do
      assert.is_true(row.ok)
      by_item[row.item] = row
      -- the earlier outcomes come first, at once, marked
      if row.resumed then
        resumed = resumed + 1
        assert.equal(resumed, i)
      end
    end
    for k = 1, N do assert.is_table(by_item[list[k]], list[k]) end
    for key in pairs(done) do assert.is_true(by_item[key].resumed, key) end
    -- the recorded ones, and those in doubt found already deleted (read back, not sent again)
    assert.is_true(resumed >= n, resumed .. " resumed, " .. n .. " recorded")
    local per = {}
    for _, q in ipairs(sim.requests()) do
      if q.method == "DELETE" then per[q.path] = (per[q.path] or 0) + 1 end
    end
    for k = 1, N do assert.equal(1, per["/kandji/api/v1/users/" .. list[k]], list[k]) end
  end)
end)
