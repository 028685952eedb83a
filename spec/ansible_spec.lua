-- The Ansible collection userapi.saas (ansible/: modules user and user_info) run
-- by a real ansible-playbook, by their fully qualified names from this checkout's
-- collection, against the simulator: ansible/playbooks/example.yml first
-- changes, then changes nothing; --check sends no write; a vendor's refusal
-- fails the task with the vendor's reason and no secret.
local cjson = require "cjson"
local sim = require "spec.helper"
local proc = require "spec.proc"

local WRITES = { POST = true, PUT = true, PATCH = true, DELETE = true }
local SIGFOX_GROUP, SIGFOX_PROFILE = "5e1f2a3b4c5d6e7f8a9b0c1d", "5138e7dfa2f1fffaf25fd40a"

-- a collections path holding this checkout's ansible/ as userapi.saas
local collections_dir
local function collections()
  if not collections_dir then
    collections_dir = proc.tmpdir()
    local ns = collections_dir .. "/ansible_collections/userapi"
    assert(os.execute(("mkdir -p %s && ln -s %s/ansible %s/saas"):format(ns, proc.root, ns)))
  end
  return collections_dir
end

-- ansible-playbook with the json callback; returns its decoded report and the raw run
local function playbook(path, args, env)
  local vars = {
    LANG = "C.UTF-8", ANSIBLE_COLLECTIONS_PATH = collections(), ANSIBLE_STDOUT_CALLBACK = "json",
    ANSIBLE_LOCALHOST_WARNING = "false", ANSIBLE_NOCOLOR = "1",
    -- the modules run under ansible_lua_interpreter (below), whichever Lua runs the specs
    LUA_PATH = proc.root .. "/lua/?.lua;" .. proc.root .. "/lua/?/init.lua;;",
    LUA_CPATH = proc.root .. "/build/lua5.4/?.so;;",
    USERAPI_SIM_URL = sim.url,
  }
  for k, v in pairs(env or {}) do vars[k] = v end
  local argv = { "ansible-playbook", "-i", "localhost,", "-e", "ansible_lua_interpreter=/usr/bin/lua5.4",
                 path }
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

local function example(args) return playbook("ansible/playbooks/example.yml", args, SIM_ENV) end

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
      userapi.saas.user:
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
    local r = proc.run({ "lua5.4", "ansible/plugins/modules/" .. name, path }, {
      LUA_PATH = proc.root .. "/lua/?.lua;" .. proc.root .. "/lua/?/init.lua;;",
      LUA_CPATH = proc.root .. "/build/lua5.4/?.so;;" })
    return r.code, cjson.decode(r.out)
  end

  it("user_info lists one person's accounts, or a vendor's; user refuses an unknown field", function()
    local code, out = module("user_info", { vendor = "ods", email = "ada@example.com",
      base_url = sim.base.opendatasoft, credentials = { apikey = "ods-test-key" } })
    assert.equal(0, code)
    assert.same({ false, 1, "ada.lovelace" }, { out.changed, out.count, out.accounts[1].id })
    code, out = module("user_info", { vendor = "kandji", base_url = sim.base.kandji,
      credentials = { token = "kandji-test-token" } })
    assert.same({ 0, 5 }, { code, out.count })
    sim.control("DELETE", "requests")
    code, out = module("user", { vendor = "kandji", email = "ada@example.com", nickname = "x",
      base_url = sim.base.kandji, credentials = { token = "kandji-test-token" } })
    assert.equal(1, code)
    assert.same({ failed = true, msg = "unknown field 'nickname'; this vendor manages no field" }, out)
    assert.same({}, sim.requests())
  end)
end)
