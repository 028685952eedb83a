-- The install a Lua user does (README "Install"): plain `luarocks make` in a
-- copy of the checkout, into one throwaway tree, for every Lua the rockspec
-- admits, one after the other as a user adds them; after each, a script in
-- another directory finds the module through `luarocks path` and makes a real
-- call to the simulator, and the installed `userapi` command makes one too.
-- luarocks must never need a registry: every download goes to a closed port.
-- It builds for every Lua itself, so it runs once, in the Lua 5.4 suite.
local proc = require "spec.proc"

local q = proc.quote

if _VERSION ~= "Lua 5.4" then
  describe("luarocks make", function()
    pending("runs in the Lua 5.4 suite; it builds and runs every Lua itself")
  end)
  return
end

local sim = require "spec.helper"

-- as the README tells each user to type it; `home` is a luarocks user config
local LUAS = {
  { name = "Lua 5.4", lua = "lua5.4", flags = "--lua-version=5.4", luav = "5.4" },
  -- OpenResty's luajit2: luarocks told once which interpreter and headers
  { name = "LuaJIT", lua = "luajit", flags = "", luav = "5.1",
    setup = "luarocks config --scope user lua_interpreter luajit >/dev/null"
      .. " && luarocks config --scope user variables.LUA_INCDIR /usr/include/luajit-2.1 >/dev/null" },
  -- Debian's luarocks defaults to 5.1: the plainest `luarocks make`, which
  -- also replaces LuaJIT's module of the shared lib/lua/5.1
  { name = "Lua 5.1", lua = "lua5.1", flags = "", luav = "5.1" },
  { name = "Lua 5.3", lua = "lua5.3", flags = "--lua-version=5.3", luav = "5.3" },
  { name = "Lua 5.2", lua = "lua5.2", flags = "--lua-version=5.2", luav = "5.2" },
}

