-- The seams of issue 20 (items 4 and 5) and issue 19 (items 23, 25), each
-- the way a user meets it: a vendor table registered with a misspelt key or a
-- missing capability, a base_url or an id carrying control bytes, a command
-- run in a directory holding a bit.lua, the library loaded without the
-- command. Calls go to the simulator, which records what went over the wire.
local userapi = require "userapi"
local sim = require "spec.helper"
local proc = require "spec.proc"

local ADA = "69c009ca-1f78-4bdf-bb93-08d6d39041db"

before_each(function() sim.reset() end)

local function read(path)
  local f = assert(io.open(proc.root .. "/" .. path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- the library's modules: lua/userapi/**.lua but the command's (cli.lua, cli/*)
local function library_modules()
  local p = io.popen("cd " .. proc.quote(proc.root) .. " && find lua/userapi -name '*.lua' | sort")
  local list = {}
  for path in p:read("*a"):gmatch("[^\n]+") do
    if not path:find("^lua/userapi/cli") then list[#list + 1] = path end
  end
  p:close()
  return list
end

-- a vendor of the simulator's Kandji, under another name, changed by `edit`
local function kandji_like(name, edit)
  local t = dofile(proc.root .. "/lua/userapi/vendors/kandji.lua")
  t.name = name
  edit(t)
  return t
end

local function raised(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

describe("a vendor table is checked whole at register (issue 20 item 4)", function()
  it("a misspelt paging style is refused at register with did-you-mean, not at the first walk", function()
    local t = kandji_like("acme_paging", function(v) v.paging.style = "curser" end)
    assert.equal("userapi: vendor 'acme_paging': paging.style: 'curser' is not one of cursor, offset, page"
      .. " (did you mean 'cursor'?)", raised(userapi.register, t))
    assert.is_nil(userapi.acme_paging)
  end)

  it("the SCIM mapping is checked by its owner at register: a misspelt key, a page naming no operation", function()
    assert.equal("userapi: vendor 'acme_s': people.scim.attributes[1]: unknown field 'red_only' "
      .. "(did you mean 'read_only'?)", raised(userapi.register, kandji_like("acme_s", function(v)
        v.people.scim.attributes[1].red_only, v.people.scim.attributes[1].read_only = true, nil
      end)))
    assert.equal("userapi: vendor 'acme_s2': people.scim.page.op: no operation 'list_user' (did you mean "
      .. "'list_users'?)", raised(userapi.register, kandji_like("acme_s2", function(v)
        v.people.scim.page = { op = "list_user", items = "results", total = "count" }
      end)))
    assert.is_nil(userapi.acme_s)
  end)

  it("an unknown key in each part gets did-you-mean: paging, people (people.lookup misspelt), cli", function()
    assert.equal("userapi: vendor 'acme_p': paging: unknown field 'item' (did you mean 'items'?)",
      raised(userapi.register, kandji_like("acme_p", function(v) v.paging.item = v.paging.items end)))
    assert.equal("userapi: vendor 'acme_l': people: unknown field 'lookpu' (did you mean 'lookup'?)",
      raised(userapi.register, kandji_like("acme_l", function(v)
        v.people.lookpu, v.people.lookup = v.people.lookup, nil
      end)))
    assert.equal("userapi: vendor 'acme_e': people.lookup: unknown field 'emial' (did you mean 'email'?)",
      raised(userapi.register, kandji_like("acme_e", function(v) v.people.lookup.emial = v.people.lookup.email end)))
    assert.equal("userapi: vendor 'acme_o': people.delete.op: no operation 'delete_usr' (did you mean 'delete_user'?)",
      raised(userapi.register, kandji_like("acme_o", function(v) v.people.delete = { op = "delete_usr" } end)))
    assert.equal("userapi: vendor 'acme_c': cli: unknown field 'exmaples' (did you mean 'examples'?)",
      raised(userapi.register, kandji_like("acme_c", function(v) v.cli.exmaples = {} end)))
    assert.equal("userapi: vendor 'acme_v': cli.env[1]: no option 'tokn' (did you mean 'token'?)",
      raised(userapi.register, kandji_like("acme_v", function(v) v.cli.env[1][1] = "tokn" end)))
    assert.equal("userapi: vendor 'acme_k': options.token: 'secert' is not one of boolean, function, host, login,"
      .. " secret, string (did you mean 'secret'?)",
      raised(userapi.register, kandji_like("acme_k", function(v) v.options.token = "secert" end)))
    assert.equal("userapi: vendor 'acme_q': op 'list_users': unknown field 'qeury' (did you mean 'query'?)",
      raised(userapi.register, kandji_like("acme_q", function(v)
        v.ops.list_users.qeury, v.ops.list_users.query = v.ops.list_users.query, nil
      end)))
  end)

  it("a part added later (as SCIM's will be) is checked by its owner; an unknown part is refused", function()
    assert.equal("userapi: vendor 'acme_x': unknown field 'extra'",
      raised(userapi.register, kandji_like("acme_x", function(v) v.extra = { mapping = 1 } end)))
    package.preload["spec_extra_part"] = function()
      return { check_part = function(part, vname)
        require("userapi.check").fields(vname, "extra: ", part, { mapping = "table" })
      end }
    end
    require("userapi.vendor").add_part("extra", "spec_extra_part")
    assert.equal("userapi: vendor 'acme_y': extra: mapping: table expected, got number",
      raised(userapi.register, kandji_like("acme_y", function(v) v.extra = { mapping = 1 } end)))
    assert.is_function(userapi.register(kandji_like("acme_z", function(v) v.extra = { mapping = {} } end)))
  end)

  it("a vendor without paging or people has no each_user nor ensure_*: the call says why, nothing is sent", function()
    local t = kandji_like("acme_bare", function(v) v.paging, v.people = nil, nil end)
    userapi.register(t)
    local c = userapi.acme_bare{ base_url = sim.base.kandji, token = "kandji-test-token", rate_limit = false }
    local methods = getmetatable(c).__index
    for _, m in ipairs({ "each_user", "pages", "ensure_user", "ensure_absent", "each_export_row" }) do
      assert.is_nil(rawget(methods, m), m)
    end
    assert.equal("bad argument #1 to 'each_user' (acme_bare has no paging (a list operation to walk),"
      .. " so each_user is not available)", raised(function() return c:each_user() end))
    assert.equal("bad argument #1 to 'ensure_absent' (acme_bare has no people part (desired state),"
      .. " so ensure_absent is not available)",
      raised(function() return c:ensure_absent{ email = "ada@example.com" } end))
    assert.equal("bad argument #1 to 'directory' (k: acme_bare has no people part (desired state),"
      .. " so directory is not available)", raised(userapi.directory, { k = c }))
    assert.same({}, sim.requests())
    -- what it has still works
    assert.equal("ada@example.com", assert(c:get_user(ADA)).email)
    assert.is_function(rawget(methods, "bulk"))
  end)

  it("kandji cannot create: no ensure_user, a call says why; ensure_absent and the directory remain", function()
    local kandji = sim.client("kandji", { rate_limit = false })
    assert.equal("bad argument #1 to 'ensure_user' (kandji has no create operation, so ensure_user is not available)",
      raised(function() return kandji:ensure_user{ email = "ada@example.com" } end))
    assert.same({}, sim.requests())
    local dir = userapi.directory{ kandji = kandji }
    local res, failed = dir:onboard{ email = "marie@example.com" }
    assert.same({}, res)
    assert.equal("unsupported", failed.kandji.kind)
    -- the directory says why in the vendor's own words
    assert.equal(kandji.vendor.people.cannot_create, failed.kandji.message)
    assert.truthy(failed.kandji.message:find("directory integration", 1, true))
    -- a person Kandji holds already is there: no change, and only reads were sent
    res, failed = dir:onboard{ email = "ada@example.com" }
    assert.is_nil(failed)
    assert.same({ false, "none", ADA }, { res.kandji.changed, res.kandji.action, res.kandji.before.id })
    for _, r in ipairs(sim.requests()) do assert.equal("GET", r.method) end
  end)
end)

describe("straight layers (issue 20 item 5)", function()
  it("the library never requires the command's modules: config raises its own error type", function()
    for _, path in ipairs(library_modules()) do
      assert.is_nil(read(path):find("require%s*%(?%s*[\"']userapi%.cli[%.\"']"), path .. " requires the command")
    end
    local r = proc.run({ proc.lua, "-e", "require 'userapi.config'; local loaded = {} "
      .. "for k in pairs(package.loaded) do "
      .. "if k == 'userapi.cli' or k:find('^userapi%.cli%.') then loaded[#loaded + 1] = k end end "
      .. "io.write(table.concat(loaded, ','))" }, proc.lua_env())
    assert.same({ 0, "" }, { r.code, r.out }, r.err)
    local config = require "userapi.config"
    local ok, err = pcall(config.parse, "key = value\n", "conf")
    assert.is_false(ok)
    assert.is_true(config.is_error(err))
    assert.same({ "config", "conf:1: 'key' outside a [profile.vendor] section" }, { err.kind, tostring(err) })
  end)

  it("phase facts have one module: no other module reads ngx.get_phase or asks the chooser", function()
    for _, path in ipairs(library_modules()) do
      local text = read(path)
      if path ~= "lua/userapi/phase.lua" then
        assert.is_nil(text:find("get_phase", 1, true), path .. " reads the phase itself")
        assert.is_nil(text:find("require%s*%(?%s*[\"']userapi%.transport[\"']"), path .. " asks the chooser")
      end
    end
  end)

  it("the URL rules are one function: base_url and the token endpoint refuse the same URLs", function()
    local options, oidc = require "userapi.options", require "userapi.oidc"
    assert.equal(options.url_problem, oidc.endpoint_problem)
    local urls = { "https://h/api", "http://127.0.0.1:1/x", "http://example.com/", "ftp://h/", "https://u:p@h/",
                   "https://h/a b", "https://h/a\r\nX: y", "https://h/a\127", "https://h/\tx", "https:///x" }
    for _, url in ipairs(urls) do
      local refused = not pcall(options.base_url, "kandji", url)
      assert.equal(options.url_problem(url) ~= nil, refused, url)
    end
  end)

  it("small utilities have one home: unescape, trim, edit distance and sorted-key JSON in util/json only", function()
    for _, path in ipairs(library_modules()) do
      local text = read(path)
      for _, name in ipairs({ "unescape", "trim", "distance", "canonical", "quote" }) do
        if not (path == "lua/userapi/json.lua" and name == "quote") then
          assert.is_nil(text:find("local function " .. name .. "%("), path .. " defines its own " .. name)
        end
      end
    end
    for _, path in ipairs({ "lua/userapi/cli/usage.lua", "lua/userapi/cli/request.lua",
                            "lua/userapi/cli/client.lua" }) do
      assert.is_nil(read(path):find("local function %a*distance"), path)
      assert.is_nil(read(path):find("local function trim"), path)
    end
    local json, format = require "userapi.json", require "userapi.format"
    assert.equal(json.encode_sorted, format.to_json)
    assert.equal('{"a":[1,2],"b":"x/y"}', json.encode_sorted({ b = "x/y", a = { 1, 2 } }))
  end)

  it("constructor errors are structured: the command reads fields, tostring is the message", function()
    local ok, err = pcall(userapi.kandji, { subdomain = "acme" })
    assert.is_false(ok)
    assert.same({ "options", "kandji", "credentials", "token" }, { err.kind, err.vendor, err.reason, err.missing })
    assert.equal("userapi.kandji: credentials missing (token)", tostring(err))
    err = select(2, pcall(userapi.kandji, { token = "t" }))
    assert.same({ "base_url", "base_url" }, { err.reason, err.option })
    err = select(2, pcall(userapi.kandji, { token = "t", subdomian = "acme" }))
    assert.same({ "invalid", "subdomian" }, { err.reason, err.option })
    assert.equal("bad argument #1 to 'userapi.kandji' (subdomian: unknown option (did you mean 'subdomain'?))",
      tostring(err))
    err = select(2, pcall(userapi.arthur, {}))
    assert.same({ "credentials", "access_token, token or client_id + client_secret" }, { err.reason, err.missing })
    -- the command: a refusal whose message says "required" is not read as missing credentials
    local cli = require "userapi.cli"
    local out, errs = {}, {}
    local function sink(t) return { write = function(self, ...) for _, s in ipairs({ ... }) do t[#t + 1] = s end
                                      return self end, flush = function() end } end
    local code = cli.main({ "kandji", "list_users" }, { HOME = "/nonexistent", USERAPI_KANDJI_TOKEN = "t" },
      { stdout = sink(out), stderr = sink(errs), isatty = function() return false end })
    assert.equal(2, code)
    assert.truthy(table.concat(errs):find("missing credentials for kandji (subdomain or base_url)", 1, true))
  end)
end)

describe("control bytes, one rule (issue 19 item 23)", function()
  it("base_url with CR, LF, a space, TAB or DEL is refused at construction naming the option; nothing is sent",
    function()
    for _, bad in ipairs({ "\r\nX-Injected: 1", "\n", " ", "\t", "\127" }) do
      local ok, err = pcall(userapi.kandji, { base_url = sim.base.kandji .. bad .. "/x", token = "kandji-test-token" })
      assert.is_false(ok)
      assert.equal("base_url", err.option)
      assert.equal("userapi.kandji: base_url contains a control byte or a space (CR, LF, TAB, DEL, ...)", tostring(err))
    end
    assert.same({}, sim.requests())
  end)

  it("TAB and DEL in an id are refused before sending", function()
    local kandji = sim.client("kandji", { rate_limit = false })
    for _, id in ipairs({ "ada\tx", "ada\127", "\tada" }) do
      assert.equal("bad argument #1 to 'get_user' (user_id: contains a control byte (TAB, DEL, ...))",
        raised(kandji.get_user, kandji, id))
      assert.equal("bad argument #1 to 'delete_user' (user_id: contains a control byte (TAB, DEL, ...))",
        raised(kandji.delete_user, kandji, id))
    end
    assert.same({}, sim.requests())
  end)

  it("proxy credentials that decode to control bytes are refused, never quoted", function()
    for _, userinfo in ipairs({ "u:pa%0D%0AX-Evil:%201", "u%7F:SECRETPW", "u:SECRET%09PW", "u%00:SECRETPW" }) do
      local ok, err = pcall(userapi.kandji, { base_url = sim.base.kandji, token = "kandji-test-token",
                                               proxy = "http://" .. userinfo .. "@127.0.0.1:3128" })
      assert.is_false(ok)
      assert.equal("proxy", err.option)
      assert.equal("bad argument #1 to 'userapi.kandji' (proxy: the user or password decodes to a control byte"
        .. " (CR, LF, TAB, DEL, ...))", tostring(err))
    end
    assert.same({}, sim.requests())
  end)
end)

describe("no module from the current directory (issue 19 item 25)", function()
  it("a ./bit.lua (or bit32, redis, cjson/safe) where the command runs never runs", function()
    local dir = proc.tmpdir() .. "/cwd-modules"
    local mark = dir .. "/RAN"
    os.execute("mkdir -p " .. proc.quote(dir .. "/cjson"))
    local plant = ("local f = io.open(%q, 'a') f:write(...) f:write('\\n') f:close() return {}"):format(mark)
    for _, name in ipairs({ "bit", "bit32", "redis", "cjson/safe", "resty/redis" }) do
      os.execute("mkdir -p " .. proc.quote(dir .. "/" .. (name:match("^(.*)/") or "")))
      local f = assert(io.open(dir .. "/" .. name .. ".lua", "wb"))
      f:write(plant)
      f:close()
    end
    local runs = {}
    for _, argv in ipairs({ { "--version" }, { "kandji", "get_user", ADA, "--base-url", sim.base.kandji } }) do
      local words = {}
      for i, a in ipairs(argv) do words[i] = proc.quote(a) end
      runs[#runs + 1] = proc.run(nil, { USERAPI_KANDJI_TOKEN = "kandji-test-token" }, "",
        "sh -c " .. proc.quote(("cd %s && %s %s/bin/userapi %s"):format(proc.quote(dir), proc.lua,
          proc.quote(proc.root), table.concat(words, " "))))
    end
    local f = io.open(mark, "rb")
    local ran = f and f:read("*a")
    if f then f:close() end
    assert.is_nil(ran, "modules of the working directory ran: " .. tostring(ran))
    assert.same({ 0, 0 }, { runs[1].code, runs[2].code }, runs[1].err .. runs[2].err)
    assert.truthy(runs[1].out:find("^userapi "))
    assert.truthy(runs[2].out:find("ada@example.com", 1, true))
  end)

  it("optional_require finds installed modules and never ./", function()
    local util = require "userapi.util"
    assert.equal(require("cjson.safe"), util.optional_require("cjson.safe"))
    assert.is_nil(util.optional_require("userapi_no_such_module"))
  end)
end)
