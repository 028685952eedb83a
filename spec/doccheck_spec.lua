-- tools/doccheck.lua: the check `make docs` runs before LDoc.
local proc = require "spec.proc"

local function doccheck(...)
  return proc.run({ "lua5.4", "tools/doccheck.lua", ... })
end

-- a module tree in the scratch directory: name -> text
local function tree(name, files)
  local dir = proc.tmpdir() .. "/" .. name
  os.execute("rm -rf " .. proc.quote(dir) .. " && mkdir -p " .. proc.quote(dir .. "/userapi/vendors"))
  for path, text in pairs(files) do
    local f = assert(io.open(dir .. "/userapi/" .. path, "wb"))
    f:write(text)
    f:close()
  end
  return dir .. "/userapi"
end

describe("tools/doccheck.lua", function()
  it("passes on the library (transport/ skipped, as make docs does)", function()
    local r = doccheck("--skip", "lua/userapi/transport", "lua/userapi")
    assert.equal(0, r.code, r.err)
    assert.truthy(r.out:find("28 operations, 0 undocumented", 1, true))
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
        "for _, name in ipairs({ \"one\", \"two\" }) do",
        "  _M[name] = function() end",
        "end",
        "--- The first.",
        "-- @function one",
        "return _M",
      }, "\n"),
      ["helper.lua"] = "local _M = {}\n--- Documented.\nfunction _M.thing() end\nreturn _M\n",
    })
    local r = doccheck(dir)
    assert.equal(1, r.code)
    for _, s in ipairs({
      "init.lua:6: _M.bare has no doc comment",
      "init.lua:8: Client:method has no doc comment",
      "init.lua:10: _M.alias has no doc comment",
      "init.lua:11: _M.reexport has no doc comment",
      "init.lua:13: _M.tagged: the doc comment has no summary",
      "init.lua:15: _M.two (made in a loop) has no doc comment with @function two",
    }) do
      assert.truthy(r.err:find(s, 1, true), s .. "\n" .. r.err)
    end
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
    local r = doccheck(dir)
    assert.equal(1, r.code)
    for _, s in ipairs({
      "list: no @tparam for params.page",
      "update: no @tparam for its body",
      "get: no @tparam for path parameter sub",
      "get: no @treturn",
      "operation delete has no doc comment with @function delete",
    }) do
      assert.truthy(r.err:find(s, 1, true), s .. "\n" .. r.err)
    end
    assert.falsy(r.err:find("params.q", 1, true))
  end)
end)
