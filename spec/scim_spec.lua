-- userapi.scim's handler called directly (no nginx: the same code the content
-- handler runs), the simulator behind it: tokens, errors, filters, lists,
-- PATCH forms, logging. The provider replays and the conformance run go
-- through nginx (spec/scim_providers_spec.lua, spec/scim_newman_spec.lua).
local sim = require "spec.helper"
local json = require "userapi.json"
local scim = require "userapi.scim"
local apps = require "spec.scim.apps"

local TOKEN = "spec-token-4f1c9a0b"
local PATCHOP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

local dir = sim.sh("mktemp -d /tmp/userapi-scim-spec.XXXXXX")
local token_file = dir .. "/token"
do
  local f = assert(io.open(token_file, "w"))
  f:write(TOKEN, "\n")
  f:close()
  os.execute("chmod 600 " .. token_file)
end

local lines = {}
local function configure(extra)
  local set = apps.apps(sim.url)
  for _, a in pairs(set) do
    a.token_env, a.token_file, a.store = nil, token_file, "memory"
    for k, v in pairs(extra or {}) do a[k] = v end
  end
  scim.configure{ apps = set, log = function(line, fields) lines[#lines + 1] = { line = line, fields = fields } end }
end

local function call(method, path, body, token, args)
  local query = path:match("%?(.*)$")
  path = path:gsub("%?.*$", "")
  args = args or {}
  for k, v in (query or ""):gmatch("([^&=]+)=([^&]*)") do
    args[k] = v:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  end
  local status, text, headers = scim.handle{ method = method, path = "/scim/v2/" .. path, args = args,
    headers = { authorization = "Bearer " .. (token or TOKEN), host = "scim.example.com" },
    body = body and (type(body) == "string" and body or json.encode(body)) or nil }
  return status, text and json.decode(text), headers
end

local function user(name, email, extra)
  local u = { userName = name, name = { givenName = "G" .. name, familyName = "F" .. name },
              emails = { { value = email, type = "work", primary = true } } }
  for k, v in pairs(extra or {}) do u[k] = v end
  return u
end

describe("userapi.scim", function()
  setup(function() configure() end)
  teardown(function() os.execute("rm -rf " .. dir) end)
  before_each(function()
    sim.control("POST", "reset", { empty = true })
    configure() -- a new memory store: each case on an empty tenant
    lines = {}
  end)

  describe("tokens", function()
    it("refuses a missing or wrong token with a SCIM 401, sends nothing, and logs no token", function()
      for _, t in ipairs{ "wrong-token-xxxxxxxx", TOKEN .. "x", "" } do
        local status, body, headers = call("GET", "opendatasoft/Users", nil, t)
        assert.equal(401, status)
        assert.same({ "urn:ietf:params:scim:api:messages:2.0:Error" }, body.schemas)
        assert.equal("401", body.status)
        assert.equal('Bearer realm="scim"', headers["WWW-Authenticate"])
      end
      assert.same({}, sim.requests())
      for _, l in ipairs(lines) do assert.is_nil(l.line:find(TOKEN, 1, true)) end
      -- the scheme's case is free (RFC 7235 §2.1), the token's is not
      for scheme, want in pairs{ BEARER = 200, bearer = 200, Basic = 401 } do
        local status = scim.handle{ method = "GET", path = "/scim/v2/opendatasoft/Users", args = { count = "0" },
          headers = { authorization = scheme .. " " .. TOKEN, host = "scim.example.com" } }
        assert.equal(want, status, scheme)
      end
      assert.equal(401, (call("GET", "opendatasoft/Users", nil, TOKEN:upper())))
    end)

    it("accepts each token of a rotation (token_file as a list), and only those", function()
      local second = dir .. "/token2"
      local f = assert(io.open(second, "w"))
      f:write("second-token-77aa\n")
      f:close()
      os.execute("chmod 600 " .. second)
      configure{ token_file = { token_file, second } }
      assert.equal(200, (call("GET", "kandji/Users?count=0")))
      assert.equal(200, (call("GET", "kandji/Users?count=0", nil, "second-token-77aa")))
      assert.equal(401, (call("GET", "kandji/Users?count=0", nil, "second-token-77ab")))
    end)

    it("takes a token from a private file only", function()
      os.execute("chmod 644 " .. token_file)
      local ok, err = pcall(configure)
      os.execute("chmod 600 " .. token_file)
      assert.is_false(ok)
      assert.matches("group or others may read it", err)
      assert.is_nil(tostring(err):find(TOKEN, 1, true))
    end)

    it("refuses a token_file that is a FIFO at once (nginx's init never waits on it); follows a link", function()
      local fifo, link = dir .. "/fifo", dir .. "/link"
      os.execute(("rm -f %s %s; mkfifo -m 600 %s; ln -s %s %s"):format(fifo, link, fifo, token_file, link))
      -- in a child with a deadline: the old code blocked in io.open until a writer came
      local proc = require "spec.proc"
      local script = proc.file("fifo-token.lua", ([[
        local scim = require "userapi.scim"
        local function app(file)
          return { apps = { ods = { vendor = "opendatasoft", store = "memory", token_file = file,
                                    client = { base_url = "http://127.0.0.1:1", apikey = "k" } } } }
        end
        local ok, err = pcall(scim.configure, app(%q))
        scim.configure(app(%q))
        io.write(tostring(ok), " ", tostring(err))
      ]]):format(fifo, link))
      local r = proc.run(nil, proc.lua_env(), nil, "timeout 10 " .. proc.lua .. " " .. script)
      local out = r.out .. r.err
      assert.truthy(out:find("false bad argument #1 to 'userapi.scim.configure' (token_file " .. fifo
        .. " is not a regular file)", 1, true), out)
      assert.equal(0, r.code, out)
    end)
  end)

  describe("lists", function()
    it("pages from 1 with numbers, count=0 giving only the total", function()
      for i = 1, 3 do
        assert.equal(201, (call("POST", "opendatasoft/Users", user("u" .. i, "u" .. i .. "@example.com"))))
      end
      local status, page = call("GET", "opendatasoft/Users?startIndex=2&count=1")
      assert.equal(200, status)
      assert.equal(3, page.totalResults)
      assert.equal(2, page.startIndex)
      assert.equal(1, page.itemsPerPage)
      assert.equal("u2", page.Resources[1].userName)
      local _, none = call("GET", "opendatasoft/Users?count=0")
      assert.equal(3, none.totalResults)
      assert.equal(0, none.itemsPerPage)
      assert.same({}, none.Resources)
      -- out of range: past the end, or more than the bridge gives
      for _, q in ipairs{ "startIndex=1e300&count=2", "startIndex=99999999999&count=2", "startIndex=4&count=1e300" } do
        local st, far = call("GET", "opendatasoft/Users?" .. q)
        assert.equal(200, st, q)
        assert.equal(3, far.totalResults, q)
        assert.same({}, far.Resources, q)
      end
      for _, q in ipairs{ "startIndex=inf", "count=nan", "count=-inf" } do
        local st, err = call("GET", "opendatasoft/Users?" .. q)
        assert.same({ 400, "invalidValue" }, { st, err.scimType }, q)
      end
    end)

    it("asks the vendor for the one page an unfiltered list needs, where its pages carry a total", function()
      sim.control("POST", "seed", { vendor = "ods", count = 1000 })
      sim.control("POST", "seed", { vendor = "arthur", count = 1000 })
      sim.control("DELETE", "requests")
      local status, page = call("GET", "opendatasoft/Users?startIndex=501&count=100")
      assert.equal(200, status)
      assert.equal(1000, page.totalResults)
      assert.equal(100, page.itemsPerPage)
      local ods501 = sim.control("GET", "state/ods?offset=500&limit=1").users[1]
      assert.equal(ods501.username, page.Resources[1].id)
      local reqs = sim.requests()
      assert.equal(1, #reqs)
      assert.same({ offset = "500", limit = "100" }, reqs[1].args)
      -- Okta's import: pages of 100 from 1, each one vendor page
      sim.control("DELETE", "requests")
      status, page = call("GET", "arthur/Users?startIndex=201&count=100")
      assert.equal(200, status)
      assert.equal(1000, page.totalResults)
      reqs = sim.requests()
      assert.equal(1, #reqs)
      assert.equal("3", reqs[1].args.page)
      assert.equal("100", reqs[1].args.page_size)
      local third = page.Resources[1].id
      -- off a page boundary: the walk gives the same order
      sim.control("DELETE", "requests")
      status, page = call("GET", "arthur/Users?startIndex=200&count=100")
      assert.equal(200, status)
      assert.equal(1000, page.totalResults)
      assert.equal(third, page.Resources[2].id)
      assert.is_true(#sim.requests() >= 1)
      assert.equal("1000", sim.requests()[1].args.page_size)
    end)

    it("cuts resources to attributes, or without excludedAttributes", function()
      call("POST", "arthur/Users", user("ada", "ada@example.com", { title = "Countess" }))
      local _, page = call("GET", "arthur/Users?attributes=userName,name.givenName")
      local r = page.Resources[1]
      assert.equal("ada", r.userName)
      assert.same({ givenName = "Gada" }, r.name)
      assert.is_nil(r.title)
      assert.is_string(r.id)
      _, page = call("GET", "arthur/Users?excludedAttributes=title,emails")
      assert.is_nil(page.Resources[1].title)
      assert.is_nil(page.Resources[1].emails)
      assert.equal("ada", page.Resources[1].userName)
      -- POST answers cut the same way (RFC 7644 §3.9)
      local status, made = call("POST", "arthur/Users?attributes=userName", user("bob", "bob@example.com"))
      assert.equal(201, status)
      assert.equal("bob", made.userName)
      assert.is_string(made.id)
      assert.is_nil(made.emails)
    end)
  end)

  describe("mapping", function()
    it("shows what a vendor holds: Kandji's name, title, department, archived state, its id as SCIM id", function()
      sim.reset()
      local _, page = call("GET", "kandji/Users?filter=" .. 'userName%20eq%20%22ada%40example.com%22')
      assert.equal(1, page.totalResults)
      local ada = page.Resources[1]
      assert.equal("69c009ca-1f78-4bdf-bb93-08d6d39041db", ada.id)
      assert.equal("Ada Lovelace", ada.displayName)
      assert.equal("Analyst", ada.title)
      assert.equal("Engineering", ada["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"].department)
      assert.same({ "urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User" }, ada.schemas)
      assert.is_true(ada.active)
      -- what Kandji holds cannot be changed by PATCH (mutability), what the bridge keeps can
      local PATCHOP_ = { "urn:ietf:params:scim:api:messages:2.0:PatchOp" }
      local status, err = call("PATCH", "kandji/Users/" .. ada.id, { schemas = PATCHOP_,
        Operations = { { op = "replace", path = "displayName", value = "Augusta" } } })
      assert.equal(400, status)
      assert.equal("mutability", err.scimType)
      assert.equal(204, (call("PATCH", "kandji/Users/" .. ada.id, { schemas = PATCHOP_,
        Operations = { { op = "replace", value = { displayName = "Ada Lovelace", externalId = "entra-7" } } } })))
      assert.equal("entra-7", select(2, call("GET", "kandji/Users/" .. ada.id)).externalId)
      local _, charles = call("GET", "kandji/Users/9c3d4e5f-6a7b-4c8d-8e9f-1a2b3c4d5e6f")
      assert.is_false(charles.active)
      assert.equal("User", charles.meta.resourceType)
      assert.equal("http://scim.example.com/scim/v2/kandji/Users/9c3d4e5f-6a7b-4c8d-8e9f-1a2b3c4d5e6f",
                   charles.meta.location)
    end)
  end)

  describe("filters", function()
    before_each(function()
      call("POST", "opendatasoft/Users", user("Ada", "ada@example.com", { title = "Countess", externalId = "E1" }))
      call("POST", "opendatasoft/Users", user("alan", "alan@example.org", { title = "Dr" }))
      call("POST", "opendatasoft/Users", user("grace", "grace@example.com",
        { emails = { { value = "grace@example.com", type = "home" } } }))
    end)

    local function names(filter)
      local q = filter:gsub("[^%w]", function(c) return ("%%%02X"):format(c:byte()) end)
      local status, page = call("GET", "opendatasoft/Users?filter=" .. q)
      assert.equal(200, status, filter .. ": " .. json.encode(page))
      local out = {}
      for _, r in ipairs(page.Resources) do out[#out + 1] = r.userName end
      table.sort(out)
      return out
    end

    it("compares with every operator, attribute names in any case", function()
      assert.same({ "Ada" }, names('USERNAME eq "ada"'))
      assert.same({ "alan", "grace" }, names('userName ne "ada"'))
      assert.same({ "alan" }, names('userName co "a" and emails.value co ".org"'))
      assert.same({ "alan" }, names('userName sw "AL"'))
      assert.same({ "alan" }, names('emails.value ew ".org"'))
      assert.same({ "Ada", "alan" }, names("title pr"))
      assert.same({ "Ada" }, names('externalId eq "E1"'))
      assert.same({}, names('externalId eq "e1"')) -- caseExact (RFC 7643 §3.1)
      assert.same({ "alan", "grace" }, names('userName gt "ada"'))
      assert.same({ "Ada", "alan" }, names('userName le "alan"'))
      assert.same({ "Ada", "grace" }, names('userName lt "alan" or userName ge "b"'))
    end)

    it("combines and, or, not, parentheses and value paths", function()
      assert.same({ "grace" }, names('emails[type eq "home" and value co "grace"]'))
      assert.same({ "Ada", "alan" }, names('not (emails[type eq "home"])'))
      assert.same({ "Ada", "grace" }, names('(userName eq "ada" or userName eq "grace") and not (title eq "Dr")'))
      assert.same({ "alan" }, names('name.familyName eq "Falan"'))
    end)

    it("answers Entra's connection test (userName eq a GUID) from the store, asking the vendor nothing", function()
      sim.control("DELETE", "requests")
      assert.same({}, names('userName eq "5f2a7c1e-8a4b-4f7e-9b1d-3c2e1f0a9b8c"'))
      assert.same({}, sim.requests())
    end)

    it("sends an email lookup to the vendor instead of walking", function()
      sim.control("DELETE", "requests")
      assert.same({ "grace" }, names('emails[value eq "grace@example.com"]'))
      local reqs = sim.requests()
      assert.equal(1, #reqs)
      assert.equal("grace@example.com", reqs[1].args.search)
    end)

    it("answers a filter that does not parse with 400 invalidFilter", function()
      for _, f in ipairs{ "userName eq ada", 'userName xx "a"', '(userName eq "a"', 'emails[type eq "w"' } do
        local q = f:gsub("[^%w]", function(c) return ("%%%02X"):format(c:byte()) end)
        local status, body = call("GET", "opendatasoft/Users?filter=" .. q)
        assert.equal(400, status, f)
        assert.equal("invalidFilter", body.scimType, f)
      end
    end)

    it("answers a filter nested or chained beyond its bounds with 400 invalidFilter, not a 500", function()
      local function list(f)
        local q = f:gsub("[^%w]", function(c) return ("%%%02X"):format(c:byte()) end)
        return call("GET", "opendatasoft/Users?filter=" .. q)
      end
      -- what providers send, nested a little, still answers
      local status, page = list(("("):rep(40) .. 'userName eq "ada"' .. (")"):rep(40))
      assert.equal(200, status)
      assert.equal(1, page.totalResults)
      sim.control("DELETE", "requests")
      local chain = {}
      for i = 1, 8000 do chain[i] = 'userName eq "u' .. i .. '"' end
      for _, f in ipairs{ ("("):rep(8000) .. 'userName eq "ada"' .. (")"):rep(8000),
                          ("not ("):rep(8000) .. 'userName eq "ada"' .. (")"):rep(8000),
                          ("emails["):rep(8000) .. 'value eq "ada@example.com"' .. ("]"):rep(8000),
                          table.concat(chain, " or ") } do
        local body
        status, body = list(f)
        assert.equal(400, status, f:sub(1, 20))
        assert.equal("invalidFilter", body.scimType)
        assert.same({}, sim.requests())
        assert.truthy(body.detail:find("^filter nests deeper than 50 levels") or
                      body.detail:find("^filter has more than 200 comparisons"), body.detail)
      end
    end)
  end)

  describe("PATCH", function()
    local id
    before_each(function()
      local _, u = call("POST", "opendatasoft/Users", user("ada", "ada@example.com"))
      id = u.id
      sim.control("DELETE", "requests")
    end)

    local function patch(ops)
      return call("PATCH", "opendatasoft/Users/" .. id, { schemas = { PATCHOP }, Operations = ops })
    end
    local function get() return select(2, call("GET", "opendatasoft/Users/" .. id)) end

    it("takes op names in any case and value objects without a path, keys being paths too", function()
      assert.equal(204, (patch{ { op = "REPLACE", value = { ["name.givenName"] = "Augusta", nickName = "Ada" } } }))
      local u = get()
      assert.equal("Augusta", u.name.givenName)
      assert.equal("Ada", u.nickName)
      local writes = {}
      for _, r in ipairs(sim.requests()) do if r.method ~= "GET" then writes[#writes + 1] = r end end
      assert.equal(1, #writes)
      assert.equal("update_user", writes[1].op)
      assert.same({ email = "ada@example.com", first_name = "Augusta" }, json.decode(writes[1].body))
    end)

    it("reaches the enterprise extension by a path and inside a value object (Entra's two forms)", function()
      local ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
      assert.equal(204, (patch{
        { op = "Add", path = ENT .. ":department", value = "Research" },
        { op = "Replace", path = ENT .. ":manager", value = { value = "grace" } },
        { op = "Replace", value = { [ENT] = { costCenter = "42" }, ["name.familyName"] = "Byron" } } }))
      local u = get()
      assert.same({ department = "Research", manager = { value = "grace" }, costCenter = "42" }, u[ENT])
      assert.same({ "urn:ietf:params:scim:schemas:core:2.0:User", ENT }, u.schemas)
      assert.equal("Byron", u.name.familyName)
      assert.equal(204, (patch{ { op = "remove", path = ENT .. ":manager" } }))
      assert.is_nil(get()[ENT].manager)
    end)

    it("adds through a filter that matches nothing, and replaces through one that matches", function()
      assert.equal(204, (patch{ { op = "add", path = 'emails[type eq "home"].value', value = "ada@home.org" } }))
      assert.same({ value = "ada@home.org", type = "home" }, get().emails[2])
      assert.equal(204, (patch{ { op = "Replace", path = 'emails[type eq "home"].value', value = "a@home.org" } }))
      assert.equal("a@home.org", get().emails[2].value)
      local status, body = patch{ { op = "replace", path = 'emails[type eq "other"].value', value = "x@y.org" } }
      assert.equal(400, status)
      assert.equal("noTarget", body.scimType)
      assert.equal(204, (patch{ { op = "remove", path = 'emails[type eq "home"]' } }))
      assert.equal(1, #get().emails)
    end)

    it("reads string booleans: \"False\" is a deactivation, refused where the vendor cannot disable", function()
      local status, body = patch{ { op = "Replace", path = "active", value = "False" } }
      assert.equal(400, status)
      assert.equal("invalidValue", body.scimType)
      for _, r in ipairs(sim.requests()) do assert.equal("GET", r.method) end -- nothing written
    end)

    it("refuses a deactivation before writing anything else the request changes", function()
      local put = user("ada", "ada@example.com", { active = false })
      put.name.familyName = "Byron"
      local status, body = call("PUT", "opendatasoft/Users/" .. id, put)
      assert.equal(400, status)
      assert.equal("invalidValue", body.scimType)
      for _, r in ipairs(sim.requests()) do assert.equal("GET", r.method) end
      assert.equal("Fada", get().name.familyName)
    end)

    it("a value the vendor's operation cannot take (100 KB givenName) is 400 invalidValue, nothing sent", function()
      local status, body = patch{ { op = "replace", path = "name.givenName", value = ("x"):rep(100000) } }
      assert.same({ 400, "invalidValue" }, { status, body.scimType })
      assert.truthy(body.detail:find("first_name: longer than 8192 bytes", 1, true), body.detail)
      local function writes()
        local w = {}
        for _, r in ipairs(sim.requests()) do if r.method ~= "GET" then w[#w + 1] = r.method .. " " .. r.path end end
        return w
      end
      assert.same({}, writes())
      -- an id longer than a vendor path takes: 400, not a 500
      status = call("DELETE", "opendatasoft/Users/" .. ("a"):rep(5000))
      assert.equal(400, status)
      assert.same({}, writes())
    end)

    it("refuses a bad PatchOp with invalidSyntax and a read-only path with mutability", function()
      assert.equal("invalidSyntax", select(2, patch{ { op = "move", path = "title", value = "x" } }).scimType)
      local _, body = call("PATCH", "opendatasoft/Users/" .. id, { schemas = { PATCHOP } })
      assert.equal("invalidSyntax", body.scimType)
      assert.equal("mutability", select(2, patch{ { op = "replace", path = "id", value = "x" } }).scimType)
    end)
  end)

  describe("vendor errors", function()
    it("maps a throttled or failing vendor to 503 with Retry-After", function()
      sim.fault{ match = { vendor = "ods" }, status = 429, headers = { ["Retry-After"] = "7" } }
      local status, body, headers = call("GET", "opendatasoft/Users")
      assert.equal(503, status)
      assert.equal("503", body.status)
      assert.equal("7", headers["Retry-After"])
      sim.fault{ match = { vendor = "arthur" }, status = 503 }
      status, body, headers = call("GET", "arthur/Users")
      assert.equal("503", body.status)
      assert.equal(503, status)
      assert.is_string(headers["Retry-After"])
    end)

    it("maps a vendor's conflict to 409 uniqueness", function()
      sim.fault{ match = { vendor = "arthur", op = "post_organization_user" }, status = 409,
                 body = json.encode{ detail = "User with email ada@example.com already exists." } }
      local status, body = call("POST", "arthur/Users", user("ada", "ada@example.com"))
      assert.equal(409, status)
      assert.equal("uniqueness", body.scimType)
      assert.equal("arthur refused: User with email ada@example.com already exists.", body.detail)
    end)

    it("maps a refusal to 400 invalidValue, the vendor's message redacted", function()
      sim.fault{ match = { vendor = "ods", op = "invite_users" }, status = 400,
                 body = json.encode{ error_code = "validation_error", message = "bad key ods-test-key" } }
      local status, body = call("POST", "opendatasoft/Users", user("ada", "ada@example.com"))
      assert.equal(400, status)
      assert.equal("invalidValue", body.scimType)
      assert.matches("[REDACTED]", body.detail, 1, true)
      assert.is_nil(body.detail:find("ods-test-key", 1, true))
    end)

    it("answers 404 for an unknown id, 409 uniqueness for a taken userName or email, 501 where nothing is created",
      function()
      assert.equal(404, (call("GET", "opendatasoft/Users/nobody")))
      assert.equal(404, (call("GET", "opendatasoft/Users/a/b")))
      assert.equal(404, (call("DELETE", "opendatasoft/Users/a%2fb")))
      assert.equal(404, (call("DELETE", "sigfox/Users/5f3a9c1e2b4d6f8a0c1e2bff")))
      call("POST", "opendatasoft/Users", user("ada", "ada@example.com"))
      local status, body = call("POST", "opendatasoft/Users", user("ADA", "other@example.com"))
      assert.equal(409, status)
      assert.equal("uniqueness", body.scimType)
      status, body = call("POST", "opendatasoft/Users", user("other", "ada@example.com"))
      assert.equal(409, status)
      assert.equal("uniqueness", body.scimType)
      status, body = call("POST", "kandji/Users", user("k", "k@example.com"))
      assert.equal(501, status)
      assert.equal("501", body.status)
    end)
  end)

  describe("logging", function()
    it("logs one line per request: app, method, op, vendor status, duration; false silences it", function()
      call("GET", "arthur/Users?count=0")
      assert.equal(1, #lines)
      local f = lines[1].fields
      assert.equal("arthur", f.app)
      assert.equal("GET", f.method)
      assert.equal("list", f.op)
      assert.equal(200, f.vendor_status)
      assert.is_number(f.ms)
      assert.matches("^scim app=arthur method=GET op=list status=200 vendor_op=get_organization_users "
        .. "vendor_status=200 ms=%d+$", lines[1].line)
      -- a failed operation is named too, with the vendor's status
      lines = {}
      sim.fault{ match = { vendor = "arthur" }, status = 503 }
      call("GET", "arthur/Users?count=0")
      assert.matches("^scim app=arthur method=GET op=list status=503 vendor_op=get_organization_users "
        .. "vendor_status=503 ms=%d+$", lines[1].line)
      lines = {}
      configure{ log = false }
      call("GET", "arthur/Users?count=0")
      assert.same({}, lines)
    end)
  end)

  describe("requests a worker interleaves", function()
    it("each names its own Host in Location and meta.location, whatever ran during its vendor call", function()
      local function on(host, method, path, body)
        local status, text, headers = scim.handle{ method = method, path = "/scim/v2/" .. path, args = {},
          headers = { authorization = "Bearer " .. TOKEN, host = host }, body = body and json.encode(body) }
        return status, text and json.decode(text), headers
      end
      -- another provider's list, run while the create waits on the vendor (as nginx runs it at the yield)
      local between, inner
      local set = apps.apps(sim.url)
      for _, a in pairs(set) do a.token_env, a.token_file, a.store = nil, token_file, "memory" end
      set.opendatasoft.client.on_request = function()
        if between then
          between = false
          inner = select(2, on("b.example.net", "GET", "opendatasoft/Users"))
        end
      end
      scim.configure{ apps = set, log = false }
      between = true
      local status, u, headers = on("a.example.com", "POST", "opendatasoft/Users", user("ada", "ada@example.com"))
      assert.equal(201, status)
      assert.is_false(between)
      assert.equal("http://a.example.com/scim/v2/opendatasoft/Users/" .. u.id, headers.Location)
      assert.equal(headers.Location, u.meta.location)
      for _, r in ipairs(inner.Resources) do
        assert.truthy(r.meta.location:find("^http://b%.example%.net/scim/v2/opendatasoft/Users/"), r.meta.location)
      end
    end)
  end)
end)