-- a script outside the checkout: where userapi came from, and one real call
local FIRST_SCRIPT = [[
local userapi = require "userapi"
local core = require "userapi.core"
local function found(name)
  for t in package.path:gmatch("[^;]+") do
    local f = t:gsub("%?", (name:gsub("%.", "/")))
    local h = io.open(f)
    if h then h:close() return f end
  end
end
local kandji = userapi.kandji{ base_url = arg[1], token = "kandji-test-token" }
local page = assert(kandji:list_users{})
print(((jit and jit.version) or _VERSION) .. " userapi " .. userapi._VERSION .. " libcurl " .. core.curl_version
  .. " users " .. #page.results .. " from " .. found("userapi"))
]]

local dir, src, tree

-- a shell command line, with the clean environment of proc.run
local function sh(cmd, home)
  return proc.run(nil, { HOME = home or (dir .. "/home") }, nil, "sh -c " .. q(cmd))
end

-- luarocks's downloads go through a proxy that refuses: any fails at once,
-- on a machine online too
local OFFLINE = "http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 "

-- the names `nm -D --defined-only` lists, sorted
local function exported(out)
  local names = {}
  for name in out:gmatch("%x+ %a (%S+)") do names[#names + 1] = name end
  table.sort(names)
  return names
end

local function build(l)
  local home = dir .. "/home-" .. l.lua
  local setup = ("mkdir -p %s/.luarocks && "):format(q(home)) .. (l.setup and (l.setup .. " && ") or "")
  return sh(("cd %s && %s%sluarocks %s make --tree %s"):format(q(src), setup, OFFLINE, l.flags, q(tree)), home), home
end

-- the first script as a user runs it: paths from `luarocks path`, from elsewhere
local function first_script(l, home)
  return sh(("eval \"$(luarocks %s --tree %s path)\" && cd %s && %s first.lua %s"):format(
    l.flags, q(tree), q(dir .. "/elsewhere"), l.lua, q(sim.base.kandji)), home)
end

local function command(...)
  local words = {}
  for i, a in ipairs({ ... }) do words[i] = q(a) end
  return sh(("cd %s && USERAPI_KANDJI_TOKEN=kandji-test-token %s/bin/userapi %s"):format(
    q(dir .. "/elsewhere"), q(tree), table.concat(words, " ")))
end

describe("luarocks make (every Lua the rockspec admits, one tree) #install", function()
  setup(function()
    dir = proc.tmpdir() .. "/install"
    src, tree = dir .. "/userapi", dir .. "/tree"
    local checkout = {}
    for i, f in ipairs({ "csrc", "lua", "bin", "userapi-scm-1.rockspec" }) do checkout[i] = q(proc.root .. "/" .. f) end
    assert(os.execute(("rm -rf %s && mkdir -p %s %s/elsewhere && cp -r %s %s")
      :format(q(dir), q(src), q(dir), table.concat(checkout, " "), q(src))))
    local f = assert(io.open(dir .. "/elsewhere/first.lua", "w"))
    f:write(FIRST_SCRIPT)
    f:close()
  end)

  local done = {}
  for _, l in ipairs(LUAS) do
    it(l.name .. ": builds, loads from a script elsewhere, the command works, earlier Luas still do", function()
      local r, home = build(l)
      assert.equal(0, r.code, r.out .. r.err)
      assert.truthy(r.out:find("userapi scm-1 is now installed in " .. tree, 1, true), r.out)
      -- the rockspec passes no visibility flag: the core's headers hide what they declare
      local nm = sh(("nm -D --defined-only %s/lib/lua/%s/userapi/core.so"):format(q(tree), l.luav))
      assert.equal(0, nm.code, nm.err)
      assert.same({ "luaopen_userapi_core" }, exported(nm.out))

      local s = first_script(l, home)
      assert.equal(0, s.code, s.out .. s.err)
      assert.truthy(s.out:find(" users %d+ from " .. tree:gsub("%p", "%%%0") .. "/share/lua/" .. l.luav
        .. "/userapi/init%.lua\n$"), s.out)
      if l.lua == "luajit" then assert.truthy(s.out:find("^LuaJIT 2%.1"), s.out) end

      -- the command is the last install's: it must work, whichever Lua that is
      local c = command("kandji", "list_users", "--base-url", sim.base.kandji, "--format", "jsonl")
      assert.equal(0, c.code, c.out .. c.err)
      assert.truthy(c.out:find('"email"', 1, true), c.out)
      local v = command("--version")
      assert.equal(0, v.code, v.err)
      assert.truthy(v.out:find("userapi", 1, true), v.out)

      -- an install for one Lua never breaks another's
      done[#done + 1] = { l = l, home = home }
      for _, d in ipairs(done) do
        local again = first_script(d.l, d.home)
        assert.equal(0, again.code, d.l.name .. " after installing " .. l.name .. ": " .. again.out .. again.err)
      end
    end)
  end

  it("the module built for 5.1's headers loads in LuaJIT (they share lib/lua/5.1)", function()
    -- the tree's 5.1 module is the plain `luarocks make` one now (Lua 5.1 headers)
    local s = first_script(LUAS[2], dir .. "/home-luajit")
    assert.equal(0, s.code, s.out .. s.err)
    assert.truthy(s.out:find("^LuaJIT 2%.1"), s.out)
  end)

  it("without lua-cjson, loading userapi says how to get it", function()
    local r = sh(("cd %s && LUA_PATH=%s LUA_CPATH=%s lua5.4 -e 'require \"userapi\"'"):format(
      q(dir .. "/elsewhere"), q(tree .. "/share/lua/5.4/?.lua;" .. tree .. "/share/lua/5.4/?/init.lua"),
      q(tree .. "/lib/lua/5.4/?.so")))
    assert.equal(1, r.code)
    assert.truthy(r.err:find("userapi needs lua-cjson: apt-get install lua-cjson (Debian, Ubuntu) or luarocks install"
      .. " lua-cjson", 1, true), r.err)
  end)

  it("a libcurl older than 7.66.0 stops the build with the minimum named", function()
    -- the system's headers, saying 7.65.0
    local old = dir .. "/oldcurl"
    local inc = sim.sh("pkg-config --variable=includedir libcurl")
    local multiarch = sim.sh("gcc -print-multiarch")
    local from = io.open(inc .. "/curl/curlver.h") and inc .. "/curl" or inc .. "/" .. multiarch .. "/curl"
    assert(os.execute(("mkdir -p %s/include && cp -r %s %s/include/ && sed -i"
      .. " 's/^#define LIBCURL_VERSION_NUM .*/#define LIBCURL_VERSION_NUM 0x074100/' %s/include/curl/curlver.h")
      :format(q(old), q(from), q(old), q(old))))
    local r = sh(("cd %s && %sluarocks --lua-version=5.4 make --tree %s CURL_INCDIR=%s"):format(
      q(src), OFFLINE, q(dir .. "/oldtree"), q(old .. "/include")))
    assert.are_not.equal(0, r.code)
    assert.truthy((r.out .. r.err):find("userapi needs libcurl 7.66.0 or newer", 1, true), r.out .. r.err)
  end)

  it("the rockspec lists every C source and every Lua module of the checkout", function()
    local spec = {}
    assert(loadfile(proc.root .. "/userapi-scm-1.rockspec", "t", spec))()
    local listed = {}
    for name, m in pairs(spec.build.modules) do
      if type(m) == "string" then listed[m] = name else
        for _, c in ipairs(m.sources) do listed[c] = name end
      end
    end
    local missing = {}
    local p = io.popen("cd " .. q(proc.root) .. " && find csrc -name '*.c' && find lua -name '*.lua' | sort")
    for path in p:lines() do
      local want = path:match("^csrc/") and "userapi.core"
        or path:gsub("^lua/", ""):gsub("/init%.lua$", ""):gsub("%.lua$", ""):gsub("/", ".")
      if listed[path] ~= want then missing[#missing + 1] = path .. " as " .. want end
    end
    p:close()
    assert.same({}, missing)
  end)
end)
