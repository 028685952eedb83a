-- A fifth vendor, defined here and nowhere else: Tessera, a made-up People
-- API with its own auth (Basic "email/token:API_TOKEN"), its own paging
-- (per_page/start, the next link under `links`) and its own error body
-- ({ error = { title, reason, code } }), served by a stand-in server below.
-- Registered with userapi.register, it works through the whole library:
-- checked calls, each_user and pages, bulk, structured errors, redaction.
--
-- Other specs reach the vendor and its server without running these:
--   local fifth = loadfile("spec/fifth_vendor_spec.lua")("fifth")
--   fifth.write_module(dir)   -- dir/tessera_vendor.lua, the vendor table
--   local srv = fifth.start() -- srv.url, srv.base, srv.creds, srv.stop()
local M = {}

--- The vendor table, as a module's source.
M.VENDOR = [=[
--- Tessera People API v3: a vendor that userapi does not ship, as data.
-- `userapi.register(require "tessera_vendor")` makes `userapi.tessera{ host, email, api_token }`.
-- @module tessera_vendor
local str = { type = "string" }
local ROLES = { "admin", "member" }

return {
  name = "tessera",
  options = { host = "host", email = "string", api_token = "secret" },
  default_base = function(o) if o.host then return "https://" .. o.host .. "/api/v3" end end,
  credentials = { "api_token" },
  -- Basic auth with "<email>/token" as the login and the API token as the password
  auth = function(o)
    if o.email and o.api_token then return { scheme = "basic", user = o.email .. "/token", password = o.api_token } end
  end,
  -- { "error": { "title": "Not Found", "reason": "No person with id 7", "code": "not_found" } }
  error_message = function(t)
    local e = t.error
    if type(e) == "table" then return e.reason or e.title, e.code end
  end,
  ops = {
    --- One page of people, filtered by role; `tessera:each_user()` walks them all.
    -- `GET /people`
    -- @function list_people
    -- @tparam[opt] table params the query parameters
    -- @tparam[opt] string params.role `admin` or `member`
    -- @tparam[opt] int params.limit people a page, 1..50 (`per_page`)
    -- @tparam[opt] int params.offset where the page starts (`start`)
    -- @treturn[1] table the page: `people`, `links.next`
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 401, a network failure
    -- @usage local page = assert(tessera:list_people{ role = "admin" })
    list_people = {
      method = "GET", path = "/people",
      query = {
        role = { type = "string", enum = ROLES },
        limit = { type = "integer", min = 1, max = 50, wire = "per_page" },
        offset = { type = "integer", min = 0, wire = "start" },
      },
    },
    --- One person.
    -- `GET /people/{person_id}`
    -- @function get_person
    -- @tparam string person_id the person's id
    -- @treturn[1] table the person: `id`, `email`, `name`, `role`
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 404 `No person with id ...`, 401
    -- @usage local p = assert(tessera:get_person("p001"))
    get_person = { method = "GET", path = "/people/{person_id}" },
    --- Adds a person.
    -- `POST /people`
    -- @function create_person
    -- @tparam table body `email` (required), `name`, `role`
    -- @treturn[1] table the person made
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 400, 401
    -- @usage tessera:create_person{ email = "ada@example.com", role = "member" }
    create_person = {
      method = "POST", path = "/people",
      body = { kind = "object", required = { "email" },
               fields = { email = str, name = str, role = { type = "string", enum = ROLES } } },
    },
    --- Removes a person.
    -- `DELETE /people/{person_id}`
    -- @function delete_person
    -- @tparam string person_id the person's id
    -- @treturn[1] boolean `true`
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 404, 401
    -- @usage assert(tessera:delete_person("p001"))
    delete_person = { method = "DELETE", path = "/people/{person_id}" },
  },
  paging = { op = "list_people", style = "offset", items = "people", next = "links.next", max = 50 },
}
]=]

