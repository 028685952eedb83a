-- `userapi review` as a user runs it: the command against the simulator's
-- four vendors, with a seeded set of stale, pending, orphan, missing and
-- service accounts; its rows, its plan, and its HTML report loaded in a real
-- headless browser (Chromium), whose rendered DOM is asserted, sorting and
-- filtering included.
local cjson = require "cjson"
local sim = require "spec.helper"
local proc = require "spec.proc"

-- Debian's chromium (make test installs it)
local CHROMIUM = "/usr/bin/chromium"

-- the environment the README's quick start gives: every vendor at the simulator
local function env(extra)
  local e = {
    USERAPI_ODS_BASE_URL = sim.base.opendatasoft, USERAPI_ODS_APIKEY = "ods-test-key",
    USERAPI_ARTHUR_BASE_URL = sim.base.arthur, USERAPI_ARTHUR_TOKEN = "arthur-test-token",
    USERAPI_KANDJI_BASE_URL = sim.base.kandji, USERAPI_KANDJI_TOKEN = "kandji-test-token",
    USERAPI_SIGFOX_BASE_URL = sim.base.sigfox, USERAPI_SIGFOX_LOGIN = "sigfox-login",
    USERAPI_SIGFOX_PASSWORD = "sigfox-secret", HOME = "/nonexistent",
  }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

local function userapi(args, extra)
  local argv = { "bin/userapi" }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return proc.run(argv, env(extra))
end

-- the roster: Ada everywhere she has accounts, Pat invited to Opendatasoft,
-- Zoe expected in Kandji and Opendatasoft but in neither; everyone else is an orphan
local ROSTER = "email,name,vendors\n"
  .. "Ada@Example.com,Ada Lovelace,ods;kandji;arthur\n"
  .. "pat@example.com,Pat,opendatasoft\n"
  .. "zoe@example.com,Zoe,kandji opendatasoft\n"

-- the seeded set: Pat invited (pending) to Opendatasoft on top of the simulator's own accounts
local function seed()
  sim.reset()
  local u = require("userapi").opendatasoft{ base_url = sim.base.opendatasoft, apikey = "ods-test-key" }
  assert(u:invite_users{ { email = "pat@example.com", first_name = "Pat" } })
  sim.control("DELETE", "requests")
end

