-- The userapi command end to end against the simulator: help, formats, parameters, exit codes
-- (the shared cases are in spec/cli_helper.lua).
local h = require "spec.cli_helper"
local csv, cjson, sim, proc, ADA, ALAN = h.csv, h.cjson, h.sim, h.proc, h.ADA, h.ALAN
local SIGFOX_ADA, KANDJI_IDS, run, args, lines = h.SIGFOX_ADA, h.KANDJI_IDS, h.run, h.args, h.lines
local jsonl, ids, userapi = h.jsonl, h.ids, h.userapi

setup(h.build_command)
before_each(function() sim.reset() end)

describe("userapi --help", function()
  it("lists the usage, the vendors, the formats, the credentials and the exit codes", function()
    local code, out, err = run({ "--help" })
    assert.equal(0, code)
    assert.equal("", err)
    for _, s in ipairs({ "Usage: userapi VENDOR OPERATION", "opendatasoft", "arthur", "kandji", "sigfox",
                         "json|jsonl|csv|table", "--all", "--each FILE", "--concurrency N", "--dry-run",
                         "--base-url", "--profile", "USERAPI_KANDJI_TOKEN", "USERAPI_ARTHUR_CLIENT_SECRET",
                         "Exit codes:", "141", "USERAPI_PROFILE", "completion bash|zsh" }) do
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
    local res = cjson.decode(out)
    if res["0"] then                                       -- until the library reads batch answers item by item
      assert.equal("success", res["0"].status_code)
    else
      assert.same({ "new@example.com", true }, { res[1].item, res[1].ok })
    end
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
