-- The Ansible modules (ansible/library/userapi_user, userapi_info) run by a
-- real ansible-playbook against the simulator: ansible/example.yml first
-- changes, then changes nothing; --check sends no write; a vendor's refusal
-- fails the task with the vendor's reason and no secret.
local cjson = require "cjson"
local sim = require "spec.helper"
local proc = require "spec.proc"

local WRITES = { POST = true, PUT = true, PATCH = true, DELETE = true }
local SIGFOX_GROUP, SIGFOX_PROFILE = "5e1f2a3b4c5d6e7f8a9b0c1d", "5138e7dfa2f1fffaf25fd40a"

-- ansible-playbook with the json callback; returns its decoded report and the raw run
local function playbook(path, args, env)
  local vars = {
    LANG = "C.UTF-8", ANSIBLE_LIBRARY = proc.root .. "/ansible/library", ANSIBLE_STDOUT_CALLBACK = "json",
    ANSIBLE_LOCALHOST_WARNING = "false", ANSIBLE_NOCOLOR = "1",
    -- the modules run under lua5.4 (their #! line), whichever Lua runs the specs
    LUA_PATH = proc.root .. "/lua/?.lua;" .. proc.root .. "/lua/?/init.lua;;",
    LUA_CPATH = proc.root .. "/build/lua5.4/?.so;;",
    USERAPI_SIM_URL = sim.url,
  }
  for k, v in pairs(env or {}) do vars[k] = v end
  local argv = { "ansible-playbook", "-i", "localhost,", path }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  local r = proc.run(argv, vars)
  local ok, report = pcall(cjson.decode, r.out)
  assert(ok, "ansible-playbook said: " .. r.out .. r.err)
  return report, r
end

-- the credentials of the simulator, as the userapi command reads them
local SIM_ENV = {
  USERAPI_ODS_APIKEY = "ods-test-key", USERAPI_ARTHUR_TOKEN = "arthur-test-token",
  USERAPI_KANDJI_TOKEN = "kandji-test-token", USERAPI_SIGFOX_LOGIN = "sigfox-login",
  USERAPI_SIGFOX_PASSWORD = "sigfox-secret",
  USERAPI_SIGFOX_GROUP_ID = SIGFOX_GROUP, USERAPI_SIGFOX_PROFILE_ID = SIGFOX_PROFILE,
}

local function example(args) return playbook("ansible/example.yml", args, SIM_ENV) end

local function task(report, name)
  for _, t in ipairs(report.plays[1].tasks) do
    if t.task.name == name then return t.hosts.localhost end
  end
end

local function writes()
  local n = 0
  for _, r in ipairs(sim.requests()) do if WRITES[r.method] then n = n + 1 end end
  return n
end

local function applied()
  local out = {}
  for _, v in ipairs({ "opendatasoft", "arthur", "kandji", "sigfox" }) do
    for op, n in pairs(sim.state(v).applied) do out[v .. " " .. op] = n end
  end
  return out
end

local describe_lua54 = proc.lua == "lua5.4" and describe or pending

before_each(function() sim.reset() end)

describe_lua54("ansible-playbook with the userapi modules", function()
  it("the example playbook changes the first time, then nothing; --diff shows the account", function()
    local report = example({ "--diff" })
    assert.same({ changed = 5, failures = 0 },
      { changed = report.stats.localhost.changed, failures = report.stats.localhost.failures })
    local once = { ["opendatasoft invite_users"] = 1, ["arthur post_organization_user_invite"] = 1,
                   ["sigfox create_api_user"] = 1, ["kandji delete_user"] = 1, ["opendatasoft delete_user"] = 1 }
    assert.same(once, applied())
    local gone = task(report, "The leaver is gone from Opendatasoft")
    assert.equal("deleted", gone.outcome)
    assert.equal("ada.lovelace", gone.diff.before.id)
    local invited = task(report, "The newcomer is invited to Opendatasoft")
    assert.same({ "invited", "marie", true }, { invited.outcome, invited.user.id, invited.user.pending })

    report = example()
    assert.same({ changed = 0, failures = 0 },
      { changed = report.stats.localhost.changed, failures = report.stats.localhost.failures })
    assert.same(once, applied())
    assert.equal(1, #sim.state("arthur").invites)
    assert.equal("none", task(report, "The newcomer is invited to the Arthur organization").outcome)
  end)

  it("--check reports what would change and sends no write", function()
    local report = example({ "--check" })
    assert.equal(5, report.stats.localhost.changed)
    assert.equal(0, report.stats.localhost.failures)
    assert.equal("deleted", task(report, "The leaver is gone from Kandji").outcome)
    assert.equal(0, writes())
    assert.same({}, applied())
  end)

  it("a vendor's refusal fails the task with the vendor's reason, and no secret", function()
    local path = proc.file("refused.yml", ([[
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Alan is gone from Kandji
      userapi_user:
        vendor: kandji
        email: alan@example.com
        state: absent
        base_url: "%s/kandji"
        credentials: { token: kandji-test-token }
]]):format(sim.url))
    local report, r = playbook(path)
    assert.equal(2, r.code)
    assert.equal(1, report.stats.localhost.failures)
    local res = task(report, "Alan is gone from Kandji")
    assert.is_true(res.failed)
    assert.equal("kandji delete_user: 400 User still assigned to one or more devices.", res.msg)
    assert.equal(400, res.status)
    assert.is_nil((r.out .. r.err):find("kandji-test-token", 1, true))
    assert.truthy(sim.state("kandji").users[1])
  end)
end)

describe_lua54("the module files alone (Ansible's WANT_JSON interface)", function()
  local function module(name, args)
    local path = proc.file(name .. ".args.json", cjson.encode(args))
    local r = proc.run({ "ansible/library/" .. name, path }, {
      LUA_PATH = proc.root .. "/lua/?.lua;" .. proc.root .. "/lua/?/init.lua;;",
      LUA_CPATH = proc.root .. "/build/lua5.4/?.so;;" })
    return r.code, cjson.decode(r.out)
  end

  it("userapi_info lists one person's accounts, or a vendor's; userapi_user refuses an unknown field", function()
    local code, out = module("userapi_info", { vendor = "ods", email = "ada@example.com",
      base_url = sim.base.opendatasoft, credentials = { apikey = "ods-test-key" } })
    assert.equal(0, code)
    assert.same({ false, 1, "ada.lovelace" }, { out.changed, out.count, out.accounts[1].id })
    code, out = module("userapi_info", { vendor = "kandji", base_url = sim.base.kandji,
      credentials = { token = "kandji-test-token" } })
    assert.same({ 0, 5 }, { code, out.count })
    sim.control("DELETE", "requests")
    code, out = module("userapi_user", { vendor = "ods", email = "ada@example.com", picture = "x",
      base_url = sim.base.opendatasoft, credentials = { apikey = "ods-test-key" } })
    assert.equal(1, code)
    assert.same({ failed = true, msg = "unknown field 'picture'; known: email, first_name, last_name, permissions" },
      out)
    -- Kandji cannot create: state=present says why
    code, out = module("userapi_user", { vendor = "kandji", email = "ada@example.com",
      base_url = sim.base.kandji, credentials = { token = "kandji-test-token" } })
    assert.equal(1, code)
    assert.same({ failed = true, msg = "kandji has no create operation, so ensure_user is not available" }, out)
    assert.same({}, sim.requests())
  end)
end)

describe_lua54("the modules check their arguments as Python modules do (argument spec)", function()
  -- a play of one-line tasks, each given the simulator's URL and credentials of its vendor
  local function play(tasks, args)
    local lines = { "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n" }
    for _, t in ipairs(tasks) do
      local vendor = t.args:match("vendor: (%w+)")
      local base = vendor and sim.base[vendor == "ods" and "opendatasoft" or vendor] or sim.url
      local creds = vendor and cjson.encode(sim.creds[vendor == "ods" and "opendatasoft" or vendor]) or "{}"
      lines[#lines + 1] = ("    - name: %s\n      %s: { %s, base_url: \"%s\", credentials: %s }\n"
        .. "      ignore_errors: true\n%s"):format(t[1], t[2], t.args, base, creds,
        t.check and "      check_mode: true\n" or "")
    end
    local report = playbook(proc.file("args.yml", table.concat(lines)), args)
    local out = {}
    for _, t in ipairs(report.plays[1].tasks) do out[t.task.name] = t.hosts.localhost end
    return report, out
  end

  it("a misspelt, clashing, missing, mistyped or out-of-choice argument fails the task, and nothing is sent", function()
    local report, r = play{
      { "misspelt", "userapi_info", args = "vendor: kandji, emial: ada@example.com" },
      { "clashing", "userapi_info", args = "vendor: kandji, email: ada@example.com, id: abc" },
      { "missing", "userapi_user", args = "email: ada@example.com" },
      { "mistyped", "userapi_info", args = "vendor: kandji, timeout_ms: soon" },
      { "out of choice", "userapi_user", args = "vendor: kandji, email: ada@example.com, state: gone" },
      { "not a list", "userapi_user", args = "vendor: sigfox, email: ada@example.com, profile_ids: { a: 1 }" },
    }
    assert.equal(6, report.stats.localhost.ignored)
    assert.equal("Unsupported parameters for (userapi_info) module: emial. Supported parameters include: base_url, "
      .. "credentials, email, id, timeout_ms, username, vendor.", r.misspelt.msg)
    assert.equal("parameters are mutually exclusive: email|id|username", r.clashing.msg)
    assert.equal("missing required arguments: vendor", r.missing.msg)
    assert.equal("argument 'timeout_ms' is of type <class 'str'> and we were unable to convert to int: "
      .. "str cannot be converted to an int", r.mistyped.msg)
    assert.equal("value of state must be one of: present, absent, got: gone", r["out of choice"].msg)
    assert.equal("argument 'profile_ids' is of type <class 'dict'> and we were unable to convert to list: "
      .. "dict cannot be converted to a list", r["not a list"].msg)
    for _, res in pairs(r) do assert.is_true(res.failed) end
    assert.same({}, sim.requests())
  end)

  it("values are converted to their type: an int from a string, a list from a comma string, a bool from yes", function()
    local report, r = play{
      { "int", "userapi_info", args = 'vendor: kandji, email: ada@example.com, timeout_ms: "5000"' },
      { "list", "userapi_user", check = true, args = "vendor: sigfox, email: marie@example.com, group_id: "
        .. SIGFOX_GROUP .. ', profile_ids: "' .. SIGFOX_PROFILE .. ',' .. SIGFOX_PROFILE .. '"' },
      { "bool", "userapi_user", check = true,
        args = 'vendor: kandji, email: ada@example.com, state: absent, all: "yes"' },
    }
    assert.equal(0, report.stats.localhost.failures)
    assert.same({ 1, "ada@example.com" }, { r.int.count, r.int.accounts[1].email })
    assert.same({ "created", { SIGFOX_PROFILE, SIGFOX_PROFILE } }, { r.list.outcome, r.list.changes.profile_ids.after })
    assert.equal("deleted", r.bool.outcome)
    assert.equal(0, writes())
  end)

  it("the documentation (ansible-doc) states the argument spec the module enforces", function()
    local specs = require("userapi.ansible").ARGUMENT_SPECS
    for _, name in ipairs({ "userapi_user", "userapi_info" }) do
      local r = proc.run({ "ansible-doc", "-M", proc.root .. "/ansible/library", "--json", name },
                         { ANSIBLE_LIBRARY = proc.root .. "/ansible/library" })
      local doc = cjson.decode(r.out)[name].doc.options
      local documented, enforced = {}, {}
      for k, o in pairs(doc) do
        documented[k] = { o.type, o.required == true, o.default ~= nil and tostring(o.default) or nil,
                          o.choices and table.concat(o.choices, ",") or nil, o.elements, o.no_log == true }
      end
      for k, o in pairs(specs[name].options) do
        enforced[k] = { o.type, o.required == true, o.default ~= nil and tostring(o.default) or nil,
                        o.choices and table.concat(o.choices, ",") or nil, o.elements, o.no_log == true }
      end
      assert.same(documented, enforced, name)
    end
  end)
end)

describe_lua54("incomplete offboarding in Ansible's warnings", function()
  it("Arthur's unseen invitation warns, in the run and in a second --check that changes nothing; "
    .. "a Kandji user with devices fails the check with the warning", function()
    local path = proc.file("offboard.yml", ([[
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Ada is gone from Arthur
      userapi_user:
        vendor: arthur
        email: ada@example.com
        state: absent
        base_url: "%s/arthur"
        credentials: { access_token: arthur-test-token }
    - name: Alan is gone from Kandji
      userapi_user:
        vendor: kandji
        email: alan@example.com
        state: absent
        base_url: "%s/kandji"
        credentials: { token: kandji-test-token }
      check_mode: true
      ignore_errors: true
]]):format(sim.url, sim.url))
    local unseen = "Arthur lists no invitations: one sent to ada@example.com and still pending cannot be seen "
      .. "or withdrawn through the API (it can still be accepted)"
    local devices = "alan@example.com still holds 2 device(s): Kandji refuses to delete a user with devices "
      .. "assigned; unassign them, then offboard again"
    local report = playbook(path)
    local arthur, kandji = task(report, "Ada is gone from Arthur"), task(report, "Alan is gone from Kandji")
    assert.same({ true, "deleted", { unseen } }, { arthur.changed, arthur.outcome, arthur.warnings })
    assert.same({ true, "refused", { devices } }, { kandji.failed, kandji.kind, kandji.warnings })
    assert.same({ ["arthur delete_user"] = 1 }, applied())
    report = playbook(path, { "--check" })
    arthur = task(report, "Ada is gone from Arthur")
    assert.same({ false, "none", { unseen } }, { arthur.changed, arthur.outcome, arthur.warnings })
    assert.equal(0, report.stats.localhost.changed)
    assert.same({ ["arthur delete_user"] = 1 }, applied())
  end)
end)
