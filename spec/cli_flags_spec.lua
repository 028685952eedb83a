-- The command's flags and subcommands are declared once (userapi.cli.flags):
-- a row added there is parsed, checked, helped, in the man page and
-- completed; and the completion script runs nothing a vendor table names.
local h = require "spec.cli_helper"
local sim, proc, run, args, lines = h.sim, h.proc, h.run, h.args, h.lines
local flags = require "userapi.cli.flags"

setup(h.build_command)
before_each(function() sim.reset() end)

-- what bash completes after these words, with the given script
local function complete(script_text, line, env)
  local script = proc.file("completion.bash", script_text)
  local body = ". " .. script .. "; COMP_WORDS=(" .. line .. "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); "
  if line:sub(-1) == " " then body = body:gsub("COMP_WORDS%[@%]} %- 1", "COMP_WORDS[@]}") end
  local r = proc.run(nil, env, "", "bash -c " .. proc.quote(body .. "_userapi; echo \"${COMPREPLY[*]}\""))
  return (r.out:gsub("\n$", ""))
end

describe("a flag and a subcommand declared in userapi.cli.flags alone", function()
  local flag = { "frobnicate", value = "N", min = 2, max = 5, goes_with = "all",
                 help = "frobnicate N pages (a flag of this spec)" }
  local seen
  local command = { "hello", args = "NAME", help = "greets NAME (a subcommand of this spec)",
                    module = "spec_hello_command", fn = "run",
                    flags = { { "loud", help = "in capitals" },
                              { "times", value = "N", min = 1, help = "how often" } } }
  setup(function()
    package.preload.spec_hello_command = function()
      return { run = function(o, ctx)
        seen = o
        local s = "hello " .. o.positional[2]
        if o.loud then s = s:upper() end
        for _ = 1, o.times or 1 do ctx.streams.stdout:write(s, "\n") end
        if o["base-url"] then
          -- a client as VENDOR OPERATION makes it: credentials from the environment, --base-url
          local page = assert(ctx.client("kandji"):list_users())
          ctx.streams.stdout:write(#page.results, " kandji users\n")
        end
        return 0
      end }
    end
    table.insert(flags.FLAGS, 3, flag)
    table.insert(flags.COMMANDS, command)
  end)
  teardown(function()
    for i, f in ipairs(flags.FLAGS) do if f == flag then table.remove(flags.FLAGS, i) end end
    for i, c in ipairs(flags.COMMANDS) do if c == command then table.remove(flags.COMMANDS, i) end end
  end)

  it("parses and checks the flag from its row, sending nothing on a bad value", function()
    local code, _, err = run(args("kandji", "list_users", "--frobnicate", "3"))
    assert.equal(2, code)
    assert.truthy(err:find("--frobnicate goes with --all", 1, true), err)
    code, _, err = run(args("kandji", "list_users", "--all", "--frobnicate", "9"))
    assert.equal(2, code)
    assert.truthy(err:find("--frobnicate: an integer 2..5 expected, got '9'", 1, true), err)
    code, _, err = run(args("kandji", "list_users", "--frobnicat", "3"))
    assert.equal(2, code)
    assert.truthy(err:find("did you mean '--frobnicate'?", 1, true), err)
    assert.same({}, sim.requests())
    assert.equal(0, (run(args("kandji", "list_users", "--all", "--frobnicate=3"))))
  end)

  it("runs the subcommand with its own flags, and lists both in the help, the man page and the completion", function()
    local code, out = run({ "hello", "--loud", "ada", "--times", "2" })
    assert.equal(0, code)
    assert.equal("HELLO ADA\nHELLO ADA\n", out)
    assert.equal(2, seen.times)
    code, out = run({ "hello", "ada", "--base-url", sim.base.kandji })
    assert.equal(0, code)
    assert.equal("hello ada\n5 kandji users\n", out)
    assert.equal("/kandji/api/v1/users", sim.last_request().path)
    assert.equal("Bearer kandji-test-token", sim.last_request().headers.authorization)
    local _, _, err = run({ "hello", "ada", "--times", "0" })
    assert.truthy(err:find("--times: an integer from 1 expected, got '0'", 1, true), err)
    code, _, err = run({ "hello", "ada", "--lod" })
    assert.equal(2, code)
    assert.truthy(err:find("unknown option '--lod' for hello (did you mean '--loud'?)", 1, true), err)
    local _, help = run({ "--help" })
    assert.truthy(help:find("userapi hello NAME %s+greets NAME"), help)
    assert.truthy(help:find("--frobnicate N%s+frobnicate N pages"), help)
    local _, own = run({ "hello", "--help" })
    assert.truthy(own:find("Usage: userapi hello NAME", 1, true), own)
    assert.truthy(own:find("--times N%s+how often"), own)
    local _, man = run({ "man" })
    assert.truthy(man:find("userapi hello NAME", 1, true))
    assert.truthy(man:find(".B \\-\\-frobnicate N", 1, true))
    local _, script = run({ "completion", "bash" })
    assert.equal("hello", complete(script, "userapi hel"))
    assert.equal("--loud", complete(script, "userapi hello ada --lo"))
    assert.equal("--frobnicate", complete(script, "userapi kandji list_users --frob"))
  end)
end)

describe("userapi completion with a vendor whose names are commands (USERAPI_VENDORS)", function()
  local dir
  -- a vendor module whose parameter names (and alias) are shell commands touching files
  local function hostile(module, marks, alias)
    local f = assert(io.open(dir .. "/" .. module .. ".lua", "w"))
    f:write(([[
return {
  name = "evil",
  default_base = function(o) if o.host then return "https://" .. o.host end end,
  credentials = { "token" },
  options = { token = "secret", host = "host" },
  auth = function(o) return { scheme = "bearer", token = o.token } end,
  cli = { alias = %q },
  ops = {
    people = { method = "GET", path = "/users", query = {
      ["x$(touch %s)"] = { type = "string" }, ["y`touch %s`"] = { type = "string" },
      ["z;touch %s"] = { type = "string" }, ok_name = { type = "string" } } },
  },
}
]]):format(alias, marks[1], marks[2], marks[3]))
    f:close()
    return { USERAPI_VENDORS = module, LUA_PATH = dir .. "/?.lua;;" }
  end
  setup(function()
    dir = proc.tmpdir() .. "/hostile"
    os.execute("rm -rf " .. dir .. " && mkdir -p " .. dir)
  end)

  it("leaves its parameter names out and says so; pressing TAB runs nothing", function()
    local marks = { dir .. "/by_param", dir .. "/by_backquote", dir .. "/by_param_value" }
    local r = h.userapi({ "completion", "bash" }, hostile("hostile_vendor", marks, "ev"))
    assert.equal(0, r.code)
    for _, line in ipairs({ "userapi ", "userapi e", "userapi evil ", "userapi evil people --",
                            "userapi evil people --x", "userapi ev people --", "userapi kandji list_users --" }) do
      complete(r.out, line)
    end
    for _, m in ipairs(marks) do assert.is_nil(io.open(m), m .. " was created") end
    assert.truthy(r.err:find("left out the evil people parameter 'x$(touch", 1, true), r.err)
    assert.equal(3, #lines(r.err))
    -- the names that are plain still complete
    assert.equal("evil", complete(r.out, "userapi evi"))
    assert.equal("people", complete(r.out, "userapi ev pe"))
    assert.equal("--ok_name", complete(r.out, "userapi evil people --ok"))
  end)

  it("refuses an alias that is not a plain word when the vendor is loaded (exit 2)", function()
    local mark = dir .. "/by_alias"
    local env = hostile("hostile_alias", { mark, mark, mark }, "ev$(touch " .. mark .. ")")
    local r = h.userapi({ "completion", "bash" }, env)
    assert.equal(2, r.code)
    assert.equal("", r.out)
    assert.truthy(r.err:find("USERAPI_VENDORS: hostile_alias: userapi: vendor 'evil': cli.alias: lower-case letters, "
      .. "digits, _ and -", 1, true), r.err)
    assert.is_nil(io.open(mark))
  end)
end)

describe("the cli part of a vendor table, checked at register (userapi.config.check_part)", function()
  local config = require "userapi.config"

  it("passes for the four vendors", function()
    for _, name in ipairs({ "opendatasoft", "arthur", "kandji", "sigfox" }) do
      local v = require("userapi").vendors[name]
      assert.has_no_error(function() config.check_part(v.cli, name, v) end, name)
    end
  end)

  it("refuses a misspelt field with did-you-mean, and a secret_ops naming no operation", function()
    local v = { name = "x", options = { token = "secret" }, ops = { renew = {} } }
    assert.has_error(function() config.check_part({ secret_field = { "t" } }, "x", v) end,
      "userapi: vendor 'x': cli: unknown field 'secret_field' (did you mean 'secret_fields'?)")
    assert.has_error(function() config.check_part({ secret_ops = { "renw" } }, "x", v) end,
      "userapi: vendor 'x': cli.secret_ops[1]: no operation 'renw' (did you mean 'renew'?)")
    assert.has_error(function() config.check_part({ env = { { "token", "USERAPI X" } } }, "x", v) end,
      "userapi: vendor 'x': cli.env[1]: { option, ENV_NAME } expected (the variable in upper case)")
  end)
end)

describe("secrets in vendor records (cli.secret_fields)", function()
  local TOKEN = "b00c92a71b3b8dfa1fc236d90b50aeb3"   -- Ada's Sigfox accessToken in the simulator

  it("are masked in every format and in --all, unless --show-secrets", function()
    for _, fmt in ipairs({ "json", "jsonl", "csv", "table" }) do
      local code, out = run(args("sigfox", "get_api_user", h.SIGFOX_ADA, "--format", fmt))
      assert.equal(0, code)
      assert.falsy(out:find(TOKEN, 1, true), fmt)
      assert.truthy(out:find("[REDACTED]", 1, true), fmt)
    end
    local code, out = run(args("sigfox", "list_api_users", "--all", "--format", "jsonl"))
    assert.equal(0, code)
    assert.falsy(out:find(TOKEN, 1, true))
    for _, user in ipairs(h.jsonl(out)) do assert.equal("[REDACTED]", user.accessToken) end
    code, out = run(args("sigfox", "list_api_users"))
    assert.equal(0, code)
    assert.falsy(out:find(TOKEN, 1, true))
    -- --each's results too
    code, out = run(args("sigfox", "get_api_user", "--each", "-", "--format", "jsonl"),
      { stdin = h.SIGFOX_ADA .. "\n" })
    assert.equal(0, code)
    assert.equal("[REDACTED]", h.jsonl(out)[1].result.accessToken)
    code, out = run(args("sigfox", "get_api_user", h.SIGFOX_ADA, "--show-secrets"))
    assert.equal(0, code)
    assert.equal(TOKEN, h.cjson.decode(out).accessToken)
  end)

  it("but not in the answer of renew_credential (cli.secret_ops): the new token's only copy", function()
    local code, out = run(args("sigfox", "renew_credential", h.SIGFOX_ADA))
    assert.equal(0, code)
    local renewed = h.cjson.decode(out).accessToken
    assert.truthy(renewed:find("^%x+$"), renewed)
    assert.not_equal(TOKEN, renewed)
    -- the new token works: it is what the API user now holds
    code, out = run(args("sigfox", "get_api_user", h.SIGFOX_ADA, "--show-secrets"))
    assert.equal(0, code)
    assert.equal(renewed, h.cjson.decode(out).accessToken)
  end)
end)

describe("--missing-ok", function()
  local GONE = "00000000-0000-4000-8000-000000000000"

  it("makes a delete of an account that is not there a success, said on stderr", function()
    local code, _, err = run(args("kandji", "delete_user", GONE))
    assert.equal(1, code)
    local out
    assert.truthy(err:find("404", 1, true), err)
    code, out, err = run(args("kandji", "delete_user", GONE, "--missing-ok"))
    assert.equal(0, code)
    assert.equal("", out)
    assert.truthy(err:find("^kandji delete_user: 404 .*%(not there: nothing to delete, %-%-missing%-ok%)\n$"), err)
    local r = sim.last_request()
    assert.same({ "DELETE", "/kandji/api/v1/users/" .. GONE }, { r.method, r.path })
    -- another failure is still one
    code, _, err = run(args("kandji", "delete_user", h.ALAN, "--missing-ok"))
    assert.equal(1, code)
    assert.truthy(err:find("400 User still assigned", 1, true), err)
  end)

  it("with --each: the absent items count as done", function()
    local code, _, err = run(args("kandji", "delete_user", "--each", "-", "--missing-ok", "--format", "jsonl"),
      { stdin = h.ADA .. "\n" .. GONE .. "\n" })
    assert.equal(0, code)
    assert.truthy(err:find(GONE .. ": kandji delete_user: 404", 1, true), err)
    assert.truthy(err:find("2 ok, 0 failed", 1, true), err)
    assert.equal(4, sim.state("kandji").count)
  end)

  it("goes with a delete only (exit 2, nothing sent)", function()
    local code, _, err = run(args("kandji", "get_user", h.ADA, "--missing-ok"))
    assert.equal(2, code)
    assert.truthy(err:find("--missing-ok goes with a delete, not kandji get_user (GET)", 1, true), err)
    assert.same({}, sim.requests())
  end)
end)
