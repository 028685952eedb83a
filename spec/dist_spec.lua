-- The release as users install it (`make dist`): the source rock installs
-- offline into a throwaway tree for Lua 5.4 and LuaJIT and works from another
-- directory, script and command; the collection tarball installs offline into
-- a throwaway collections path, its role installs the library from the rock it
-- carries, and a playbook by fully qualified names runs the modules with the
-- Lua the inventory names: module_defaults, --check, --diff, a second run
-- unchanged, a vendor's refusal. Builds for every Lua itself: Lua 5.4 suite.
local cjson = require "cjson"
local proc = require "spec.proc"

local q = proc.quote

if _VERSION ~= "Lua 5.4" then
  describe("make dist", function()
    pending("runs in the Lua 5.4 suite; it builds and runs every Lua itself")
  end)
  return
end

local sim = require "spec.helper"

-- any download fails at once: the proxy is a closed port
local OFFLINE = "http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 "
local WRITES = { POST = true, PUT = true, PATCH = true, DELETE = true }

local dir, version, rock, tarball

local function sh(cmd, env)
  local vars = { HOME = dir .. "/home" }
  for k, v in pairs(env or {}) do vars[k] = v end
  return proc.run(nil, vars, nil, "sh -c " .. q(cmd))
end

local function must(cmd, env)
  local r = sh(cmd, env)
  assert(r.code == 0, cmd .. "\n" .. r.out .. r.err)
  return r
end

