-- tools/doccheck.lua: the check `make docs` runs on the sources and on the
-- HTML that LDoc makes of them.
local proc = require "spec.proc"
local check = require "tools.doccheck"

--- Acme: a vendor this spec defines in its own file, as a fifth vendor's spec
-- does; the doc check reads the doc comments below and LDoc's page of them.
-- @module acme
local ACME = {
  name = "acme",
  ops = {
    --- One page of users; `page_size` and `user_id` stay whole in the reference.
    -- `GET /users`
    -- @function list_users
    -- @tparam[opt] table params
    -- @tparam[opt] int params.page_size users per page
    -- @treturn table the page
    list_users = { method = "GET", path = "/users", query = { page_size = { type = "integer" } } },

    --- Deletes one user.
    -- @function delete_user
    -- @tparam string user_id
    -- @treturn boolean true
    delete_user = { method = "DELETE", path = "/users/{user_id}" },
  },
}

local function doccheck(...)
  return proc.run({ "lua5.4", "tools/doccheck.lua", ... })
end

-- the check of `dir` fails and reports each of `misses`
local function reports(dir, misses)
  local r = doccheck(dir)
  assert.equal(1, r.code)
  for _, s in ipairs(misses) do assert.truthy(r.err:find(s, 1, true), s .. "\n" .. r.err) end
  return r
end

-- a module tree in the scratch directory: name -> text
local function tree(name, files)
  local dir = proc.tmpdir() .. "/" .. name
  os.execute("rm -rf " .. proc.quote(dir) .. " && mkdir -p " .. proc.quote(dir .. "/userapi/vendors"))
  for path, text in pairs(files) do
    os.execute("mkdir -p " .. proc.quote((dir .. "/userapi/" .. path):match("^(.*)/")))
    local f = assert(io.open(dir .. "/userapi/" .. path, "wb"))
    f:write(text)
    f:close()
  end
  return dir .. "/userapi"
end

-- a vendor file: its operations' doc blocks, each preceded by `before[op]`
local function vendor_file(before)
  before = before or {}
  return table.concat({
    "--- Acme, outside the library; it may use the library.",
    "-- @module acme",
    "local json = require 'userapi.json'",
    "",
    "return {",
    "  name = 'acme',",
    "  null = json.null,",
    "  ops = {",
    before.list_users or "",
    "    --- One page; `page_size` users.",
    "    -- @function list_users",
    "    -- @tparam[opt] table params",
    "    -- @tparam[opt] int params.page_size users per page",
    "    -- @treturn table",
    "    list_users = { method = 'GET', path = '/users', query = { page_size = {} } },",
    before.delete_user or "",
    "    --- Deletes one user.",
    "    -- @function delete_user",
    "    -- @tparam string user_id",
    "    -- @treturn boolean",
    "    delete_user = { method = 'DELETE', path = '/users/{user_id}' },",
    "  },",
    "}",
  }, "\n")
end

