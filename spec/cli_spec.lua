-- The userapi command end to end against the simulator: in-process through
-- cli.main with captured streams (under the suite's Lua), and as a real
-- subprocess of bin/userapi (Lua 5.4, no LUA_PATH: it finds the checkout).
local cli = require "userapi.cli"
local format = require "userapi.format"
local config = require "userapi.config"
local csv = require "userapi.csv"
local cjson = require "cjson"
local sim = require "spec.helper"
local proc = require "spec.proc"

local ADA = "69c009ca-1f78-4bdf-bb93-08d6d39041db"      -- Kandji, no devices
local ALAN = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"     -- Kandji, 2 devices
local SIGFOX_ADA = "5f3a9c1e2b4d6f8a0c1e2b4d"

-- credentials as the command reads them
local ENV = {
  USERAPI_ODS_APIKEY = "ods-test-key",
  USERAPI_ARTHUR_TOKEN = "arthur-test-token",
  USERAPI_KANDJI_TOKEN = "kandji-test-token",
  USERAPI_SIGFOX_LOGIN = "sigfox-login",
  USERAPI_SIGFOX_PASSWORD = "sigfox-secret",
  HOME = "/nonexistent",
}

-- a stream that remembers what is written, or hands out `input`
local function stream(input)
  local s = { buf = {}, input = input or "" }
  function s:write(...)
    for i = 1, select("#", ...) do self.buf[#self.buf + 1] = tostring((select(i, ...))) end
    return self
  end
  function s:read(what)
    if what == "*l" or what == "l" then
      if self.input == "" then return nil end
      local line, rest = self.input:match("^([^\n]*)\n?(.*)$")
      self.input = rest
      return line
    end
    local all = self.input
    self.input = ""
    return all
  end
  function s:flush() end
  function s:text() return table.concat(self.buf) end
  return s
end

-- cli.main with captured streams: returns code, stdout, stderr
local function run(argv, opts)
  opts = opts or {}
  local env = {}
  for k, v in pairs(ENV) do env[k] = v end
  for k, v in pairs(opts.env or {}) do env[k] = v or nil end
  local out, err = stream(), stream()
  local code = cli.main(argv, env, { stdin = stream(opts.stdin), stdout = out, stderr = err,
    isatty = function(name) return opts.tty == name end })
  return code, out:text(), err:text()
end

-- the arguments of one call of vendor on the simulator
local function args(vendor, ...)
  local a = { vendor, ... }
  a[#a + 1] = "--base-url"
  a[#a + 1] = sim.base[vendor]
  return a
end

local lines = proc.lines

-- a config file as users keep it: private to them
local function config_file(name, text)
  local path = proc.file(name, text)
  os.execute("chmod 600 " .. path)
  return path
end

local function jsonl(s)
  local t = {}
  for i, l in ipairs(lines(s)) do t[i] = cjson.decode(l) end
  return t
end

local function ids(records)
  local t = {}
  for i, r in ipairs(records) do t[i] = r.id end
  return t
end

local KANDJI_IDS = { ADA, ALAN, "8b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e", "9c3d4e5f-6a7b-4c8d-8e9f-1a2b3c4d5e6f",
                     "ad4e5f6a-7b8c-4d9e-9f0a-2b3c4d5e6f70" }

-- bin/userapi as a subprocess, always Lua 5.4 (the command's own Lua)
local function userapi(argv, env, stdin)
  local e = {}
  for k, v in pairs(ENV) do e[k] = v end
  e.HOME = nil
  for k, v in pairs(env or {}) do e[k] = v end
  local a = { "bin/userapi" }
  for _, x in ipairs(argv) do a[#a + 1] = x end
  return proc.run(a, e, stdin)
end

setup(function()
  -- the command runs on Lua 5.4 whatever Lua runs the suite
  local f = io.open(proc.root .. "/build/lua5.4/userapi/core.so")
  if f then f:close() else os.execute("cd " .. proc.root .. " && make -s all LUA=lua5.4 >/dev/null") end
end)

before_each(function() sim.reset() end)

describe("userapi --help", function()
  it("lists the usage, the vendors, the formats, the credentials and the exit codes", function()
    local code, out, err = run({ "--help" })
    assert.equal(0, code)
    assert.equal("", err)
    for _, s in ipairs({ "Usage: userapi VENDOR OPERATION", "opendatasoft", "arthur", "kandji", "sigfox",
                         "json|jsonl|csv|table", "--all", "--each FILE", "--concurrency N", "--dry-run",
                         "--base-url", "--profile", "USERAPI_KANDJI_TOKEN", "USERAPI_ARTHUR_CLIENT_SECRET",
                         "Exit codes: 0 success" }) do
      assert.truthy(out:find(s, 1, true), s)
    end
  end)

  it("lists every operation of each vendor with its parameters, from the operation tables", function()
    for _, vname in ipairs({ "opendatasoft", "arthur", "kandji", "sigfox" }) do
      local code, out = run({ vname, "--help" })
      assert.equal(0, code)
      local vendor = require("userapi").vendors[vname]
      local n = 0
      for opname, op in pairs(vendor.ops) do
        n = n + 1
        assert.truthy(out:find("\n  " .. opname .. "[ \n]"), vname .. " " .. opname)
        assert.truthy(out:find(op.method .. " " .. op.path, 1, true), op.path)
        for param in op.path:gmatch("{([%w_]+)}") do assert.truthy(out:find(param:upper(), 1, true)) end
        for q in pairs(op.query or {}) do assert.truthy(out:find("--" .. q .. " ", 1, true), opname .. " --" .. q) end
        for f in pairs(op.body and op.body.fields or {}) do assert.truthy(out:find("--" .. f .. " ", 1, true)) end
      end
      assert.truthy(out:find(("userapi %s: %d operations"):format(vname, n), 1, true))
    end
  end)

  it("shows ranges, enums and required body fields", function()
    local _, out = run({ "arthur", "--help" })
    assert.truthy(out:find("--page_size N (1..1000)", 1, true))
    assert.truthy(out:find("--sort name|email|created_at|updated_at", 1, true))
    assert.truthy(out:find("--user_types user|data_plane|service_account (repeat)", 1, true))
    assert.truthy(out:find("--email TEXT (required)", 1, true))
    local _, one = run({ "sigfox", "update_api_user", "--help" })
    assert.truthy(one:find("Usage: userapi sigfox update_api_user ID --body JSON", 1, true))
    assert.truthy(one:find("--name TEXT (max 100)", 1, true))
  end)

  it("is what bin/userapi prints, as a subprocess", function()
    local r = userapi({ "kandji", "--help" })
    assert.equal(0, r.code)
    assert.truthy(r.out:find("list_users", 1, true))
    assert.truthy(r.out:find("delete_user USER_ID", 1, true))
    local v = userapi({ "--version" })
    assert.equal(0, v.code)
    assert.equal("userapi " .. require("userapi")._VERSION .. "\n", v.out)
  end)
end)

describe("formats", function()
  it("json: the answer as sent, indented, keys sorted", function()
    local code, out, err = run(args("kandji", "list_users"))
    assert.equal(0, code)
    assert.equal("", err)
    local page = cjson.decode(out)
    assert.same(KANDJI_IDS, ids(page.results))
    assert.truthy(out:find('^{\n  "next": null,\n  "previous": null,\n  "results": %[\n    {\n      "active": true,\n'))
    assert.same({ method = "GET", path = "/kandji/api/v1/users", query = "" },
      { method = sim.last_request().method, path = sim.last_request().path, query = sim.last_request().query })
  end)

  it("jsonl: one user per line", function()
    local code, out = run(args("kandji", "list_users", "--format", "jsonl"))
    assert.equal(0, code)
    local users = jsonl(out)
    assert.same(KANDJI_IDS, ids(users))
    assert.equal("ada@example.com", users[1].email)
    assert.equal(2, users[2].device_count)
    assert.falsy(out:find("\n\n", 1, true))
  end)

  it("csv: a header from the union of the keys, identifying columns first", function()
    local code, out = run(args("kandji", "list_users", "--format", "csv"))
    assert.equal(0, code)
    local head = lines(out)[1]
    assert.equal("id,email,name,active,archived,created_at,department,deprecated_user_id,device_count,"
      .. "integration,job_title,updated_at", head)
    local rows = csv.parse(out)
    assert.equal(5, #rows)
    assert.equal(ALAN, rows[2].id)
    assert.equal("2", rows[2].device_count)
    assert.equal("false", rows[1].archived)
    assert.equal("", rows[3].department)                     -- null
    assert.same({ id = 634, name = "example", type = "office365", uuid = "f7461096-3f6e-4f1c-9d5e-2a8b7c9d0e11" },
      cjson.decode(rows[1].integration))                     -- nested: JSON in the cell
  end)

  it("csv: quotes what needs quoting; --columns picks the columns", function()
    local code, out = run(args("opendatasoft", "get_users", "--format", "csv",
      "--columns", "username,last_name,groups"))
    assert.equal(0, code)
    assert.truthy(out:find('edsger.dijkstra,"Dijkstra, ""EWD""",\n', 1, true))
    assert.equal("username,last_name,groups", lines(out)[1])
    assert.equal(5, #csv.parse(out))
  end)

  it("table: aligned columns under a header and a rule", function()
    local code, out = run(args("kandji", "list_users", "--format", "table",
      "--columns", "email,name,device_count,archived"))
    assert.equal(0, code)
    local l = lines(out)
    assert.equal(7, #l)
    assert.truthy(l[1]:find("^email +name +device_count +archived$"))
    assert.truthy(l[2]:find("^%-+  %-+  %-+  %-+$"))
    local col = l[1]:find("device_count", 1, true)
    for i = 3, 7 do
      assert.truthy(l[i]:sub(col, col):find("%d"), l[i])      -- counts start under their header
      assert.truthy(l[i]:find(" true$") or l[i]:find(" false$"), l[i])   -- false is shown, not blank
    end
    assert.truthy(l[4]:find("^alan@example%.com +Alan Turing +2 +false$"))
  end)

  it("table: long cells are cut for the terminal", function()
    local _, out = run(args("kandji", "list_users", "--format", "table", "--columns", "id,integration"))
    assert.truthy(out:find('{"id":634,"name":"example","type":"office365"...', 1, true))
  end)

  it("a single record is one row; a 204 prints nothing", function()
    local code, out = run(args("kandji", "get_user", ADA, "--format", "jsonl"))
    assert.equal(0, code)
    assert.same({ ADA }, ids(jsonl(out)))
    code, out = run(args("kandji", "delete_user", ADA))
    assert.equal(0, code)
    assert.equal("", out)
    assert.equal(4, sim.state("kandji").count)
  end)

  it("users_export: the CSV as sent, or its rows with a format", function()
    local code, out = run(args("opendatasoft", "users_export"))
    assert.equal(0, code)
    assert.truthy(out:find("^username,last_name,first_name,email,date_joined,last_seen,groups,permissions\r\n"))
    code, out = run(args("opendatasoft", "users_export", "--format", "jsonl", "--delimiter", ";"))
    assert.equal(0, code)
    local rows = jsonl(out)
    assert.equal(5, #rows)
    assert.same({ "edit_domain", "manage_dataset" }, rows[1].permissions)
    assert.equal("delimiter=%3B", sim.last_request().query)
  end)

  it("refuses an unknown format", function()
    local code, _, err = run(args("kandji", "list_users", "--format", "xml"))
    assert.equal(2, code)
    assert.truthy(err:find("--format: json, jsonl, csv or table expected", 1, true))
    assert.same({}, sim.requests())
  end)
end)

describe("parameters", function()
  it("are converted per the operation table: flags, integers, repeated arrays, wire names", function()
    assert.equal(0, (run(args("kandji", "list_users", "--archived", "false", "--email", "ada"))))
    assert.equal("archived=false&email=ada", sim.last_request().query)
    assert.equal(0, (run(args("arthur", "get_organization_users", "--user_types", "user", "--user-types",
      "service_account", "--page_size", "2", "--sort=email"))))
    assert.equal("page_size=2&sort=email&user_types=user&user_types=service_account", sim.last_request().query)
    assert.equal(0, (run(args("sigfox", "list_api_users", "--group_ids", "a1", "--groupIds", "b2", "--limit", "1"))))
    assert.equal("groupIds=a1%2Cb2&limit=1", sim.last_request().query)
  end)

  it("refuses bad values before sending (exit 2)", function()
    local cases = {
      { args("sigfox", "list_api_users", "--limit", "x"), "--limit: integer expected, got 'x'" },
      { args("sigfox", "list_api_users", "--limit", "500"), "limit: out of range 1..100, got 500" },
      { args("arthur", "get_organization_users", "--sort", "age"), "one of name, email, created_at, updated_at" },
      { args("kandji", "list_users", "--archived", "maybe"), "--archived: true or false expected" },
      { args("kandji", "list_users", "--bogus", "1"), "unknown parameter '--bogus' for kandji list_users" },
      { args("kandji", "list_users", "--email", "a", "--email", "b"), "--email given twice" },
      { args("kandji", "get_user"), "kandji get_user: missing USER_ID" },
      { args("kandji", "get_user", "a", "b"), "too many arguments" },
      { args("kandji", "get_user", "a/b"), "user_id: contains one of / ? # % CR LF NUL" },
      { { "kandji", "list_users", "--limit" }, "--limit needs a value" },
      { args("kandji", "nope"), "unknown operation 'nope' for kandji" },
      { { "nope", "list" }, "unknown vendor 'nope'" },
      { {}, "a vendor and an operation expected" },
      { args("kandji", "list_users", "--concurrency", "4"), "--concurrency goes with --each" },
      { args("kandji", "get_user", "--each", "x", "--concurrency", "65"), "--concurrency: an integer 1..64" },
      { args("kandji", "get_user", "x", "--all"), "--all walks list_users, not get_user" },
    }
    for _, c in ipairs(cases) do
      local code, out, err = run(c[1])
      assert.equal(2, code, c[2])
      assert.equal("", out)
      assert.truthy(err:find(c[2], 1, true), err)
    end
    assert.same({}, sim.requests())
  end)

  it("--body JSON, @file and @- (stdin), and body fields as options", function()
    assert.equal(0, (run(args("sigfox", "update_api_user", SIGFOX_ADA, "--body", '{"name":"x"}'))))
    assert.equal('{"name":"x"}', sim.last_request().body)
    local file = proc.file("body.json", '{"name":"from a file","timezone":"UTC"}')
    assert.equal(0, (run(args("sigfox", "update_api_user", SIGFOX_ADA, "--body", "@" .. file))))
    assert.same({ name = "from a file", timezone = "UTC" }, cjson.decode(sim.last_request().body))
    assert.equal(0, (run(args("sigfox", "update_api_user", SIGFOX_ADA, "--body", "@-"),
      { stdin = '{"name":"piped"}' })))
    assert.equal("piped", sim.state("sigfox").users[1].name)
    -- fields as options; arrays repeat
    assert.equal(0, (run(args("sigfox", "update_api_user", SIGFOX_ADA, "--name", "y", "--profileIds",
      "5138e7dfa2f1fffaf25fd40a", "--profileIds", "5138e7dfa2f1fffaf25fd40b"))))
    local u = sim.state("sigfox").users[1]
    assert.equal("y", u.name)
    assert.same({ "5138e7dfa2f1fffaf25fd40a", "5138e7dfa2f1fffaf25fd40b" }, { u.profiles[1].id, u.profiles[2].id })
    -- an array body from fields: one item
    local code, out = run(args("opendatasoft", "invite_users", "--email", "new@example.com"))
    assert.equal(0, code)
    assert.equal("success", cjson.decode(out)["0"].status_code)
    assert.same({ { email = "new@example.com" } }, cjson.decode(sim.last_request().body))
  end)

  it("refuses bad JSON, a missing body and a body where none goes (exit 2)", function()
    local cases = {
      { args("sigfox", "update_api_user", SIGFOX_ADA, "--body", "{bad"), "--body: bad JSON" },
      { args("sigfox", "update_api_user", SIGFOX_ADA), "needs a body" },
      { args("sigfox", "update_api_user", SIGFOX_ADA, "--body", "@/nonexistent/x"), "--body: cannot read" },
      { args("kandji", "get_user", ADA, "--body", "{}"), "kandji get_user takes no body" },
      { args("sigfox", "create_api_user", "--body", '{"name":"x"}'), "required field 'groupId' missing" },
      { args("arthur", "post_organization_user_invite", "--role_binding", "{x"), "--role_binding: bad JSON" },
    }
    for _, c in ipairs(cases) do
      local code, _, err = run(c[1])
      assert.equal(2, code, c[2])
      assert.truthy(err:find(c[2], 1, true), err)
    end
    assert.same({}, sim.requests())
  end)
end)

describe("exit codes", function()
  it("1 when the operation fails, the vendor's error on stderr", function()
    local code, out, err = run(args("kandji", "delete_user", ALAN))
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal("kandji delete_user: 400 User still assigned to one or more devices.\n", err)
    code, out, err = run(args("sigfox", "get_api_user", "000000000000000000000000"))
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal("sigfox get_api_user: 404 The requested resource was not found.\n", err)
  end)

  it("1 when a page fails in the middle of --all", function()
    sim.config{ kandji_page_size = 2 }
    sim.fault{ match = { vendor = "kandji", query = "cursor=" }, status = 500, times = 0 }
    local code, out, err = run(args("kandji", "list_users", "--all", "--format", "jsonl"))
    assert.equal(1, code)
    assert.equal(2, #lines(out))                  -- the first page was written
    assert.truthy(err:find("^kandji list_users: 500"))
  end)

  it("2 when credentials are missing, naming the variables and the config file", function()
    local code, _, err = run(args("kandji", "list_users"), { env = { USERAPI_KANDJI_TOKEN = false } })
    assert.equal(2, code)
    assert.truthy(err:find("missing credentials for kandji (token)", 1, true))
    assert.truthy(err:find("USERAPI_KANDJI_TOKEN", 1, true))
    assert.truthy(err:find("[default.kandji]", 1, true))
    code, _, err = run({ "kandji", "list_users" })
    assert.equal(2, code)
    assert.truthy(err:find("missing credentials for kandji (subdomain or base_url)", 1, true))
    code, _, err = run(args("arthur", "get_users_me"), { env = { USERAPI_ARTHUR_TOKEN = false } })
    assert.equal(2, code)
    assert.truthy(err:find("USERAPI_ARTHUR_CLIENT_ID", 1, true))
    assert.same({}, sim.requests())
  end)

  it("0, 1 and 2 from the real command", function()
    local ok = userapi(args("kandji", "list_users", "--format", "jsonl", "--archived", "true"))
    assert.equal(0, ok.code)
    assert.equal("", ok.err)
    assert.same({ "9c3d4e5f-6a7b-4c8d-8e9f-1a2b3c4d5e6f" }, ids(jsonl(ok.out)))
    local failed = userapi(args("kandji", "delete_user", ALAN))
    assert.equal(1, failed.code)
    assert.equal("kandji delete_user: 400 User still assigned to one or more devices.\n", failed.err)
    local bad = userapi(args("kandji", "list_users", "--bogus", "1"))
    assert.equal(2, bad.code)
    assert.truthy(bad.err:find("^userapi: unknown parameter '%-%-bogus'"))
    local nocreds = userapi(args("sigfox", "list_api_users"), { USERAPI_SIGFOX_PASSWORD = "" })
    assert.equal(2, nocreds.code)
    assert.truthy(nocreds.err:find("USERAPI_SIGFOX_PASSWORD", 1, true))
  end)
end)

describe("--all", function()
  it("walks every cursor page of Kandji", function()
    sim.config{ kandji_page_size = 2 }
    local code, out = run(args("kandji", "list_users", "--all", "--format", "jsonl"))
    assert.equal(0, code)
    assert.same(KANDJI_IDS, ids(jsonl(out)))
    local reqs = sim.requests()
    assert.equal(3, #reqs)
    assert.equal("", reqs[1].query)
    assert.truthy(reqs[2].query:find("^cursor="))
  end)

  it("walks offset pages with the parameters given, as a JSON array by default", function()
    sim.control("POST", "seed", { vendor = "opendatasoft", count = 245 })
    local code, out = run(args("opendatasoft", "get_users", "--all", "--limit", "100", "--sort", "username"))
    assert.equal(0, code)
    local users = cjson.decode(out)
    assert.equal(250, #users)
    local reqs = sim.requests()
    assert.equal(3, #reqs)
    -- pages 2 and 3 are asked for at once: they may arrive in either order
    local queries = {}
    for _, r in ipairs(reqs) do queries[r.query] = true end
    assert.truthy(queries["limit=100&offset=200&sort=username"])
  end)

  it("walks Arthur's numbered pages and Sigfox's paging.next, in every format", function()
    for _, fmt in ipairs({ "json", "jsonl", "csv", "table" }) do
      sim.reset()
      local code, out = run(args("arthur", "get_organization_users", "--all", "--page_size", "2", "--format", fmt))
      assert.equal(0, code)
      assert.equal(3, #sim.requests())
      local n = fmt == "json" and #cjson.decode(out) or fmt == "jsonl" and #lines(out)
        or fmt == "csv" and #csv.parse(out) or #lines(out) - 2
      assert.equal(5, n, fmt)
    end
    local code, out = run(args("sigfox", "--all", "--limit", "1", "--format", "jsonl"))   -- the list op is implied
    assert.equal(0, code)
    assert.equal(3, #jsonl(out))
  end)
end)

describe("--each", function()
  local function seed_sigfox(n)
    sim.control("POST", "seed", { vendor = "sigfox", count = n })
    local t = {}
    for k = 1, n do t[k] = ("5f00000000%014x"):format(k) end
    return t
  end

  it("runs one call per line of a file, results in input order", function()
    local file = proc.file("ids.txt", ADA .. "\n# a comment\n\nnot-a-user\n" .. ALAN .. "\n")
    local code, out, err = run(args("kandji", "get_user", "--each", file))
    assert.equal(1, code)                                  -- one item failed
    local res = cjson.decode(out)
    assert.equal(3, #res)
    assert.same({ ADA, "not-a-user", ALAN }, { res[1].item, res[2].item, res[3].item })
    assert.same({ true, false, true }, { res[1].ok, res[2].ok, res[3].ok })
    assert.equal(ADA, res[1].result.id)
    assert.equal(404, res[2].status)
    assert.equal("kandji get_user: 404 Not found.", res[2].error)
    assert.equal("not-a-user: kandji get_user: 404 Not found.\n", err)
  end)

  it("deletes from stdin with --concurrency, every format", function()
    local list = seed_sigfox(12)
    local code, out, err = run(args("sigfox", "delete_api_user", "--each", "-", "--concurrency", "4",
      "--format", "csv"), { stdin = table.concat(list, "\n", 1, 6) .. "\n" })
    assert.equal(0, code)
    assert.equal("", err)                                  -- not a terminal: no progress bar
    local rows = csv.parse(out)
    assert.equal(6, #rows)
    assert.same({ item = list[1], ok = "true", status = "", error = "", result = "" }, rows[1])
    assert.equal(9, sim.state("sigfox").count)
    code, out = run(args("sigfox", "delete_api_user", "--each", "-", "--format", "table"),
      { stdin = table.concat(list, "\n", 7, 9) })
    assert.equal(0, code)
    assert.truthy(lines(out)[1]:find("^item +ok +status +error +result$"))
    assert.equal(5, #lines(out))
    code, out = run(args("sigfox", "delete_api_user", "--each", "-", "--format", "jsonl"),
      { stdin = table.concat(list, "\n", 10, 12) })
    assert.equal(0, code)
    assert.same({ true, true, true }, { jsonl(out)[1].ok, jsonl(out)[2].ok, jsonl(out)[3].ok })
    assert.equal(3, sim.state("sigfox").count)
  end)

  it("runs --concurrency calls at once", function()
    local list = seed_sigfox(8)
    sim.fault{ match = { vendor = "sigfox", op = "get_api_user" }, delay_ms = 300, times = 0 }
    local stdin = table.concat(list, "\n")
    local started = require("userapi.core").now()
    local code = run(args("sigfox", "get_api_user", "--each", "-", "--concurrency", "8"), { stdin = stdin })
    local parallel = require("userapi.core").now() - started
    assert.equal(0, code)
    started = require("userapi.core").now()
    code = run(args("sigfox", "get_api_user", "--each", "-", "--concurrency", "1"), { stdin = stdin })
    local serial = require("userapi.core").now() - started
    assert.equal(0, code)
    assert.is_true(serial >= 8 * 300)
    assert.is_true(parallel < serial / 2, ("parallel %.0f ms, serial %.0f ms"):format(parallel, serial))
  end)

  it("fills the other path parameters from ARGS; a line may give several", function()
    local code = run(args("sigfox", "delete_profile_of_api_user", "--each", "-", "5138e7dfa2f1fffaf25fd40a"),
      { stdin = "5f3a9c1e2b4d6f8a0c1e2b4e\n5f3a9c1e2b4d6f8a0c1e2b4f\n" })
    assert.equal(0, code)
    local reqs = sim.requests()
    assert.equal("/sigfox/v2/api-users/5f3a9c1e2b4d6f8a0c1e2b4e/profiles/5138e7dfa2f1fffaf25fd40a", reqs[1].path)
    code = run(args("sigfox", "delete_profile_of_api_user", "--each", "-"),
      { stdin = SIGFOX_ADA .. " 5138e7dfa2f1fffaf25fd409\n" })
    assert.equal(0, code)
    local _, _, err = run(args("sigfox", "delete_profile_of_api_user", "--each", "-"), { stdin = SIGFOX_ADA .. "\n" })
    assert.truthy(err:find("line 1 has 1 field(s)", 1, true))
  end)

  it("draws a progress bar on stderr only when stderr is a terminal", function()
    local list = seed_sigfox(5)
    local code, out, err = run(args("sigfox", "get_api_user", "--each", "-", "--format", "jsonl"),
      { stdin = table.concat(list, "\n"), tty = "stderr" })
    assert.equal(0, code)
    assert.equal(5, #lines(out))                           -- stdout stays clean
    assert.truthy(err:find("\r[##############################] 5/5\n", 1, true))
    -- a real subprocess: stderr is a pipe
    local r = userapi(args("sigfox", "get_api_user", "--each", "-", "--format", "jsonl"), nil, table.concat(list, "\n"))
    assert.equal(0, r.code)
    assert.equal("", r.err)
    assert.equal(5, #lines(r.out))
  end)

  it("draws the bar on a real terminal (script(1) gives the command a pty)", function()
    local found = os.execute("command -v script >/dev/null 2>&1")
    if found ~= true and found ~= 0 then
      pending("script(1) is not installed")
      return
    end
    local list = seed_sigfox(3)
    local idfile = proc.file("tty-ids.txt", table.concat(list, "\n"))
    local cmd = { "bin/userapi" }
    for _, a in ipairs(args("sigfox", "get_api_user", "--each", idfile, "--format", "jsonl")) do cmd[#cmd + 1] = a end
    local words = {}
    for i, a in ipairs(cmd) do words[i] = proc.quote(a) end
    local env = {}
    for k, v in pairs(ENV) do env[k] = v end
    env.HOME = nil
    -- inside the pty: stderr on the terminal, stdout thrown away
    local inner = table.concat(words, " ") .. " 2>&1 >/dev/null"
    local r = proc.run(nil, env, nil, "script -qec " .. proc.quote(inner) .. " /dev/null")
    assert.equal(0, r.code)
    assert.truthy(r.out:find("] 3/3", 1, true), r.out)
  end)
end)

describe("--dry-run", function()
  it("prints the request with the credentials redacted and sends nothing", function()
    local code, out, err = run(args("kandji", "delete_user", ADA, "--dry-run"))
    assert.equal(0, code)
    assert.equal("DELETE " .. sim.base.kandji .. "/api/v1/users/" .. ADA .. "\n"
      .. "Accept: application/json\nAuthorization: Bearer [REDACTED]\n", out)
    assert.truthy(err:find("1 request(s) not sent", 1, true))
    assert.falsy((out .. err):find("kandji-test-token", 1, true))
    assert.same({}, sim.requests())
    assert.equal(5, sim.state("kandji").count)
  end)

  it("shows the query, the body and each vendor's auth, secrets hidden", function()
    local code, out = run(args("sigfox", "update_api_user", SIGFOX_ADA, "--name", "x", "--dry-run"))
    assert.equal(0, code)
    assert.equal("PUT " .. sim.base.sigfox .. "/api-users/" .. SIGFOX_ADA .. "\nAccept: application/json\n"
      .. "Authorization: Basic [REDACTED]\nContent-Type: application/json\n\n{\"name\":\"x\"}\n", out)
    code, out = run(args("opendatasoft", "get_users", "--search", "ada lovelace", "--limit", "5", "--dry-run"))
    assert.equal(0, code)
    assert.equal("GET " .. sim.base.opendatasoft .. "/users/?limit=5&search=ada%20lovelace", lines(out)[1])
    assert.truthy(out:find("Authorization: Apikey [REDACTED]", 1, true))
    -- the token of an Arthur client-credentials grant is not even fetched
    code, out = run(args("arthur", "get_users_me", "--dry-run"), { env = { USERAPI_ARTHUR_TOKEN = false,
      USERAPI_ARTHUR_CLIENT_ID = "arthur-client", USERAPI_ARTHUR_CLIENT_SECRET = "arthur-secret" } })
    assert.equal(0, code)
    assert.truthy(out:find("Authorization: Bearer [REDACTED]", 1, true))
    assert.falsy(out:find("arthur-secret", 1, true))
    for _, s in ipairs({ "ods-test-key", "sigfox-secret", "sigfox-login" }) do assert.falsy(out:find(s, 1, true)) end
    assert.same({}, sim.requests())
  end)

  it("redacts an API key sent in the query", function()
    local cfg = config_file("config-query", "[default.opendatasoft]\napikey_in = query\n")
    local code, out = run(args("opendatasoft", "get_user", "ada.lovelace", "--dry-run"),
      { env = { USERAPI_CONFIG = cfg } })
    assert.equal(0, code)
    assert.truthy(out:find("/users/ada.lovelace/?apikey=[REDACTED]\n", 1, true))
    assert.falsy(out:find("ods-test-key", 1, true))
    assert.same({}, sim.requests())
  end)

  it("--each: every request, none sent; --all: the first page", function()
    local code, out = run(args("kandji", "delete_user", "--each", "-", "--dry-run"),
      { stdin = ADA .. "\n" .. ALAN .. "\n" })
    assert.equal(0, code)
    local _, n = out:gsub("DELETE ", "")
    assert.equal(2, n)
    local err
    code, out, err = run(args("arthur", "get_organization_users", "--all", "--dry-run"))
    assert.equal(0, code)
    assert.truthy(out:find("/organization/users?page=1&page_size=1000\n", 1, true))
    assert.truthy(err:find("the first page", 1, true))
    assert.same({}, sim.requests())
  end)

  it("still refuses bad input (exit 2)", function()
    local code = run(args("kandji", "delete_user", "a/b", "--dry-run"))
    assert.equal(2, code)
  end)

  it("from the real command: nothing reaches the simulator", function()
    local r = userapi(args("sigfox", "delete_api_user", SIGFOX_ADA, "--dry-run"))
    assert.equal(0, r.code)
    assert.truthy(r.out:find("^DELETE "))
    assert.falsy((r.out .. r.err):find("sigfox-secret", 1, true))
    assert.same({}, sim.requests())
    assert.equal(3, sim.state("sigfox").count)
  end)
end)

describe("secrets", function()
  it("are redacted from the vendor's error on stderr", function()
    sim.fault{ match = { vendor = "kandji" }, status = 401, body = '{"detail":"Invalid token kandji-test-token."}' }
    local code, out, err = run(args("kandji", "list_users"))
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal("kandji list_users: 401 Invalid token [REDACTED].\n", err)
    sim.fault{ match = { vendor = "sigfox" }, status = 403, body = '{"message":"sigfox-secret is not allowed"}' }
    local r = userapi(args("sigfox", "list_api_users"))
    assert.equal(1, r.code)
    assert.equal("sigfox list_api_users: 403 [REDACTED] is not allowed\n", r.err)
  end)

  it("come from a config file profile, the environment winning over the file", function()
    local cfg = config_file("config", table.concat({
      "# userapi config",
      "[ops.kandji]",
      "token = \"kandji-test-token\"",
      "base_url = " .. sim.base.kandji,
      "[stale.kandji]",
      "token = wrong",
      "base_url = " .. sim.base.kandji,
      "[default.arthur]",
      "client_id = arthur-client",
      "client_secret = arthur-secret",
      "base_url = " .. sim.base.arthur,
    }, "\n"))
    local env = { USERAPI_CONFIG = cfg, USERAPI_KANDJI_TOKEN = false, USERAPI_ARTHUR_TOKEN = false }
    local code, out = run({ "kandji", "list_users", "--profile", "ops", "--format", "jsonl" }, { env = env })
    assert.equal(0, code)
    assert.equal(5, #lines(out))
    code = run({ "kandji", "list_users", "--profile", "stale" }, { env = env })
    assert.equal(1, code)
    env.USERAPI_KANDJI_TOKEN = "kandji-test-token"
    code = run({ "kandji", "list_users", "--profile", "stale" }, { env = env })
    assert.equal(0, code)
    -- the client-credentials grant, from the default profile
    code, out = run({ "arthur", "get_users_me" }, { env = env })
    assert.equal(0, code)
    assert.equal("userapi automation", cjson.decode(out).first_name)
  end)

  it("a malformed config file or an unknown key is a usage error", function()
    local bad = config_file("config-bad", "[default.kandji]\ntoken\n")
    local code, _, err = run(args("kandji", "list_users"), { env = { USERAPI_CONFIG = bad } })
    assert.equal(2, code)
    assert.truthy(err:find("config-bad:2: expected [profile.vendor] or key = value", 1, true))
    local unknown = config_file("config-unknown", "[default.kandji]\npassword = x\n")
    code, _, err = run(args("kandji", "list_users"), { env = { USERAPI_CONFIG = unknown } })
    assert.equal(2, code)
    assert.truthy(err:find("unknown key 'password' for kandji", 1, true))
  end)

  it("a missing USERAPI_CONFIG is fatal only when a credential is needed from it", function()
    local code = run(args("kandji", "list_users"), { env = { USERAPI_CONFIG = "/nonexistent/config" } })
    assert.equal(0, code)
    local _, err
    code, _, err = run(args("kandji", "list_users"),
      { env = { USERAPI_CONFIG = "/nonexistent/config", USERAPI_KANDJI_TOKEN = false } })
    assert.equal(2, code)
    assert.truthy(err:find("missing credentials for kandji (token)", 1, true), err)
    assert.truthy(err:find("USERAPI_CONFIG: cannot read /nonexistent/config", 1, true), err)
  end)

  it("refuses a config file others may read or change, or that is not the user's (exit 2, chmod 600)", function()
    local cfg = config_file("config-perm", "[default.kandji]\ntoken = kandji-test-token\n")
    local env = { USERAPI_CONFIG = cfg, USERAPI_KANDJI_TOKEN = false }
    for _, mode in ipairs({ "644", "666", "640", "604", "620" }) do
      os.execute("chmod " .. mode .. " " .. cfg)
      local code, out, err = run(args("kandji", "list_users"), { env = env })
      assert.equal(2, code, mode)
      assert.equal("", out)
      assert.truthy(err:find("run chmod 600 " .. cfg, 1, true), err)
      assert.equal(0, #sim.requests())
    end
    os.execute("chmod 600 " .. cfg)
    assert.equal(0, (run(args("kandji", "list_users"), { env = env })))
    -- another user's file, however private (root may give it away)
    if os.execute("chown 65534 " .. cfg .. " 2>/dev/null") then
      local code, _, err = run(args("kandji", "list_users"), { env = env })
      assert.equal(2, code)
      assert.truthy(err:find("belongs to uid 65534, not to you", 1, true), err)
    end
  end)

  it("--token-from-stdin reads the secret from standard input, as a subprocess", function()
    local r = userapi(args("kandji", "list_users", "--token-from-stdin", "--format", "jsonl"),
      { USERAPI_KANDJI_TOKEN = "" }, "kandji-test-token\n")
    assert.equal(0, r.code)
    assert.equal(5, #lines(r.out))
    assert.equal("Bearer kandji-test-token", sim.last_request().headers.authorization)
    r = userapi(args("kandji", "list_users", "--token-from-stdin"), nil, "")
    assert.equal(2, r.code)
    assert.truthy(r.err:find("standard input is empty", 1, true))
    r = userapi(args("kandji", "delete_user", "--token-from-stdin", "--each", "-"), nil, "x\n")
    assert.equal(2, r.code)
  end)
end)

describe("output helpers", function()
  it("csv.format_row quotes delimiters, quotes and line breaks", function()
    assert.equal('ada,"Ada, Countess","say ""hi""","a\nb",',
      csv.format_row{ "ada", "Ada, Countess", 'say "hi"', "a\nb", "" })
    assert.equal('a;"b;c";d,e', csv.format_row({ "a", "b;c", "d,e" }, ";"))
    local row = csv.parse("h1,h2,h3\n" .. csv.format_row{ 'x"y', "1,2", "l1\r\nl2" } .. "\n")[1]
    assert.same({ h1 = 'x"y', h2 = "1,2", h3 = "l1\r\nl2" }, row)
  end)

  it("to_json sorts keys, keeps slashes, escapes control bytes, writes integers as integers", function()
    local null = require("userapi").null
    assert.equal('{"a":[1,2.5,"x/y"],"b":null,"c":{},"d":"\\u0001\\n\\"","e":1435579813762}',
      format.to_json{ e = 1435579813762.0, d = '\1\n"', c = {}, b = null, a = { 1, 2.5, "x/y" } })
    assert.equal('[\n  {\n    "k": true\n  }\n]', format.to_json({ { k = true } }, 2))
  end)

  it("cells: null empty, arrays of strings joined, objects as JSON", function()
    local null = require("userapi").null
    assert.same({ "", "", "a;b", '[{"uid":"x"}]', '{"n":1}', "2", "false" },
      { format.cell(nil), format.cell(null), format.cell{ "a", "b" }, format.cell{ { uid = "x" } },
        format.cell{ n = 1 }, format.cell(2.0), format.cell(false) })
  end)

  it("config.parse reads [profile.vendor] sections", function()
    assert.same({ ["default.kandji"] = { token = "t", subdomain = "acme" }, ["ops.sigfox"] = { login = "l" } },
      config.parse("# c\n[default.kandji]\ntoken = \"t\"\n; c\nsubdomain=acme\n\n[ ops.sigfox ]\nlogin = l\n"))
    assert.has_error(function() config.parse("token = x\n", "f") end)
  end)
end)

describe("writing the output", function()
  -- Opendatasoft pages that never end: full pages, a next link with no offset
  local function endless_pages()
    local users = {}
    for i = 1, 100 do users[i] = { username = "user" .. i, email = "user" .. i .. "@example.com" } end
    sim.fault{ match = { vendor = "ods", method = "GET", path = ".*/users/" }, times = 0,
               body = { results = users, next = "http://elsewhere.invalid/users/?more" } }
  end

  -- a stdout that fails every write after the first `ok` with this error
  -- (and raises, ending the case, when writes go on long after that)
  local function failing(ok, msg, code)
    local s = stream()
    local n = 0
    function s:write(...)
      n = n + 1
      if n > ok + 100 then error("still writing long after the failure") end
      if n > ok then return nil, msg, code end
      return stream().write(self, ...)
    end
    function s:flush()
      if n > ok then return nil, msg, code end
      return self
    end
    return s
  end

  local function run_to(out, argv)
    local err = stream()
    local env = {}
    for k, v in pairs(ENV) do env[k] = v end
    local code = cli.main(argv, env, { stdin = stream(), stdout = out, stderr = err,
                                       isatty = function() return false end })
    return code, err:text()
  end

  it("a failed write is exit 1 with a message", function()
    local code, err = run_to(failing(0, "No space left on device", 28), args("kandji", "get_user", ADA))
    assert.equal(1, code)
    assert.equal("userapi: cannot write the output: No space left on device\n", err)
  end)

  it("> /dev/full is exit 1 with a message, from the real command", function()
    local r = proc.run(nil, ENV, nil, "sh -c " .. proc.quote("bin/userapi kandji get_user " .. ADA
      .. " --base-url " .. proc.quote(sim.base.kandji) .. " >/dev/full"))
    assert.equal(1, r.code)
    assert.truthy(r.err:find("cannot write the output: No space left on device", 1, true), r.err)
  end)

  it("a closed pipe stops the walk at once: status 141, no message", function()
    endless_pages()
    local code, err = run_to(failing(3, "Broken pipe", 32), args("opendatasoft", "get_users", "--all", "--format",
      "jsonl"))
    assert.equal(141, code)
    assert.equal("", err)
    -- the page whose rows did not all go out, at most the next one (asked for while they were written), no more
    assert.is_true(#sim.requests() <= 2)
  end)

  it("| head -1 on pages that never end sends a handful of requests, from the real command", function()
    endless_pages()
    local cmd = ("cd %s && env -i PATH=%s USERAPI_ODS_APIKEY=ods-test-key timeout 30 bash -c %s 2>%s/pipe-err")
      :format(proc.quote(proc.root), proc.quote(os.getenv("PATH")), proc.quote(
        "bin/userapi ods get_users --all --format jsonl --base-url " .. proc.quote(sim.base.opendatasoft)
        .. ' | head -1 >/dev/null; echo "${PIPESTATUS[0]}"'), proc.tmpdir())
    local p = assert(io.popen(cmd))
    local status = tonumber(p:read("*l"))
    p:close()
    assert.equal(141, status)
    assert.equal("", proc.slurp(proc.tmpdir() .. "/pipe-err"))
    local n = #sim.requests()
    assert.truthy(n >= 1 and n <= 10, n .. " requests")
  end)
end)

describe("vendor text on a terminal", function()
  local NASTY = "\27]0;pwned\7\27[2J\194\155c gone\tnow"

  it("stderr: the vendor's message has its control characters escaped", function()
    sim.fault{ match = { vendor = "kandji", op = "get_user" }, status = 400,
               body = { detail = NASTY } }
    local code, _, err = run(args("kandji", "get_user", ADA))
    assert.equal(1, code)
    assert.falsy(err:find("[\1-\9\11-\31\127]"))
    assert.falsy(err:find("\194\155", 1, true))
    assert.truthy(err:find("\\x1b]0;pwned\\x07\\x1b[2J\\u009bc gone\\tnow", 1, true), err)
  end)

  it("table: escaped; json and csv: the data as it is, in their own escapes", function()
    local user = { id = ADA, email = "ada@example.com", name = NASTY, ["k\27[2J"] = "v" }
    sim.fault{ match = { vendor = "kandji", op = "get_user" }, body = user, times = 0 }
    local code, out = run(args("kandji", "get_user", ADA, "--format", "table"))
    assert.equal(0, code)
    assert.falsy(out:find("[\1-\9\11-\31\127]"))
    assert.falsy(out:find("\194\155", 1, true))
    assert.truthy(out:find("\\x1b]0;pwned", 1, true))
    assert.truthy(out:find("k\\x1b[2J", 1, true))
    code, out = run(args("kandji", "get_user", ADA, "--format", "csv"))
    assert.equal(0, code)
    assert.truthy(out:find(NASTY, 1, true))
    code, out = run(args("kandji", "get_user", ADA))
    assert.equal(0, code)
    assert.equal(NASTY, cjson.decode(out).name)
  end)
end)

describe("server data the library refuses", function()
  it("is exit 1, not the usage error's 2: a cursor with CR LF in the next page's link", function()
    sim.fault{ match = { vendor = "kandji", op = "list_users" },
               body = { results = { { id = ADA, email = "ada@example.com" } },
                        next = "http://127.0.0.1/api/v1/users?cursor=abc%0D%0AX-Injected:%201" } }
    local code, out, err = run(args("kandji", "list_users", "--all", "--format", "jsonl"))
    assert.equal(1, code)
    assert.equal(1, #lines(out))
    assert.truthy(err:find("kandji", 1, true), err)
    assert.equal(1, #sim.requests())
  end)

  it("input the user gave is still exit 2, nothing sent", function()
    local code = run(args("kandji", "get_user", "a/b"))
    assert.equal(2, code)
    assert.equal(0, #sim.requests())
  end)
end)