local function read(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  return s
end

-- the version as each release file says it
local function versions()
  local core = must(("cd %s && LUA_CPATH=%s lua5.4 -e 'io.write(require(\"userapi.core\")._VERSION)'")
    :format(q(dir), q(proc.root .. "/build/lua5.4/?.so;;"))).out
  return {
    core = core,
    galaxy = read(proc.root .. "/ansible/galaxy.yml"):match("\nversion: (%S+)"),
    changelog = read(proc.root .. "/CHANGELOG.md"):match("\n## (%d+%.%d+%.%d+)"),
    rockspec = version,
  }
end

local LUAS = {
  { name = "Lua 5.4", lua = "lua5.4", luav = "5.4", config = 'lua_interpreter = "lua5.4"' },
  { name = "LuaJIT", lua = "luajit", luav = "5.1",
    config = 'lua_interpreter = "luajit" variables = { LUA_BINDIR = "/usr/bin",'
      .. ' LUA_INCDIR = "/usr/include/luajit-2.1" }' },
}

local SCRIPT = [[
local userapi = require "userapi"
local kandji = userapi.kandji{ base_url = arg[1], token = "kandji-test-token" }
local page = assert(kandji:list_users{})
print(((jit and jit.version) or _VERSION) .. " userapi " .. userapi._VERSION .. " users " .. #page.results)
]]

local function install(l)
  local tree, cfg = dir .. "/tree-" .. l.lua, dir .. "/luarocks-" .. l.lua .. ".lua"
  local f = assert(io.open(cfg, "w"))
  f:write(l.config, "\n")
  f:close()
  local env = { LUAROCKS_CONFIG = cfg }
  local r = must(("cd %s && %sluarocks --lua-version=%s --tree %s install --deps-mode=none %s")
    :format(q(dir .. "/elsewhere"), OFFLINE, l.luav, q(tree), q(rock)), env)
  return tree, env, r
end

describe("the release's version", function()
  it("is the newest rockspec's by version order, once the next one sits beside the last", function()
    for _, c in ipairs({ { { "0.2.0", "0.3.0" }, "0.3.0" }, { { "0.9.0", "0.10.0", "0.2.0" }, "0.10.0" } }) do
      local tmp = proc.tmpdir() .. "/versions"
      assert(os.execute(("rm -rf %s && mkdir -p %s/rockspecs"):format(q(tmp), q(tmp))))
      for _, v in ipairs(c[1]) do
        local f = assert(io.open(("%s/rockspecs/userapi-%s-1.rockspec"):format(tmp, v), "w"))
        f:write('version = "', v, '-1"\n')
        f:close()
      end
      local p = io.popen(("make -s -C %s -f %s/Makefile --eval 'print-version: ; @echo $(VERSION)' print-version")
        :format(q(tmp), q(proc.root)))
      local got = p:read("*l")
      p:close()
      assert.equal(c[2], got, table.concat(c[1], " "))
    end
  end)
end)

describe("the collection's files", function()
  it("are the ones git tracks under ansible/: a vault file left there is not shipped", function()
    local stray = proc.root .. "/ansible/vault-left-here.yml"
    local f = assert(io.open(stray, "w"))
    f:write("ods_apikey: do-not-ship-me\n")
    f:close()
    finally(function() os.remove(stray) end)
    local p = io.popen(("cd %s && make -s collection 2>&1 && tar -tzf build/dist/userapi-saas-*.tar.gz")
      :format(q(proc.root)))
    local listing = p:read("*a")
    p:close()
    assert.truthy(listing:find("roles/install/tasks/main.yml", 1, true), listing)
    assert.truthy(listing:find("roles/install/files/userapi-", 1, true), listing)
    assert.falsy(listing:find("vault-left-here", 1, true), listing)
  end)
end)

describe("make dist #install", function()
  setup(function()
    dir = proc.tmpdir() .. "/dist"
    assert(os.execute(("rm -rf %s && mkdir -p %s/elsewhere %s/home"):format(q(dir), q(dir), q(dir))))
    local r = sh(("cd %s && make -s dist"):format(q(proc.root)))
    assert(r.code == 0, r.out .. r.err)
    version = r.out:match("userapi%-([%d.]+)%-1%.src%.rock")
    rock = proc.root .. "/build/dist/userapi-" .. version .. "-1.src.rock"
    tarball = proc.root .. "/build/dist/userapi-saas-" .. version .. ".tar.gz"
    local f = assert(io.open(dir .. "/elsewhere/script.lua", "w"))
    f:write(SCRIPT)
    f:close()
  end)

  it("one semantic version: the rockspec's, C's _VERSION, galaxy.yml's and the CHANGELOG's newest", function()
    assert.truthy(version and version:match("^%d+%.%d+%.%d+$"), tostring(version))
    local v = versions()
    assert.same({ core = version, galaxy = version, changelog = version, rockspec = version }, v)
  end)

  it("the release rockspec is the scm one with a version and an archive", function()
    must(("cd %s && make -s check-rockspec"):format(q(proc.root)))
  end)

  for _, l in ipairs(LUAS) do
    it(l.name .. ": the source rock installs offline; a script and the command work from elsewhere", function()
      local tree, env, r = install(l)
      assert.truthy(r.out:find("userapi " .. version .. "-1 is now installed in " .. tree, 1, true), r.out)
      local s = must(("eval \"$(luarocks --lua-version=%s --tree %s path)\" && cd %s && %s script.lua %s")
        :format(l.luav, q(tree), q(dir .. "/elsewhere"), l.lua, q(sim.base.kandji)), env)
      assert.truthy(s.out:find(" userapi " .. version .. " users %d+\n$"), s.out)
      if l.lua == "luajit" then assert.truthy(s.out:find("^LuaJIT 2%.1"), s.out) end
      -- the command as a user of a tree of their own runs it: after `luarocks path`
      local path = ("eval \"$(luarocks --lua-version=%s --tree %s path)\" && "):format(l.luav, q(tree))
      local c = must(("%scd %s && USERAPI_KANDJI_TOKEN=kandji-test-token userapi kandji list_users"
        .. " --base-url %s -o jsonl"):format(path, q(dir .. "/elsewhere"), q(sim.base.kandji)), env)
      assert.truthy(c.out:find('"email"', 1, true), c.out)
      local v = must(path .. "command -v userapi && userapi --version", env)
      assert.truthy(v.out:find(tree .. "/bin/userapi\n", 1, true), v.out)
      assert.truthy(v.out:find(version, 1, true), v.out)
    end)
  end

  describe("the collection, installed offline, by fully qualified names", function()
    local collections, roletree, report_of

    -- the role installs the library for LuaJIT into a tree of the spec's
    local INSTALL = [[
- hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: userapi.saas.install
      vars: { userapi_lua: luajit, userapi_tree: "%s", userapi_install_packages: false }
]]
    -- the modules run with the Lua the inventory names (the role's set_fact
    -- does the same within its play); the tree is not on the default paths
    local PLAYBOOK = [[
- hosts: localhost
  connection: local
  gather_facts: false
  environment:
    LUA_PATH: "%s/share/lua/5.1/?.lua;%s/share/lua/5.1/?/init.lua;;"
    LUA_CPATH: "%s/lib/lua/5.1/?.so;;"
  module_defaults:
    group/userapi.saas.userapi:
      vendor: opendatasoft
      base_url: "%s"
      credentials: { apikey: ods-test-key }
  tasks:
    - name: Marie is invited
      userapi.saas.user: { email: marie@example.com, first_name: Marie, last_name: Curie }
    - name: Ada is gone
      userapi.saas.user: { email: ada@example.com, state: absent }
    - name: What is left of Ada
      userapi.saas.user_info: { email: ada@example.com }
]]

    local function playbook(path, ...)
      local argv = { "ansible-playbook", "-i", "localhost,", path, ... }
      local r = proc.run(argv, { LANG = "C.UTF-8", HOME = dir .. "/home", ANSIBLE_COLLECTIONS_PATH = collections,
        ANSIBLE_STDOUT_CALLBACK = "json", ANSIBLE_LOCALHOST_WARNING = "false", ANSIBLE_NOCOLOR = "1" })
      local ok, report = pcall(cjson.decode, r.out)
      assert(ok, "ansible-playbook said: " .. r.out .. r.err)
      return report, r
    end

    report_of = function(report, name)
      for _, play in ipairs(report.plays) do
        for _, t in ipairs(play.tasks) do
          if t.task.name == name then return t.hosts.localhost end
        end
      end
    end

    local function writes()
      local n = 0
      for _, r in ipairs(sim.requests()) do if WRITES[r.method] then n = n + 1 end end
      return n
    end

    setup(function()
      collections, roletree = dir .. "/collections", dir .. "/roletree"
      must(("cd %s && %sansible-galaxy collection install -p %s %s"):format(q(dir .. "/elsewhere"), OFFLINE,
        q(collections), q(tarball)))
    end)

    before_each(function() sim.reset() end)

    it("ansible-doc reads every module's documentation", function()
      for _, m in ipairs({ "user", "user_info" }) do
        local r = must(("ANSIBLE_COLLECTIONS_PATH=%s ansible-doc userapi.saas.%s"):format(q(collections), m))
        assert.truthy(r.out:find("USERAPI.SAAS." .. m:upper(), 1, true), r.out)
      end
    end)

    it("the role installs the library once; --check says it would, and installs nothing", function()
      local role = proc.file("install.yml", INSTALL:format(roletree))
      local report = playbook(role, "--check")
      assert.same({ 0, 1 }, { report.stats.localhost.failures, report.stats.localhost.changed })
      assert.is_nil(io.open(roletree .. "/lib/luarocks/rocks-5.1/userapi"))
      report = playbook(role)
      assert.same({ 0, 1 }, { report.stats.localhost.failures, report.stats.localhost.changed })
      report = playbook(role)
      assert.same({ 0, 0 }, { report.stats.localhost.failures, report.stats.localhost.changed })
      local v = must(("ls %s/lib/luarocks/rocks-5.1/userapi"):format(q(roletree)))
      assert.equal(version .. "-1\n", v.out)
    end)

    it("by FQCN with module_defaults and LuaJIT: --check writes nothing, --diff, then once, then unchanged", function()
      local path = proc.file("release.yml", PLAYBOOK:format(roletree, roletree, roletree, sim.base.opendatasoft))
      local report = playbook(path, "--check", "-e", "ansible_lua_interpreter=/usr/bin/luajit")
      assert.equal(0, report.stats.localhost.failures, cjson.encode(report.stats))
      assert.equal("deleted", report_of(report, "Ada is gone").outcome)
      assert.equal(0, writes())

      report = playbook(path, "--diff", "-e", "ansible_lua_interpreter=/usr/bin/luajit")
      assert.equal(0, report.stats.localhost.failures)
      local gone = report_of(report, "Ada is gone")
      assert.same({ true, "deleted", "ada.lovelace" }, { gone.changed, gone.outcome, gone.diff.before.id })
      assert.same({ true, "invited" }, { report_of(report, "Marie is invited").changed,
        report_of(report, "Marie is invited").outcome })
      assert.equal(0, report_of(report, "What is left of Ada").count)
      local state = sim.state("opendatasoft")
      assert.same({ invite_users = 1, delete_user = 1 }, state.applied)

      report = playbook(path, "-e", "ansible_lua_interpreter=/usr/bin/luajit")
      assert.equal(0, report.stats.localhost.failures)
      assert.equal(0, report.stats.localhost.changed)
      assert.same({ invite_users = 1, delete_user = 1 }, sim.state("opendatasoft").applied)
    end)

    it("a vendor's refusal fails the task with the vendor's reason and no secret", function()
      local path = proc.file("refused.yml", ([[
- hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/userapi.saas.userapi: { vendor: kandji, base_url: "%s", credentials: { token: kandji-test-token } }
  environment:
    LUA_PATH: "%s/share/lua/5.1/?.lua;%s/share/lua/5.1/?/init.lua;;"
    LUA_CPATH: "%s/lib/lua/5.1/?.so;;"
  tasks:
    - name: Alan is gone from Kandji
      userapi.saas.user: { email: alan@example.com, state: absent }
]]):format(sim.base.kandji, roletree, roletree, roletree))
      local report, r = playbook(path, "-e", "ansible_lua_interpreter=/usr/bin/luajit")
      assert.equal(2, r.code)
      local res = report_of(report, "Alan is gone from Kandji")
      assert.is_true(res.failed)
      assert.equal("kandji delete_user: 400 User still assigned to one or more devices.", res.msg)
      assert.is_nil((r.out .. r.err):find("kandji-test-token", 1, true))
    end)
  end)
end)
