-- The userapi command: --all, --each and --dry-run against the simulator.
local h = require "spec.cli_helper"
local csv, cjson, sim, proc, ADA, ALAN = h.csv, h.cjson, h.sim, h.proc, h.ADA, h.ALAN
local SIGFOX_ADA, ENV, KANDJI_IDS, run, args = h.SIGFOX_ADA, h.ENV, h.KANDJI_IDS, h.run, h.args
local lines, config_file, jsonl, ids, userapi = h.lines, h.config_file, h.jsonl, h.ids, h.userapi

setup(h.build_command)
before_each(function() sim.reset() end)

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
    assert.equal("not-a-user: kandji get_user: 404 Not found.\n2 ok, 1 failed\n", err)
  end)

  it("deletes from stdin with --concurrency, every format", function()
    local list = seed_sigfox(12)
    local code, out, err = run(args("sigfox", "delete_api_user", "--each", "-", "--concurrency", "4",
      "--format", "csv"), { stdin = table.concat(list, "\n", 1, 6) .. "\n" })
    assert.equal(0, code, err)
    assert.equal("6 ok, 0 failed\n", err)                 -- not a terminal: no progress bar; the summary
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
    -- concurrent: either may arrive first
    local paths = {}
    for i, r in ipairs(sim.requests()) do paths[i] = r.path end
    table.sort(paths)
    assert.same({ "/sigfox/v2/api-users/5f3a9c1e2b4d6f8a0c1e2b4e/profiles/5138e7dfa2f1fffaf25fd40a",
                  "/sigfox/v2/api-users/5f3a9c1e2b4d6f8a0c1e2b4f/profiles/5138e7dfa2f1fffaf25fd40a" }, paths)
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
    assert.equal("5 ok, 0 failed\n", r.err)
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
