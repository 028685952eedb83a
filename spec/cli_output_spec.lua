-- The userapi command: secrets, output helpers, write errors, terminal text, server data.
local h = require "spec.cli_helper"
local cli, format, config, csv, cjson, sim, proc = h.cli, h.format, h.config, h.csv, h.cjson, h.sim, h.proc
local ADA, ENV, stream, run, args, lines = h.ADA, h.ENV, h.stream, h.run, h.args, h.lines
local config_file, userapi = h.config_file, h.userapi

setup(h.build_command)
before_each(function() sim.reset() end)

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

  it("sorted_keys sorts by string form; ranked puts ranked names first, then the rest by name", function()
    assert.same({ 1, 10, 2, "a", "b" }, format.sorted_keys{ a = 1, b = 2, [1] = 0, [2] = 0, [10] = 0 })
    local names = { "zeta", "email", "alpha", "id" }
    table.sort(names, format.ranked{ id = 1, email = 2 })
    assert.same({ "id", "email", "alpha", "zeta" }, names)
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
    -- before head exits, up to a pipe buffer (64 KiB, about 11 pages of these
    -- users) may be written and the walk's read-ahead asked for: a handful
    -- then, against the endless walk it was (146,090 requests in 15 s)
    local n = #sim.requests()
    assert.truthy(n >= 1 and n <= 20, n .. " requests")
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

  it("escapes a byte outside well-formed UTF-8 (a lone 0x9b is CSI in an 8-bit locale), keeps real text", function()
    assert.equal("a\\x9b2Jb \\xc3 caf\195\169 \226\130\172 \\u009bc",
                 format.escape_terminal("a\1552Jb \195 caf\195\169 \226\130\172 \194\155c"))
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