describe("tools/doccheck.lua", function()
  it("passes on the library (transport/ skipped, as make docs does)", function()
    local r = doccheck("--skip", "lua/userapi/transport", "lua/userapi")
    assert.equal(0, r.code, r.err)
    assert.truthy(r.out:find("28 operations, 0 undocumented", 1, true))
  end)

  it("reads the reference LDoc makes of the library: all 28 operations there, no identifier cut by emphasis",
    function()
    local docdir = proc.tmpdir() .. "/reference"
    local l = proc.run(nil, nil, nil, "sh -c " .. proc.quote("rm -rf " .. proc.quote(docdir) .. " && ldoc -q -d "
      .. proc.quote(docdir) .. " ."))
    assert.equal(0, l.code, l.out .. l.err)
    local r = doccheck("--skip", "lua/userapi/transport", "--html", docdir, "lua/userapi")
    assert.equal(0, r.code, r.err)
    assert.truthy(r.out:find("28 operations (and the HTML), 0 undocumented", 1, true), r.out)
    local page = proc.slurp(docdir .. "/modules/userapi.vendors.opendatasoft.html")
    assert.truthy(page:find('<a name = "provision_users"></a>', 1, true))
    page = proc.slurp(docdir .. "/modules/userapi.vendors.sigfox.html")
    assert.truthy(page:find("(profile_id, group_ids)", 1, true))
    assert.truthy(page:find("<code>sigfox get_api_user: 404", 1, true))
  end)

  it("names an operation missing from the HTML and an identifier cut by emphasis", function()
    local docdir = proc.tmpdir() .. "/garbled"
    os.execute("rm -rf " .. proc.quote(docdir) .. " && mkdir -p " .. proc.quote(docdir .. "/modules"))
    local f = assert(io.open(docdir .. "/modules/userapi.vendors.kandji.html", "wb"))
    f:write('<a name = "list_users"></a>\n<a name = "get_user"></a>\n',
      '<p>see (<em>optional</em>) get<em>user</em>id</p>\n')
    f:close()
    local r = doccheck("--html", docdir, "lua/userapi/vendors/kandji.lua")
    assert.equal(1, r.code)
    assert.truthy(r.err:find("userapi.vendors.kandji.html:1: operation delete_user of lua/userapi/vendors/kandji.lua"
      .. " is not in the reference", 1, true), r.err)
    assert.truthy(r.err:find("userapi.vendors.kandji.html:3: an identifier cut by emphasis", 1, true), r.err)
    assert.falsy(r.err:find("get_user of", 1, true), r.err)
  end)

  it("checks a vendor file outside lua/userapi/vendors/, through LDoc too (--ldoc)", function()
    local good = proc.file("acme.lua", vendor_file())
    local r = doccheck("--ldoc", good)
    assert.equal(0, r.code, r.err)
    assert.truthy(r.out:find("2 operations (and the HTML), 0 undocumented", 1, true), r.out)

    -- a plain comment right above a doc block: LDoc drops it, the check says so twice
    local bad = proc.file("acme_bad.lua", vendor_file{ delete_user = "    -- a remark for maintainers" })
    r = doccheck("--ldoc", bad)
    assert.equal(1, r.code)
    assert.truthy(r.err:find("acme_bad.lua:18: operation delete_user: a plain comment runs into its doc block"
      .. " (line 16): LDoc drops the block", 1, true), r.err)
    assert.truthy(r.err:find("operation delete_user of " .. bad .. " is not in the reference", 1, true), r.err)
    assert.falsy(r.err:find("list_users", 1, true), r.err)
  end)

  it("checks a vendor table a spec defines in its own file (doccheck.vendor)", function()
    assert.same({}, check.vendor(ACME, "spec/doccheck_spec.lua", { ldoc = true }))
    local more = { name = "acme", ops = { list_users = ACME.ops.list_users, get_user = { path = "/users/{id}" } } }
    assert.same({ "spec/doccheck_spec.lua:1: operation get_user has no doc comment with @function get_user" },
      check.vendor(more, "spec/doccheck_spec.lua"))
  end)

  it("names each public function without a doc comment, and exits 1", function()
    local dir = tree("undocumented", {
      ["init.lua"] = table.concat({
        "local helper = require 'userapi.helper'",
        "local _M = {}",
        "local Client = {}",
        "--- Documented.",
        "function _M.ok() end",
        "function _M.bare() end",
        "-- one dash too few",
        "function Client:method() end",
        "local function f() end",
        "_M.alias = f",
        "_M.reexport = helper.thing",
        "--- @tparam string x only tags",
        "_M.tagged = function(x) end",
        "-- a plain comment runs into",
        "--- the doc block below it.",
        "function _M.dropped() end",
        "for _, name in ipairs({ \"one\", \"two\" }) do",
        "  _M[name] = function() end",
        "end",
        "--- The first.",
        "-- @function one",
        "return _M",
      }, "\n"),
      ["helper.lua"] = "local _M = {}\n--- Documented.\nfunction _M.thing() end\nreturn _M\n",
    })
    local r = reports(dir, {
      "init.lua:6: _M.bare has no doc comment",
      "init.lua:8: Client:method has no doc comment",
      "init.lua:10: _M.alias has no doc comment",
      "init.lua:11: _M.reexport has no doc comment",
      "init.lua:13: _M.tagged: the doc comment has no summary",
      "init.lua:16: _M.dropped: a plain comment runs into its doc block (line 14): LDoc drops the block",
      "init.lua:18: _M.two (made in a loop) has no doc comment with @function two",
    })
    assert.falsy(r.err:find("_M.ok", 1, true))
    assert.falsy(r.err:find("_M.one ", 1, true))
    assert.falsy(r.err:find("thing", 1, true))
  end)

  it("checks every operation of a vendor table: summary, parameters, body, returns", function()
    local dir = tree("vendor", {
      ["vendors/acme.lua"] = table.concat({
        "return {",
        "  ops = {",
        "    --- Lists.",
        "    -- @function list",
        "    -- @tparam[opt] table params",
        "    -- @tparam[opt] string params.q",
        "    -- @treturn table",
        "    list = { method = 'GET', path = '/users', query = { q = {}, page = {} } },",
        "    --- Updates.",
        "    -- @function update",
        "    -- @tparam string id",
        "    -- @treturn table",
        "    update = { method = 'PUT', path = '/users/{id}', body = { kind = 'object' } },",
        "    --- Gets.",
        "    -- @function get",
        "    -- @tparam string id",
        "    get = { method = 'GET', path = '/users/{id}/{sub}' },",
        "    delete = { method = 'DELETE', path = '/users/{id}' },",
        "  },",
        "}",
      }, "\n"),
    })
    local r = reports(dir, {
      "list: no @tparam for params.page",
      "update: no @tparam for its body",
      "get: no @tparam for path parameter sub",
      "get: no @treturn",
      "operation delete has no doc comment with @function delete",
    })
    assert.falsy(r.err:find("params.q", 1, true))
  end)
end)
