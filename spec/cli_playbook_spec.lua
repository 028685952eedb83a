-- The userapi command as playbook authors use it: did-you-mean, paging controls, body flags,
-- completion and man page, journal, batch items.
local h = require "spec.cli_helper"
local csv, cjson, sim, proc, ADA, ALAN, run = h.csv, h.cjson, h.sim, h.proc, h.ADA, h.ALAN, h.run
local args, lines, jsonl = h.args, h.lines, h.jsonl

setup(h.build_command)
before_each(function() sim.reset() end)

describe("as users of gh and the AWS CLI expect", function()
  it("did-you-mean for an unknown vendor, operation, parameter, option and column (exit 2)", function()
    local cases = {
      { { "kandij", "list_users" }, "unknown vendor 'kandij' (did you mean 'kandji'?)" },
      { { "kandji", "list_user" }, "unknown operation 'list_user' for kandji (did you mean 'list_users'?)" },
      { { "kandji", "list_users", "--emial", "x" }, "(did you mean '--email'?)" },
      { { "kandji", "list_users", "--fromat", "csv" }, "(did you mean '--format'?)" },
    }
    for _, c in ipairs(cases) do
      local argv = c[1]
      argv[#argv + 1], argv[#argv + 2] = "--base-url", sim.base.kandji
      local code, out, err = run(argv)
      assert.equal(2, code, err)
      assert.equal("", out)
      assert.truthy(err:find(c[2], 1, true), err)
    end
    assert.equal(0, #sim.requests())
    local code, out, err = run(args("kandji", "list_users", "--format", "csv", "--columns", "id,emial"))
    assert.equal(2, code)
    assert.equal("", out)
    assert.truthy(err:find("--columns: no record has 'emial' (did you mean 'email'?)", 1, true), err)
  end)

  it("dashed operation names, -o for --format", function()
    local code, out = run(args("kandji", "list-users", "-o", "jsonl"))
    assert.equal(0, code)
    assert.equal(5, #jsonl(out))
    assert.equal(0, (run(args("kandji", "get-user", "--help"))))
  end)

  it("--max-items N ends the walk after N items, asking for pages no larger", function()
    local code, out = run(args("opendatasoft", "get_users", "--all", "--max-items", "2", "-o", "jsonl"))
    assert.equal(0, code)
    assert.equal(2, #jsonl(out))
    assert.equal(1, #sim.requests())
    assert.truthy(sim.last_request().query:find("limit=2", 1, true))
    sim.reset()
    sim.config{ kandji_page_size = 2 }
    code, out = run(args("kandji", "list_users", "--all", "--max-items", "3", "-o", "jsonl"))
    assert.equal(0, code)
    assert.equal(3, #jsonl(out))
    assert.equal(2, #sim.requests())                      -- of the 3 pages
    code = run(args("kandji", "list_users", "--max-items", "3"))
    assert.equal(2, code)                                 -- without --all
  end)

  it("--page-size N sets the vendor's page size parameter; refused where pages have a fixed size", function()
    local code, out = run(args("opendatasoft", "get_users", "--all", "--page-size", "2", "-o", "jsonl"))
    assert.equal(0, code)
    assert.equal(5, #jsonl(out))
    -- 5 users, 2 a page: pages asked ahead may arrive in any order
    local queries = {}
    for _, r in ipairs(sim.requests()) do queries[r.query] = true end
    assert.equal("limit=2&offset=0", sim.requests()[1].query)
    assert.truthy(queries["limit=2&offset=2"] and queries["limit=2&offset=4"])
    sim.reset()
    assert.equal(0, (run(args("arthur", "get_organization_users", "--all", "--page-size", "1", "-o", "jsonl"))))
    assert.truthy(sim.requests()[1].query:find("page_size=1", 1, true))
    local _, _, err = run(args("kandji", "list_users", "--all", "--page-size", "10"))
    assert.truthy(err:find("kandji pages have a size of their own", 1, true), err)
  end)

  it("--each ends with a summary on stderr", function()
    local file = proc.file("ids-summary.txt", ADA .. "\nnot-a-user\n" .. ALAN .. "\n")
    local code, _, err = run(args("kandji", "get_user", "--each", file, "-o", "jsonl"))
    assert.equal(1, code)
    assert.truthy(err:find("\n2 ok, 1 failed\n$"), err)
  end)

  it("every field of the body model is a flag, required ones included", function()
    local code, out = run(args("opendatasoft", "update_user", "louise.data", "--email", "louise@example.org",
      "--first_name", "Lou", "--last-name", "Data"))
    assert.equal(0, code)
    assert.same({ email = "louise@example.org", first_name = "Lou", last_name = "Data" },
      cjson.decode(sim.last_request().body))
    assert.equal("Lou", cjson.decode(out).first_name)
    local _, help = run({ "opendatasoft", "provision_users", "--help" })
    assert.truthy(help:find("--email TEXT (required)", 1, true), help)
    assert.truthy(help:find("--identity_provider JSON (required)", 1, true), help)
  end)

  it("--columns reaches into nested objects", function()
    local code, out = run(args("kandji", "list_users", "-o", "csv", "--columns", "email,integration.name"))
    assert.equal(0, code)
    local rows = csv.parse(out)
    assert.equal(5, #rows)
    assert.truthy(rows[1]["integration.name"] ~= "", out)
  end)

  it("JSON arrays stay arrays: [] prints as [] and goes back as []", function()
    local body = '{"username":"louise.data","email":"louise@example.org","groups":[],"tags":[],' ..
                 '"limits":{"ids":[],"o":{}}}'
    sim.fault{ match = { vendor = "ods", method = "GET", path = ".*/users/louise.data/" }, body = body, times = 0 }
    local code, out = run(args("opendatasoft", "get_user", "louise.data"))
    assert.equal(0, code)
    assert.truthy(out:find('"tags": []', 1, true), out)
    assert.truthy(out:find('"ids": []', 1, true), out)
    assert.truthy(out:find('"o": {}', 1, true), out)
    code, out = run(args("opendatasoft", "get_user", "louise.data", "-o", "jsonl"))
    assert.equal(0, code)
    assert.truthy(out:find('"tags":[]', 1, true), out)
    -- read, then sent back
    local file = proc.file("louise.json", out)
    code = run(args("opendatasoft", "update_user", "louise.data", "--body", "@" .. file))
    assert.equal(0, code)
    local sent = sim.last_request().body
    assert.truthy(sent:find('"tags":[]', 1, true), sent)
    assert.truthy(sent:find('"ids":[]', 1, true), sent)
    assert.truthy(sent:find('"o":{}', 1, true), sent)
  end)
end)

describe("userapi completion and userapi man", function()
  -- what bash completes after these words, with the script the command prints
  local function complete(line)
    local script = proc.file("completion.bash", select(2, run({ "completion", "bash" })))
    local cmd = ("bash -c %s"):format(proc.quote(". " .. script .. "; COMP_WORDS=(" .. line .. "); "
      .. "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _userapi; echo \"${COMPREPLY[*]}\""))
    if line:sub(-1) == " " then cmd = cmd:gsub("COMP_WORDS%[@%]} %- 1", "COMP_WORDS[@]}") end
    local p = assert(io.popen(cmd))
    local out = p:read("*l")
    p:close()
    return out
  end

  it("completes vendors, operations, parameters and option values from the operation tables", function()
    assert.equal("kandji", complete("userapi kan"))
    assert.equal("list_users", complete("userapi kandji li"))
    assert.equal("invite_users", complete("userapi ods inv"))
    assert.equal("--first_name", complete("userapi ods update_user louise --fir"))
    assert.equal("--first_name", complete("userapi ods update-user louise --fir"))
    assert.equal("--format", complete("userapi kandji list_users --form"))
    assert.equal("jsonl", complete("userapi kandji list_users --format jsonl"))
    assert.equal("bash", complete("userapi completion ba"))
  end)

  it("zsh gets the same function through bashcompinit; another shell is a usage error", function()
    local code, out = run({ "completion", "zsh" })
    assert.equal(0, code)
    assert.truthy(out:find("^#compdef userapi\n"))
    assert.truthy(out:find("bashcompinit", 1, true))
    assert.truthy(out:find("complete -F _userapi userapi", 1, true))
    assert.equal(2, (run({ "completion", "fish" })))
  end)

  it("userapi man is a manual page with every option, operation, variable and exit status", function()
    local code, out = run({ "man" })
    assert.equal(0, code)
    assert.truthy(out:find("^%.TH USERAPI 1"))
    for _, s in ipairs({ "\\-\\-max\\-items", "\\-\\-journal", "USERAPI_PROFILE", "USERAPI_CONFIG", "USERAPI_VENDORS",
                         "USERAPI_KANDJI_TOKEN", "provision_users", "141", "chmod 600" }) do
      assert.truthy(out:find(s, 1, true), s)
    end
    -- text lines never read as roff requests: only ours start with . or '
    local REQUESTS = { TH = true, SH = true, SS = true, PP = true, TP = true, B = true, nf = true, fi = true }
    for line in out:gmatch("[^\n]+") do
      local req = line:match("^[%.']([%a]+)")
      if line:find("^[%.']") then assert.truthy(REQUESTS[req], line) end
    end
    local found = os.execute("command -v man >/dev/null 2>&1")
    if found == true or found == 0 then
      local page = proc.file("userapi.1", out)
      local p = assert(io.popen("MANWIDTH=100 man -l " .. page .. " 2>&1"))
      local text = p:read("*a")
      p:close()
      assert.truthy(text:find("--max-items N", 1, true), text:sub(1, 500))
    end
  end)
end)

describe("--journal FILE with --each", function()
  it("goes with --each only", function()
    local code, _, err = run(args("kandji", "list_users", "--journal", "/tmp/nothing"))
    assert.equal(2, code)
    assert.truthy(err:find("--journal goes with --each", 1, true))
  end)

  it("a second run skips the items the first finished, and reports them", function()
    if not pcall(require, "userapi.journal") then
      pending("userapi.journal (the library's journal) is not there yet")
      return
    end
    sim.control("POST", "seed", { vendor = "sigfox", count = 3 })
    local list = {}
    for k = 1, 3 do list[k] = ("5f00000000%014x"):format(k) end
    local journal = proc.tmpdir() .. "/each.journal"
    os.remove(journal)
    local stdin = table.concat(list, "\n") .. "\n"
    local code, out = run(args("sigfox", "delete_api_user", "--each", "-", "--journal", journal, "-o", "jsonl"),
      { stdin = stdin })
    assert.equal(0, code)
    assert.equal(3, #jsonl(out))
    assert.equal(3, #sim.requests())
    sim.reset()
    code, out = run(args("sigfox", "delete_api_user", "--each", "-", "--journal", journal, "-o", "jsonl"),
      { stdin = stdin })
    assert.equal(0, code)
    assert.same({ true, true, true }, { jsonl(out)[1].ok, jsonl(out)[2].ok, jsonl(out)[3].ok })
    assert.equal(0, #sim.requests())                       -- nothing sent again
  end)
end)

describe("Opendatasoft batch operations with failed items", function()
  local function library_counts_items()
    return type(require("userapi.bulk").items) == "function"
  end
  local ARGS = { "opendatasoft", "invite_users", "--body",
                 '[{"email":"ada@example.com"},{"email":"new.person@example.com"}]' }

  it("exit 1, the failed items and a summary on stderr", function()
    if not library_counts_items() then pending("the library does not count failed batch items yet") return end
    local code, out, err = run(args(table.unpack(ARGS)))
    assert.equal(1, code)
    local rows = cjson.decode(out)
    assert.equal(2, #rows)
    assert.same({ "ada@example.com", false }, { rows[1].item, rows[1].ok })
    assert.same({ "new.person@example.com", true }, { rows[2].item, rows[2].ok })
    assert.truthy(err:find("^ada@example.com: .-already exists"), err)
    assert.truthy(err:find("\n1 ok, 1 failed\n$"), err)
  end)

  it("one line or row per item in jsonl, csv and table", function()
    if not library_counts_items() then pending("the library does not count failed batch items yet") return end
    local a = args(table.unpack(ARGS))
    a[#a + 1], a[#a + 2] = "-o", "jsonl"
    local code, out = run(a)
    assert.equal(1, code)
    assert.equal(2, #jsonl(out))
    sim.reset()
    a[#a] = "csv"
    code, out = run(a)
    assert.equal(1, code)
    assert.equal(2, #csv.parse(out))
    sim.reset()
    a[#a] = "table"
    code, out = run(a)
    assert.equal(1, code)
    assert.equal(4, #lines(out))                            -- header, rule, two rows
  end)
end)