--- The stand-in server (Lua 5.4, the simulator's HTTP loop); ROOT is filled in.
M.SERVER = [=[
package.path = "ROOT/?.lua;" .. package.path
local http = require "sim.http"
local cjson = require "cjson"

local port_file, watch = arg[2], tonumber(arg[4])
local EMAIL, TOKEN = "ops@example.com", "tessera-TOKEN-4716"
local base64 = require "spec.base64"
local GOOD = "Basic " .. base64(EMAIL .. "/token:" .. TOKEN)

local people, order, requests, fail = {}, {}, {}, {}
local function reset(n)
  people, order, requests, fail = {}, {}, {}, {}
  for i = 1, n or 0 do
    local id = string.format("p%03d", i)
    people[id] = { id = id, email = id .. "@example.com", name = "Person " .. i, role = i == 1 and "admin" or "member" }
    order[#order + 1] = id
  end
end
reset(3)

local function J(status, v, headers)
  headers = headers or {}
  headers["Content-Type"] = "application/json"
  return { status = status, headers = headers, body = cjson.encode(v) }
end
local function E(status, title, reason, code, headers)
  return J(status, { error = { title = title, reason = reason, code = code } }, headers)
end
local function args(q)
  local t = {}
  for k, v in (q or ""):gmatch("([^&=]+)=([^&]*)") do
    t[k] = v:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  end
  return t
end

local function handle(req)
  if req.path == "/_requests" then return J(200, requests) end
  if req.path == "/_reset" then reset(tonumber(args(req.query).n)) return J(200, {}) end
  if req.path == "/_fail" then fail[#fail + 1] = tonumber(args(req.query).status) return J(200, {}) end
  requests[#requests + 1] = { method = req.method, path = req.path, query = req.query or "",
                              authorization = req.headers.authorization or "", body = req.body }
  local auth = req.headers.authorization or ""
  if auth ~= GOOD then
    -- a careless vendor: it echoes the credentials it was sent
    return E(401, "Unauthorized", "bad credentials: you sent " .. auth, "unauthorized", { ["X-Seen-Auth"] = auth })
  end
  if #fail > 0 then return E(table.remove(fail, 1), "Busy", "try again", "busy") end
  local id = req.path:match("^/api/v3/people/([^/]+)$")
  if req.path == "/api/v3/people" and req.method == "GET" then
    local a = args(req.query)
    local per, start, list = tonumber(a.per_page) or 10, tonumber(a.start) or 0, {}
    for _, pid in ipairs(order) do
      if people[pid] and (not a.role or people[pid].role == a.role) then list[#list + 1] = people[pid] end
    end
    local page = setmetatable({}, cjson.array_mt)
    for i = start + 1, math.min(#list, start + per) do page[#page + 1] = list[i] end
    local nxt = start + per < #list and ("http://" .. req.headers.host .. "/api/v3/people?per_page=" .. per
                                         .. "&start=" .. (start + per)) or cjson.null
    return J(200, { people = page, links = { next = nxt } })
  elseif req.path == "/api/v3/people" and req.method == "POST" then
    local b = cjson.decode(req.body)
    for _, p in pairs(people) do
      if p.email == b.email then return E(422, "Unprocessable", "email: already taken", "taken") end
    end
    local p = { id = string.format("p%03d", #order + 1), email = b.email, name = b.name, role = b.role or "member" }
    people[p.id], order[#order + 1] = p, p.id
    return J(201, p)
  elseif id and people[id] and req.method == "GET" then
    return J(200, people[id])
  elseif id and people[id] and req.method == "DELETE" then
    people[id] = nil
    return { status = 204, body = "" }
  elseif id then
    return E(404, "Not Found", "No person with id " .. id, "not_found")
  end
  return E(404, "Not Found", "no route", "not_found")
end

http.serve { host = "127.0.0.1", port = 0, handler = handle,
  on_second = function()
    local f = io.open("/proc/" .. watch .. "/stat")
    if not f then os.exit(0) end
    f:close()
  end,
  on_listen = function(port)
    local f = assert(io.open(port_file .. ".tmp", "w"))
    f:write(tostring(port))
    f:close()
    assert(os.rename(port_file .. ".tmp", port_file))
  end }
]=]

--- Writes the vendor table as `dir/tessera_vendor.lua`; returns its path.
function M.write_module(dir)
  local path = dir .. "/tessera_vendor.lua"
  local f = assert(io.open(path, "w"))
  f:write(M.VENDOR)
  f:close()
  return path
end

--- Starts the stand-in server: `url`, `base` (the vendor's base URL),
-- `creds` (the options it accepts), `stop()`.
function M.start()
  local helper = require "spec.helper"
  local dir = helper.sh("mktemp -d /tmp/userapi-tessera.XXXXXX")
  local f = assert(io.open(dir .. "/server.lua", "w"))
  f:write((M.SERVER:gsub("ROOT", helper.root)))
  f:close()
  local srv = helper.spawn(dir .. "/server.lua")
  srv.base = srv.url .. "/api/v3"
  srv.creds = { email = "ops@example.com", api_token = "tessera-TOKEN-4716" }
  local stop = srv.stop
  srv.stop = function() stop() os.execute("rm -rf " .. dir) end
  return srv
end

if ... == "fifth" then return M end

local sim = require "spec.helper"
local json = require "userapi.json"
local userapi = require "userapi"

describe("a fifth vendor defined in its spec alone", function()
  local srv, tessera, dir

  local function control(path)
    local status, body = sim.session:request{ method = "POST", url = srv.url .. path }
    assert(status == 200, tostring(body))
    return json.decode(body)
  end
  local function requests() return control("/_requests") end
  local function client(extra)
    local o = { base_url = srv.base, retries = false }
    for k, v in pairs(srv.creds) do o[k] = v end
    for k, v in pairs(extra or {}) do o[k] = v end
    return userapi.tessera(o)
  end

  setup(function()
    srv = M.start()
    dir = sim.sh("mktemp -d /tmp/userapi-tessera-mod.XXXXXX")
    tessera = userapi.register(dofile(M.write_module(dir)))
  end)
  teardown(function()
    srv.stop()
    os.execute("rm -rf " .. dir)
  end)
  before_each(function() control("/_reset?n=3") end)

  it("is registered as a constructor and a compiled table, like the four", function()
    assert.equal(tessera, userapi.tessera)
    assert.same({ "create_person", "delete_person", "get_person", "list_people" }, userapi.vendors.tessera.op_names)
    assert.equal("https://people.example.org/api/v3",
                 userapi.tessera{ host = "people.example.org", email = "a@b.c", api_token = "t0k3n" }.base_url)
  end)

  it("refuses a vendor table with a misspelt field, naming it", function()
    local bad = dofile(M.write_module(dir))
    bad.error_mesage, bad.error_message = bad.error_message, nil
    assert.has_error(function() userapi.register(bad) end,
      "userapi: vendor 'tessera': unknown field 'error_mesage' (did you mean 'error_message'?)")
  end)

  it("passes the doc check, its LDoc page included", function()
    local out = sim.sh(("cd %s && lua5.4 tools/doccheck.lua --ldoc %s/tessera_vendor.lua; echo rc=$?")
      :format(require("spec.proc").root, dir))
    assert.matches("rc=0%s*$", out)
    assert.matches("4 operations", out)
  end)

  it("refuses a client without its credentials before sending anything", function()
    assert.has_error(function() userapi.tessera{ base_url = srv.base, email = "ops@example.com" } end,
      "userapi.tessera: credentials missing (api_token)")
    assert.same({}, requests())
  end)

  it("checks calls against its table and sends nothing on bad input", function()
    local c = client()
    assert.has_error(function() c:create_person{ name = "No Email" } end,
      "bad argument #1 to 'create_person' (required field 'email' missing)")
    assert.has_error(function() c:list_people{ role = "owner" } end,
      "bad argument #1 to 'list_people' (role: one of admin, member expected, got 'owner')")
    assert.has_error(function() c:get_person("a/b") end,
      "bad argument #1 to 'get_person' (person_id: contains one of / ? # % CR LF NUL)")
    assert.has_error(function() c:list_peopel() end,
      "bad argument #1 to 'list_peopel' (tessera has no operation or method 'list_peopel'; "
      .. "did you mean 'list_people'?)")
    assert.has_error(function() client{ hots = "x" } end,
      "bad argument #1 to 'userapi.tessera' (hots: unknown option (did you mean 'host'?))")
    assert.same({}, requests())
  end)

  it("sends its own Basic auth, its wire names and its JSON body", function()
    local c = client()
    local p = assert(c:create_person{ email = "new@example.com", name = "New", role = "admin" })
    assert.equal("p004", p.id)
    local r = requests()[1]
    assert.same({ "POST", "/api/v3/people" }, { r.method, r.path })
    assert.equal("Basic " .. require("userapi.errors").base64("ops@example.com/token:tessera-TOKEN-4716"),
                 r.authorization)
    assert.same({ email = "new@example.com", name = "New", role = "admin" }, json.decode(r.body))
    assert(c:list_people{ role = "admin", limit = 5, offset = 0 })
    assert.equal("per_page=5&role=admin&start=0", requests()[2].query)
  end)

  it("walks its pages with each_user and pages", function()
    control("/_reset?n=120")
    local c = client()
    local n = 0
    for u in c:each_user() do
      n = n + 1
      assert.equal(string.format("p%03d", n), u.id)
    end
    assert.equal(120, n)
    local queries = {}
    for i, r in ipairs(requests()) do queries[i] = r.query end
    assert.same({ "per_page=50&start=0", "per_page=50&start=50", "per_page=50&start=100" }, queries)
    local sizes = {}
    for i, page, err in c:pages{ limit = 40 } do
      assert.is_nil(err)
      sizes[i] = #page.people
    end
    assert.same({ 40, 40, 40 }, sizes)
  end)

  it("runs bulk calls, each result in input order with its own error", function()
    local c = client()
    local res = c:bulk("get_person", { "p001", "p404", "p003" }, { concurrency = 3 })
    assert.same({ 2, 1 }, { res.ok, res.failed })
    assert.equal("p003@example.com", res[3].value.email)
    assert.equal("tessera get_person: 404 No person with id p404", tostring(res[2].err))
    res = c:bulk("delete_person", { "p001", "p002" })
    assert.same({ 2, 0 }, { res.ok, res.failed })
  end)

  it("returns structured errors carrying its message and code", function()
    local c = client()
    local res, err = c:create_person{ email = "p001@example.com" }
    assert.is_nil(res)
    assert.same({ "tessera", "create_person", 422, "email: already taken", "taken", false },
                { err.vendor, err.operation, err.status, err.message, err.code, err.retryable })
    assert.equal("tessera create_person: 422 email: already taken", tostring(err))
  end)

  it("retries what its policy allows, through the same loop as the four", function()
    control("/_fail?status=503")
    local c = client{ retries = { max = 2, base_ms = 1, max_ms = 2 } }
    assert.truthy(c:get_person("p001"))
    assert.equal(2, #requests())
  end)

  it("redacts its secret, even echoed back as the Basic blob, in message, body and headers", function()
    local c = client{ api_token = "tessera-WRONG-4717" }
    local blob = require("userapi.errors").base64("ops@example.com/token:tessera-WRONG-4717")
    local _, err = c:get_person("p001")
    assert.equal("tessera get_person: 401 bad credentials: you sent Basic [REDACTED]", tostring(err))
    assert.equal("Basic [REDACTED]", err.headers["x-seen-auth"])
    assert.is_nil(err.body:find(blob, 1, true))
    assert.is_nil(err.body:find("tessera-WRONG-4717", 1, true))
  end)
end)
