-- userapi find, onboard and offboard as people run them: bin/userapi as a real
-- subprocess (Lua 5.4) with the credentials in the environment and each
-- vendor's base URL in a config file, against the simulator; asserted on
-- what went over the wire (the simulator's recorded requests), the output
-- and the exit codes (0 unchanged, 1 failed, 2 usage, 3 changed).
local h = require "spec.cli_helper"
local cjson, sim, proc, csv = h.cjson, h.sim, h.proc, h.csv

local ARTHUR_ADA, ARTHUR_ALAN = "00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000003"

setup(h.build_command)
before_each(function() sim.reset() end)

-- each vendor's base URL on the simulator, from the config file (the credentials come from ENV)
local CONFIG = h.config_file("people-config", ([[
[default.opendatasoft]
base_url = %s
[default.arthur]
base_url = %s
[default.kandji]
base_url = %s
[default.sigfox]
base_url = %s
]]):format(sim.base.opendatasoft, sim.base.arthur, sim.base.kandji, sim.base.sigfox))

local function userapi(argv, env, stdin)
  local e = { USERAPI_CONFIG = CONFIG }
  for k, v in pairs(env or {}) do e[k] = v end
  return h.userapi(argv, e, stdin)
end

-- the recorded requests as "METHOD path" (and the writes alone)
local function wire(filter)
  local list = {}
  for _, r in ipairs(sim.requests()) do
    if not filter or filter(r) then list[#list + 1] = r.method .. " " .. r.path end
  end
  return list
end
local function writes() return wire(function(r) return r.method ~= "GET" end) end

describe("userapi find EMAIL...", function()
  it("shows every account of each person in every configured vendor, reading only", function()
    local r = userapi({ "find", "ada@example.com", "charles@example.com", "-o", "jsonl" })
    assert.equal(0, r.code, r.err)
    local rows = h.jsonl(r.out)
    local seen = {}
    for _, row in ipairs(rows) do
      seen[#seen + 1] = row.email .. " " .. row.vendor .. " " .. row.id .. " " .. row.state
    end
    assert.same({
      "ada@example.com opendatasoft ada.lovelace active",
      "ada@example.com arthur " .. ARTHUR_ADA .. " active",
      "ada@example.com kandji " .. h.ADA .. " active",
      "ada@example.com sigfox " .. h.SIGFOX_ADA .. " active",
      "charles@example.com kandji 9c3d4e5f-6a7b-4c8d-8e9f-1a2b3c4d5e6f disabled",   -- archived
    }, seen)
    -- the last login where the vendor records it (Opendatasoft)
    assert.equal("2024-02-03T10:11:12.000000Z", rows[1].last_seen_at)
    assert.is_nil(rows[2].last_seen_at)
    assert.same({}, writes())
    -- one lookup per person and vendor, by email where the vendor filters on it
    local queries = {}
    for _, req in ipairs(sim.requests()) do
      queries[#queries + 1] = req.method .. " " .. req.path .. "?" .. req.query
    end
    assert.same({
      "GET /ods/api/automation/v1.0/users/?limit=1000&offset=0&search=ada%40example.com",
      "GET /arthur/api/v1/organization/users?page=1&page_size=1000&search=ada%40example.com&user_types=user"
        .. "&user_types=data_plane&user_types=service_account",
      "GET /kandji/api/v1/users?email=ada%40example.com",
      "GET /sigfox/v2/api-users/?limit=100&offset=0",
    }, { queries[1], queries[2], queries[3], queries[4] })
    assert.equal(8, #queries)
  end)

  it("-o table and csv; a pending invitation reads pending; --vendors narrows the lookups", function()
    assert.equal(3, userapi({ "onboard", "marie@example.com", "--vendors", "ods" }).code)
    local before = #sim.requests()
    local r = userapi({ "find", "marie@example.com", "--vendors", "ods,kandji", "-o", "csv" })
    assert.equal(0, r.code, r.err)
    local rows = csv.parse(r.out)
    assert.equal(1, #rows)
    assert.same({ "marie@example.com", "opendatasoft", "marie", "pending" },
                { rows[1].email, rows[1].vendor, rows[1].id, rows[1].state })
    for i, req in ipairs(sim.requests()) do
      if i > before then assert.truthy(req.vendor == "ods" or req.vendor == "kandji", req.vendor) end
    end
    r = userapi({ "find", "ada@example.com", "-o", "table", "--vendors", "kandji" })
    assert.equal(0, r.code)
    assert.truthy(r.out:find("^email%s+vendor%s+id%s+state"), r.out)
    assert.truthy(r.out:find("ada@example.com  kandji  " .. h.ADA .. "  active", 1, true), r.out)
  end)

  it("a vendor whose lookup fails: a line on stderr, the others shown, exit 1", function()
    sim.fault{ match = { vendor = "kandji" }, status = 500, times = 0 }
    local r = userapi({ "find", "ada@example.com", "-o", "jsonl" })
    assert.equal(1, r.code)
    assert.equal(3, #h.jsonl(r.out))
    assert.truthy(r.err:find("userapi: find ada@example.com: kandji: kandji list_users: 500", 1, true), r.err)
  end)

  it("usage errors (exit 2, nothing sent): no vendor configured, an unknown vendor, not an email", function()
    local r = h.userapi({ "find", "ada@example.com" }, { USERAPI_ODS_APIKEY = "", USERAPI_ARTHUR_TOKEN = "",
      USERAPI_KANDJI_TOKEN = "", USERAPI_SIGFOX_LOGIN = "", USERAPI_SIGFOX_PASSWORD = "" })
    assert.equal(2, r.code)
    assert.truthy(r.err:find("no vendor is configured: set the credentials of one (", 1, true), r.err)
    assert.truthy(r.err:find("kandji: USERAPI_KANDJI_TOKEN", 1, true), r.err)
    -- named by --vendors, a vendor without credentials is an error, not skipped
    r = userapi({ "find", "ada@example.com", "--vendors", "kandji" }, { USERAPI_KANDJI_TOKEN = "" })
    assert.equal(2, r.code)
    assert.truthy(r.err:find("missing credentials for kandji", 1, true), r.err)
    -- not named, it is skipped
    r = userapi({ "find", "ada@example.com", "-o", "jsonl" }, { USERAPI_KANDJI_TOKEN = "" })
    assert.equal(0, r.code, r.err)
    assert.equal(3, #h.jsonl(r.out))
    sim.reset()
    for _, argv in ipairs({ { "find", "ada@example.com", "--vendors", "kandij" }, { "find", "ada" }, { "find" },
                            { "find", "ada@example.com", "--dry-run" } }) do
      r = userapi(argv)
      assert.equal(2, r.code, table.concat(argv, " "))
    end
    assert.equal(0, #sim.requests())
  end)
end)

describe("userapi offboard", function()
  it("--check sends no write and exits 3; --diff prints each field before -> after", function()
    local r = userapi({ "offboard", "ada@example.com", "--check", "--diff", "-o", "jsonl" })
    assert.equal(3, r.code, r.err)
    assert.same({}, writes())
    local rows = h.jsonl(r.out)
    assert.equal(4, #rows)
    for _, row in ipairs(rows) do assert.same({ "deleted", true }, { row.action, row.changed }) end
    assert.truthy(r.err:find('ada@example.com opendatasoft: first_name: "Ada" -> (none)', 1, true), r.err)
    assert.truthy(r.err:find('ada@example.com kandji: id: "' .. h.ADA .. '" -> (none)', 1, true), r.err)
    assert.truthy(r.err:find("4 would change, 0 unchanged, 0 failed (check: nothing sent)", 1, true), r.err)
  end)

  it("deletes each account once (exit 3), then has nothing to do (exit 0)", function()
    local r = userapi({ "offboard", "ada@example.com" })
    assert.equal(3, r.code, r.err)
    assert.same({ "DELETE /ods/api/automation/v1.0/users/ada.lovelace/", "DELETE /arthur/api/v1/users/" .. ARTHUR_ADA,
                  "DELETE /kandji/api/v1/users/" .. h.ADA, "DELETE /sigfox/v2/api-users/" .. h.SIGFOX_ADA }, writes())
    local rows = cjson.decode(r.out)
    assert.equal("ada.lovelace", rows[1].id)
    r = userapi({ "offboard", "ada@example.com" })
    assert.equal(0, r.code, r.err)
    assert.equal(4, #writes())
    assert.truthy(r.err:find("0 changed, 4 unchanged, 0 failed", 1, true), r.err)
  end)

  it("a vendor that refuses (a Kandji user holding devices): stderr, exit 1 over the changes made", function()
    local r = userapi({ "offboard", "alan@example.com", "-o", "jsonl" })
    assert.equal(1, r.code)
    assert.truthy(r.err:find("userapi: alan@example.com: kandji: kandji delete_user: 400 User still assigned", 1, true),
      r.err)
    local failed = h.jsonl(r.out)[3]
    assert.same({ "kandji", "failed" }, { failed.vendor, failed.action })
    assert.equal(4, #writes())   -- the three others deleted, Kandji's refused
  end)

  it("people from a CSV file (stdin), each with its vendors column", function()
    local people = "email,first_name,last_name,vendors\nada@example.com,Ada,Lovelace,ods\n"
      .. "alan@example.com,,,arthur;sigfox\n"
    local r = userapi({ "offboard", "--file", "-" }, nil, people)
    assert.equal(3, r.code, r.err)
    assert.same({ "DELETE /ods/api/automation/v1.0/users/ada.lovelace/", "DELETE /arthur/api/v1/users/" .. ARTHUR_ALAN,
                  "DELETE /sigfox/v2/api-users/5f3a9c1e2b4d6f8a0c1e2b4e" }, writes())
  end)

  it("bad input is a usage error before anything is sent", function()
    local bad = proc.file("people-bad.csv", "email,frist_name\nada@example.com,Ada\n")
    local cases = {
      { { "offboard", "--file", bad }, "unknown column 'frist_name' (did you mean 'first_name'?)" },
      { { "offboard", "ada@example.com", "--file", bad }, "EMAIL arguments and --file do not go together" },
      { { "onboard", "a@example.com", "b@example.com", "--first-name", "A" }, "go with one EMAIL" },
      { { "offboard", "--file", proc.file("p2.csv", "email,vendors\nada@example.com,kandij\n") },
        "unknown vendor 'kandij' (did you mean 'kandji'?)" },
      { { "offboard", "ada@example.com", "--check", "--journal", "/tmp/j" }, "do not go together" },
      { { "offboard" }, "which person?" },
      { { "find", "ada\27[2J@example.com" }, "find: an email expected, got 'ada\\x1b[2J@example.com'" },
      { { "offboard", "--file", proc.file("p3.csv", "email\nada\127@example.com\n") }, "an email expected" },
      { { "offboard", "--file",
          proc.file("p4.csv", 'email,first_name\nada@example.com,"Ada\nalan@example.com,Alan\n') },
        "row 2: a quoted field is never closed" },
    }
    for _, c in ipairs(cases) do
      local r = userapi(c[1])
      assert.equal(2, r.code, r.err)
      assert.truthy(r.err:find(c[2], 1, true), r.err)
    end
    assert.equal(0, #sim.requests())
  end)
end)

describe("the people commands' documentation, from their rows of the flag table", function()
  it("help, man page and completion list their flags and exit codes", function()
    local code, out = h.run({ "offboard", "--help" })
    assert.equal(0, code)
    for _, s in ipairs({ "Usage: userapi offboard EMAIL... | --file people.csv", "--journal FILE", "--check",
                         "  3      something changed (with --check: would change)",
                         "  1      something failed: a vendor refused" }) do
      assert.truthy(out:find(s, 1, true), s)
    end
    code, out = h.run({ "man" })
    assert.equal(0, code)
    for _, s in ipairs({ ".SS userapi onboard EMAIL", ".SS userapi rotate VENDOR:ID|NAME...", "\\-\\-first\\-name F",
                         "something changed (with \\-\\-check: would change)" }) do
      assert.truthy(out:find(s, 1, true), s)
    end
    code, out = h.run({ "completion", "bash" })
    assert.equal(0, code)
    assert.truthy(out:find("find", 1, true) and out:find("--first-name", 1, true), out)
  end)
end)

describe("userapi onboard", function()
  it("invites where the person is missing (the wire), warns where the vendor cannot create, then exit 0", function()
    local r = userapi({ "onboard", "marie@example.com", "--first-name", "Marie", "--last-name", "Curie",
                        "--check", "-o", "jsonl" })
    assert.equal(3, r.code, r.err)
    assert.same({}, writes())
    r = userapi({ "onboard", "marie@example.com", "--first-name", "Marie", "--last-name", "Curie", "--diff",
                  "-o", "jsonl" })
    assert.equal(3, r.code, r.err)
    local posts = {}
    for _, req in ipairs(sim.requests()) do
      if req.method == "POST" then posts[#posts + 1] = { req.path, cjson.decode(req.body) } end
    end
    assert.same({
      { "/ods/api/automation/v1.0/users/invite/",
        { { email = "marie@example.com", first_name = "Marie", last_name = "Curie" } } },
      { "/arthur/api/v1/organization/users/invite-user", { email = "marie@example.com" } },
    }, posts)
    assert.truthy(r.err:find('marie@example.com opendatasoft: first_name: (none) -> "Marie"', 1, true), r.err)
    -- Kandji's users come from its directory sync: a warning on stderr and in the JSON
    assert.truthy(r.err:find("userapi: marie@example.com: kandji: warning: Kandji users come from", 1, true), r.err)
    local rows = h.jsonl(r.out)
    assert.same({ "kandji", "skipped" }, { rows[3].vendor, rows[3].action })
    assert.truthy(rows[3].warnings[1]:find("directory integration", 1, true))
    -- again: Opendatasoft sees the pending invitation, Arthur refuses a second one (no change)
    r = userapi({ "onboard", "marie@example.com", "--first-name", "Marie", "--last-name", "Curie" })
    assert.equal(0, r.code, r.err)
    -- a name that differs is updated
    r = userapi({ "onboard", "ada@example.com", "--first-name", "Adele", "--vendors", "ods", "--diff" })
    assert.equal(3, r.code, r.err)
    local last = sim.last_request()
    assert.same({ "PUT", "/ods/api/automation/v1.0/users/ada.lovelace/" }, { last.method, last.path })
    assert.equal("Adele", cjson.decode(last.body).first_name)
    assert.truthy(r.err:find('ada@example.com opendatasoft: first_name: "Ada" -> "Adele"', 1, true), r.err)
  end)

  it("a people file as a spreadsheet saves it (BOM, quoted header, CRLF, a space after a comma, a trailing "
    .. "comma): every column read", function()
    local file = proc.file("joiners.csv", '\239\187\191"email", first_name,"last_name","vendors",\r\n'
      .. '"marie@example.com","Marie","Curie","ods",\r\n')
    local r = userapi({ "onboard", "--file", file, "-o", "jsonl" })
    assert.equal(3, r.code, r.err)
    local posts = {}
    for _, req in ipairs(sim.requests()) do
      if req.method == "POST" then posts[#posts + 1] = { req.path, cjson.decode(req.body) } end
    end
    assert.same({ { "/ods/api/automation/v1.0/users/invite/",
                    { { email = "marie@example.com", first_name = "Marie", last_name = "Curie" } } } }, posts)
  end)
end)

describe("--journal FILE", function()
  -- bin/userapi in the background: its pid
  local function background(argv)
    local dir = proc.tmpdir()
    local vars = { "PATH=" .. proc.quote(os.getenv("PATH")), "HOME=/nonexistent", "USERAPI_CONFIG=" .. CONFIG }
    for k, v in pairs(h.ENV) do if k ~= "HOME" then vars[#vars + 1] = k .. "=" .. proc.quote(v) end end
    local words = {}
    for i, a in ipairs(argv) do words[i] = proc.quote(a) end
    local p = io.popen(("cd %s && exec env -i %s bin/userapi %s >%s/bg.out 2>%s/bg.err </dev/null & echo $!"):format(
      proc.quote(proc.root), table.concat(vars, " "), table.concat(words, " "), dir, dir))
    local pid = p:read("*l")
    p:close()
    return pid
  end
  local function until_sent(method, path)
    for _ = 1, 400 do
      for _, r in ipairs(sim.requests()) do if r.method == method and r.path == path then return end end
      require("userapi.core").sleep(25)
    end
    error("never sent: " .. method .. " " .. path)
  end

  it("after a SIGKILL mid-way, a rerun skips the people done (resumed) and redoes the one begun: "
    .. "each DELETE sent once", function()
    local journal = proc.tmpdir() .. "/offboard.journal"
    os.remove(journal)
    local file = proc.file("leavers.csv", "email\nada@example.com\nalan@example.com\n")
    local argv = { "offboard", "--file", file, "--vendors", "ods,arthur", "--journal", journal, "-o", "jsonl" }
    -- Arthur answers Alan's delete slowly: the run is killed after sending it
    local alan = "/arthur/api/v1/users/" .. ARTHUR_ALAN
    sim.fault{ match = { method = "DELETE", path = alan }, delay_ms = 10000 }
    local pid = background(argv)
    until_sent("DELETE", alan)
    os.execute("kill -9 " .. pid)
    local text = proc.slurp(journal)
    assert.truthy(text:find('"done":"ada@example.com"', 1, true), text)
    assert.truthy(text:find('{"begin":"alan@example.com"}', 1, true), text)
    assert.falsy(text:find('"done":"alan@example.com"', 1, true), text)
    local p = io.popen("stat -c %a " .. journal)
    assert.equal("600", p:read("*l"))
    p:close()
    local before = #sim.requests()
    local r = userapi(argv)
    -- Alan's accounts were deleted before the kill: redone, he has none left
    assert.equal(0, r.code, r.err)
    for i, req in ipairs(sim.requests()) do
      if i > before then assert.falsy(req.path:find("ada", 1, true), req.path) end -- Ada: not even looked up
    end
    local rows = h.jsonl(r.out)
    assert.same({ true, true }, { rows[1].resumed, rows[2].resumed })
    assert.same({ "none", "none" }, { rows[3].action, rows[4].action })
    assert.truthy(r.err:find("userapi: alan@example.com: begun by a run that did not finish: done again", 1, true))
    assert.truthy(r.err:find("0 changed, 2 unchanged, 0 failed, 2 resumed (done by an earlier run)", 1, true), r.err)
    local deletes = {}
    for _, w in ipairs(writes()) do deletes[w] = (deletes[w] or 0) + 1 end
    assert.same({ ["DELETE /ods/api/automation/v1.0/users/ada.lovelace/"] = 1, ["DELETE /arthur/api/v1/users/"
      .. ARTHUR_ADA] = 1, ["DELETE /ods/api/automation/v1.0/users/alan.turing/"] = 1, ["DELETE " .. alan] = 1 },
      deletes)
    -- a third run: everyone done, nothing sent
    before = #sim.requests()
    r = userapi(argv)
    assert.equal(0, r.code, r.err)
    assert.equal(before, #sim.requests())
    -- the same journal for other vendors: another job, refused before anything is sent
    argv[5] = "ods,kandji"
    r = userapi(argv)
    assert.equal(2, r.code)
    assert.truthy(r.err:find("written for the vendors opendatasoft,arthur, not opendatasoft,kandji", 1, true), r.err)
    assert.equal(before, #sim.requests())
  end)

  it("a person a vendor failed is not done: the rerun tries them again, the others resumed", function()
    local journal = proc.tmpdir() .. "/retry.journal"
    os.remove(journal)
    local argv = { "offboard", "ada@example.com", "alan@example.com", "--vendors", "kandji", "--journal", journal }
    local r = userapi(argv)
    assert.equal(1, r.code)      -- Alan holds devices
    assert.truthy(proc.slurp(journal):find('{"failed":"alan@example.com"}', 1, true))
    local before = #sim.requests()
    r = userapi(argv)
    assert.equal(1, r.code)
    local again = wire()
    local paths = {}
    for i = before + 1, #again do paths[#paths + 1] = again[i] end
    assert.same({ "GET /kandji/api/v1/users", "DELETE /kandji/api/v1/users/" .. h.ALAN }, paths)
    assert.truthy(r.err:find("1 resumed (done by an earlier run)", 1, true), r.err)
    assert.falsy(r.err:find("did not finish", 1, true), r.err)
  end)

  it("refuses a symbolic link, a FIFO and another command's journal (exit 2, nothing sent)", function()
    local dir = proc.tmpdir()
    os.remove(dir .. "/jl")
    os.execute("ln -sf " .. dir .. "/target " .. dir .. "/jl; rm -f " .. dir .. "/fifo; mkfifo " .. dir .. "/fifo")
    local other = proc.file("other.journal", '{"journal":"userapi onboard","vendors":"opendatasoft"}\n')
    for _, c in ipairs({ { dir .. "/jl", "is a symbolic link" }, { dir .. "/fifo", "not a regular file" },
                         { other, "written by userapi onboard, not userapi offboard" } }) do
      local r = userapi({ "offboard", "ada@example.com", "--journal", c[1] })
      assert.equal(2, r.code, r.err)
      assert.truthy(r.err:find(c[2], 1, true), r.err)
    end
    assert.equal(0, #sim.requests())
    assert.is_nil(io.open(dir .. "/target"))
  end)

  it("a tampered done line (its rows not rows) is named: exit 2, nothing sent, no Lua error", function()
    for i, result in ipairs({ "[1]", '"ok"', '[{"vendor":"opendatasoft"},true]' }) do
      local journal = proc.file("tampered" .. i .. ".journal",
        '{"journal":"userapi offboard","vendors":"opendatasoft"}\n'
        .. '{"done":"ada@example.com","result":' .. result .. '}\n')
      os.execute("chmod 600 " .. proc.quote(journal))
      local r = userapi({ "offboard", "ada@example.com", "--vendors", "ods", "--journal", journal })
      assert.equal(2, r.code, r.err)
      assert.truthy(r.err:find("tampered" .. i .. ".journal: line 2 is not a journal record", 1, true), r.err)
    end
    assert.equal(0, #sim.requests())
  end)
end)