local function review_args(...)
  local roster = proc.file("people.csv", ROSTER)
  local args = { "review", "--roster", roster, "--stale-days", "365" }
  for _, a in ipairs({ ... }) do args[#args + 1] = a end
  return args
end

local function by_key(rows)
  local t = {}
  for _, r in ipairs(rows) do t[(r.email or "-") .. " " .. r.vendor] = r end
  return t
end

describe("userapi review", function()
  before_each(seed)

  it("groups every account of every configured vendor by person and flags it; sends only GETs", function()
    local r = userapi(review_args("-o", "jsonl"))
    assert.equal(0, r.code, r.err)
    local rows = {}
    for _, line in ipairs(proc.lines(r.out)) do rows[#rows + 1] = cjson.decode(line) end
    local t = by_key(rows)
    -- Ada: in the roster, in every vendor it names; her Sigfox API user is a service account
    assert.equal("", t["ada@example.com kandji"].flags)
    assert.equal("", t["ada@example.com arthur"].flags)
    assert.equal("stale", t["ada@example.com opendatasoft"].flags)        -- last seen 2024-02-03
    assert.equal("service", t["ada@example.com sigfox"].flags)
    -- Pat: invited, never logged in: pending, not stale
    assert.same({ "pending", "pending" }, { t["pat@example.com opendatasoft"].state,
      t["pat@example.com opendatasoft"].flags })
    -- not in the roster
    assert.equal("orphan", t["alan@example.com kandji"].flags)
    assert.equal("disabled", t["charles@example.com kandji"].state)
    -- in the roster, without the accounts its vendors column names
    assert.same({ "missing", "missing" },
      { t["zoe@example.com kandji"].state, t["zoe@example.com opendatasoft"].flags })
    assert.is_nil(t["zoe@example.com arthur"])
    -- grouped: each person's rows together, in email order
    local emails, last = {}, nil
    for _, row in ipairs(rows) do
      if row.email ~= last then emails[#emails + 1], last = row.email or "-", row.email end
    end
    local seen = {}
    for _, e in ipairs(emails) do
      assert.is_nil(seen[e], e .. " appears in two groups")
      seen[e] = true
    end
    -- a review reads: every request was a GET, and the summary went to stderr
    for _, req in ipairs(sim.requests()) do assert.equal("GET", req.method, req.path) end
    assert.truthy(r.err:find("^review: %d+ people, %d+ accounts in 4 vendors: %d+ stale, 1 pending, %d+ orphan, "
      .. "2 missing, %d+ service\n$"), r.err)
  end)

  it("--plan turns it into the offboard and onboard plan that would fix it", function()
    local r = userapi(review_args("--plan", "-o", "jsonl"))
    assert.equal(0, r.code, r.err)
    local plan = {}
    for _, line in ipairs(proc.lines(r.out)) do
      local p = cjson.decode(line)
      plan[p.action .. " " .. p.email] = p.vendors
    end
    assert.equal("kandji opendatasoft", plan["onboard zoe@example.com"])
    assert.equal("arthur kandji opendatasoft", plan["offboard alan@example.com"])
    assert.is_nil(plan["offboard ada@example.com"])
    assert.is_nil(plan["offboard pat@example.com"])
    for _, req in ipairs(sim.requests()) do assert.equal("GET", req.method) end
  end)

  it("--apply carries the plan out (orphans offboarded, the missing onboarded) with a journal; exit 3, then 0",
    function()
    local roster = proc.file("arthur.csv", "email,name,vendors\nada@example.com,Ada,arthur\n"
      .. "grace@example.com,Grace,arthur\nzoe@example.com,Zoe Lovelace,arthur\n")
    local journal = proc.tmpdir() .. "/review.journal"
    local args = { "review", "--vendors", "arthur", "--roster", roster, "--apply", "--journal", journal, "-o", "jsonl" }
    local r = userapi(args)
    assert.equal(3, r.code, r.err)
    local writes = {}
    for _, req in ipairs(sim.requests()) do
      if req.method ~= "GET" then writes[#writes + 1] = req.method .. " " .. req.path end
    end
    table.sort(writes)
    assert.same({ "DELETE /arthur/api/v1/users/00000000-0000-4000-8000-000000000003",      -- Alan
                  "DELETE /arthur/api/v1/users/00000000-0000-4000-8000-000000000006",      -- Katherine
                  "POST /arthur/api/v1/organization/users/invite-user" }, writes)
    local invites = sim.state("arthur").invites
    assert.equal("zoe@example.com", invites[#invites].email)
    -- a rerun: the journal holds what was done; nothing more is sent
    sim.control("DELETE", "requests")
    r = userapi(args)
    assert.equal(0, r.code, r.err)
    for _, req in ipairs(sim.requests()) do assert.equal("GET", req.method, req.path) end
    assert.truthy(r.err:find("resumed", 1, true), r.err)
  end)

  it("-o csv: every column of every row, an empty field left empty (the flags after an empty last login)", function()
    local r = userapi(review_args("-o", "csv"))
    assert.equal(0, r.code, r.err)
    local records = {}
    local p = require("userapi.csv").parser(",", function(f) records[#records + 1] = f end)
    p.feed(r.out)
    p.finish()
    assert.same({ "email", "vendor", "id", "name", "kind", "state", "last_login", "flags" }, records[1])
    for i = 2, #records do assert.equal(8, #records[i], table.concat(records[i], ",")) end
    assert.truthy(r.out:find("\nalan@example.com,kandji,7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d,Alan Turing,user,active,,"
      .. "orphan\n", 1, true), r.out)
    assert.truthy(r.out:find("\nzoe@example.com,kandji,,Zoe,,missing,,missing\n", 1, true), r.out)
    r = userapi(review_args("--plan", "-o", "csv"))
    assert.truthy(r.out:find("\nonboard,zoe@example.com,Zoe,kandji opendatasoft\n", 1, true), r.out)
  end)

  it("a vendor that cannot be walked fails the review (exit 1), the others are still reported", function()
    sim.fault{ match = { vendor = "kandji" }, status = 500, times = 0 }
    local r = userapi(review_args("-o", "csv", "--vendors", "kandji,ods"), {})
    assert.equal(1, r.code)
    assert.truthy(r.err:find("userapi: review: kandji: kandji list_users: 500", 1, true), r.err)
    assert.truthy(r.out:find("\nada@example.com,opendatasoft,ada.lovelace,", 1, true), r.out)
  end)

  it("usage errors: a roster without an email column, a bad --stale-days (exit 2, nothing sent)", function()
    local bad = proc.file("bad.csv", "name\nAda\n")
    local r = userapi({ "review", "--roster", bad })
    assert.equal(2, r.code)
    assert.truthy(r.err:find("no email column", 1, true), r.err)
    r = userapi({ "review", "--roster", proc.tmpdir() })        -- a directory, not a file
    assert.equal(2, r.code)
    assert.truthy(r.err:find("--roster " .. proc.tmpdir() .. ": cannot read it (a directory?)", 1, true), r.err)
    r = userapi({ "review", "--stale-days", "soon" })
    assert.equal(2, r.code)
    -- a stray quote opening a name: every later person would be read into it, then flagged orphan
    -- (and offboarded by --apply)
    local stray = proc.file("stray.csv", 'email,name,vendors\nada@example.com,"Ada,ods\nalan@example.com,Alan,kandji\n')
    r = userapi({ "review", "--roster", stray, "--apply" })
    assert.equal(2, r.code, r.err)
    assert.truthy(r.err:find("roster: line 2: a quoted field is never closed", 1, true), r.err)
    -- a misspelt vendor would never flag the accounts it should name missing
    local typo = proc.file("typo.csv", "email,name,vendors\nzoe@example.com,Zoe,kandij\n")
    r = userapi({ "review", "--roster", typo })
    assert.equal(2, r.code)
    assert.truthy(r.err:find("zoe@example.com: unknown vendor 'kandij' (did you mean 'kandji'?)", 1, true), r.err)
    assert.same({}, sim.requests())
  end)

  it("a roster as a spreadsheet saves it (a BOM, CRLF) flags as the plain one does", function()
    local plain = userapi(review_args("-o", "jsonl"))
    assert.equal(0, plain.code, plain.err)
    local saved = proc.file("saved.csv", "\239\187\191" .. ROSTER:gsub("\n", "\r\n"))
    local r = userapi({ "review", "--roster", saved, "--stale-days", "365", "-o", "jsonl" })
    assert.equal(0, r.code, r.err)
    assert.equal(plain.out, r.out)
    assert.truthy(r.out:find('{"email":"zoe@example.com","flags":"missing","name":"Zoe","state":"missing",'
      .. '"vendor":"kandji"}', 1, true), r.out)
  end)
end)

describe("the review's scratch files", function()
  before_each(seed)

  -- the modes of the files in dir, by their name's end (raw, sorted)
  local function modes(dir)
    local out = {}
    local p = io.popen("stat -c '%n %a' " .. proc.quote(dir) .. "/* 2>/dev/null")
    for line in p:lines() do
      local name, mode = line:match("%.(%a+) (%d+)$")
      if name then out[name] = mode end
    end
    p:close()
    return out
  end

  it("list the tenant's accounts: private (0600) while the walk writes them, nameless once sorted", function()
    local tmp = proc.tmpdir() .. "/scratch"
    os.execute("rm -rf " .. proc.quote(tmp) .. " && mkdir " .. proc.quote(tmp))
    local seen = {}
    local client = require("userapi").opendatasoft{ base_url = sim.base.opendatasoft, apikey = "ods-test-key",
      on_request = function() seen[#seen + 1] = modes(tmp) end }
    local rv = assert(require("userapi.review").run(require("userapi").directory{ opendatasoft = client },
      { tmpdir = tmp }))
    assert.is_true(#seen > 0)
    assert.equal("600", seen[#seen].raw)
    assert.same({}, modes(tmp))      -- read through its descriptor: no name left to find
    assert.is_true(rv.summary.total.accounts > 0)
    local n = 0
    for _ in rv:rows() do n = n + 1 end
    for _ in rv:rows() do n = n - 1 end
    assert.equal(0, n)
    rv:close()
  end)

  it("a sort(1) that fails fails the review under LuaJIT as under Lua 5.4 (exit 1), never an empty review",
    function()
    local bin = proc.tmpdir() .. "/failing-sort"
    os.execute("rm -rf " .. proc.quote(bin) .. " && mkdir " .. proc.quote(bin))
    local f = assert(io.open(bin .. "/sort", "w"))
    f:write("#!/bin/sh\nexit 2\n")
    f:close()
    os.execute("chmod +x " .. proc.quote(bin .. "/sort"))
    for _, lua in ipairs({ "lua5.4", "luajit" }) do
      local r = proc.run(nil, env({ PATH = bin .. ":/usr/bin:/bin" }), nil,
        lua .. " bin/userapi review --vendors ods -o jsonl")
      assert.equal(1, r.code, lua .. ": " .. r.err)
      assert.truthy(r.err:find("userapi: review: sort(1) failed on its scratch file", 1, true), lua .. ": " .. r.err)
      assert.equal("", r.out)
    end
  end)
end)

-- the report as a browser renders it: --dump-dom after its script ran
local function dom(path, fragment)
  local r = proc.run(nil, { HOME = proc.tmpdir() }, nil, ("%s --headless --no-sandbox --disable-gpu"
    .. " --virtual-time-budget=2000 --dump-dom %s 2>/dev/null"):format(CHROMIUM,
    proc.quote("file://" .. path .. (fragment or ""))))
  assert(r.code == 0 and r.out:find("</html>", 1, true), "chromium: " .. r.out .. r.err)
  return r.out
end

-- the account rows of the rendered table, in their order: { email, vendor, flags, hidden }
local function table_rows(html)
  local rows = {}
  for attrs, first in html:gmatch('<tr (data%-vendor="[^"]*" data%-flags="[^"]*"[^>]*)><td>([^<]*)</td>') do
    rows[#rows + 1] = { email = first, vendor = attrs:match('data%-vendor="([^"]*)"'),
      flags = attrs:match('data%-flags="([^"]*)"'), hidden = attrs:find("hidden", 1, true) ~= nil }
  end
  return rows
end

local function summary_count(html, vendor, what)
  local row = html:match('<tr data%-vendor="' .. vendor .. '">(.-)</tr>')
  return tonumber(row and row:match('data%-count="' .. what .. '">(%d+)<'))
end

describe("userapi review --html, in headless Chromium", function()
  local report

  setup(function()
    seed()
    report = proc.tmpdir() .. "/report.html"
    local r = userapi(review_args("--html", report))
    assert(r.code == 0, r.err)
    assert(r.out == "", r.out)
  end)

  it("is one self-contained file: no address outside it", function()
    local f = assert(io.open(report))
    local html = f:read("a")
    f:close()
    assert.is_nil(html:find('src="', 1, true))
    assert.is_nil(html:find("https?://"))
    assert.is_nil(html:find('<link', 1, true))
  end)

  it("shows the counts per vendor and every account row", function()
    local html = dom(report)
    assert.equal(1, summary_count(html, "opendatasoft", "pending"))
    assert.equal(1, summary_count(html, "opendatasoft", "missing"))
    assert.equal(1, summary_count(html, "kandji", "missing"))
    assert.equal(2, summary_count(html, "total", "missing"))
    assert.equal(1, summary_count(html, "total", "pending"))
    assert.equal(summary_count(html, "sigfox", "accounts"), summary_count(html, "sigfox", "service"))
    assert.equal(4, summary_count(html, "kandji", "orphan"))             -- Alan, Charles, Grace, Katherine
    -- a bar per flag per vendor, as long as its count says
    assert.truthy(html:find('data%-flag="missing" data%-count="1"'))
    local rows = table_rows(html)
    local t = by_key(rows)
    assert.equal("pending", t["pat@example.com opendatasoft"].flags)
    assert.equal("missing", t["zoe@example.com kandji"].flags)
    assert.equal("orphan", t["alan@example.com kandji"].flags)
    assert.equal("stale", t["ada@example.com opendatasoft"].flags)
    assert.equal(summary_count(html, "total", "accounts") + 2, #rows)     -- and the two missing ones
    for _, r in ipairs(rows) do assert.is_false(r.hidden) end
  end)

  it("filters and sorts from its address (#flag=orphan&sort=-email), as a shared link would", function()
    -- a hand-edited part that is no percent-encoding ("100%") leaves the rest of the link working
    local rows = table_rows(dom(report, "#x=100%&flag=orphan&sort=-email"))
    local shown = {}
    for _, r in ipairs(rows) do
      if not r.hidden then shown[#shown + 1] = r end
      assert.equal(not (" " .. r.flags .. " "):find(" orphan ", 1, true), r.hidden, r.email .. " " .. r.vendor)
    end
    assert.is_true(#shown > 3)
    for i = 2, #rows do assert.is_true(rows[i - 1].email >= rows[i].email, "sorted by email, descending") end
  end)

  it("sorts on a click of a column head and filters as a user types", function()
    -- the report as a user drives it: clicks on "vendor", picks a vendor, types a name
    local f = assert(io.open(report))
    local html = f:read("a")
    f:close()
    local driven = report:gsub("%.html$", "-driven.html")
    local w = assert(io.open(driven, "w"))
    w:write((html:gsub("</body>", [[<script>
document.querySelector('th[data-key="vendor"]').click();
var v = document.getElementById('vendor'); v.value = 'kandji'; v.dispatchEvent(new Event('input'));
var q = document.getElementById('q'); q.value = 'GRACE'; q.dispatchEvent(new Event('input'));
</script></body>]])))
    w:close()
    local out = dom(driven)
    local rows = table_rows(out)
    for i = 2, #rows do assert.is_true(rows[i - 1].vendor <= rows[i].vendor, "sorted by vendor") end
    local shown = {}
    for _, r in ipairs(rows) do if not r.hidden then shown[#shown + 1] = r.email .. " " .. r.vendor end end
    assert.same({ "grace@example.com kandji" }, shown)
    assert.truthy(out:find('<span id="shown">1</span>', 1, true))
    assert.truthy(out:find('data%-key="vendor" aria%-sort="ascending"'))
  end)
end)
