-- A fifth vendor gets SCIM from its vendor table alone: Tessera (the made-up
-- vendor of spec/fifth_vendor_spec.lua, served by its stand-in server) with a
-- `people` block and its `people.scim` mapping, registered, then configured
-- as a SCIM application. No line of the bridge knows it.
local sim = require "spec.helper"
local json = require "userapi.json"
local userapi = require "userapi"
local scim = require "userapi.scim"

local fifth = loadfile("spec/fifth_vendor_spec.lua")("fifth")
local TOKEN = "fifth-vendor-scim-token"

-- what Tessera adds to become a person's vendor and a SCIM application
local PEOPLE = {
  lookup = { email = { op = "list_people" }, id = { op = "get_person" } },
  normalize = function(p) return { id = p.id, email = p.email, name = p.name, kind = p.role } end,
  fields = { name = "string" },
  create = { { op = "create_person", action = "created",
               body = function(s) return { email = s.email, name = s.name } end } },
  cannot_update = "Tessera people cannot be changed through its API",
  delete = { op = "delete_person" },
  scim = { attributes = { { "displayName", "name" } } },
}

describe("SCIM for a fifth vendor, from its mapping alone", function()
  local srv, dir

  local function server(path)
    local status, body = sim.session:request{ method = "POST", url = srv.url .. path }
    assert(status == 200, tostring(body))
    return json.decode(body)
  end

  local function call(method, path, body, args)
    local status, text = scim.handle{ method = method, path = "/scim/v2/tessera/" .. path, args = args or {},
      headers = { authorization = "Bearer " .. TOKEN }, body = body and json.encode(body) }
    return status, text and json.decode(text)
  end

  setup(function()
    srv = fifth.start()
    dir = sim.sh("mktemp -d /tmp/userapi-scim-fifth.XXXXXX")
    local vendor = dofile(fifth.write_module(dir))
    vendor.people = PEOPLE
    userapi.register(vendor)
    local f = assert(io.open(dir .. "/token", "w"))
    f:write(TOKEN)
    f:close()
    os.execute("chmod 600 " .. dir .. "/token")
    local client = { base_url = srv.base, retries = false }
    for k, v in pairs(srv.creds) do client[k] = v end
    scim.configure{ apps = { tessera = { vendor = "tessera", client = client, token_file = dir .. "/token",
                                         store = "memory" } }, log = false }
  end)
  teardown(function()
    srv.stop()
    os.execute("rm -rf " .. dir)
  end)
  before_each(function() server("/_reset?n=0") end)

  it("creates, finds, reads and deletes through the vendor's own operations", function()
    local status, u = call("POST", "Users", { userName = "ada@example.com", displayName = "Ada Lovelace",
                                              externalId = "okta-1" })
    assert.equal(201, status)
    assert.equal("p001", u.id)
    assert.equal("Ada Lovelace", u.displayName)
    assert.equal("okta-1", u.externalId)
    local reqs = server("/_requests")
    local post = reqs[#reqs]
    assert.equal("POST", post.method)
    assert.same({ email = "ada@example.com", name = "Ada Lovelace" }, json.decode(post.body))
    local _, page = call("GET", "Users", nil, { filter = 'userName eq "ADA@example.com"' })
    assert.equal(1, page.totalResults)
    assert.equal("p001", page.Resources[1].id)
    assert.equal(200, (call("GET", "Users/p001")))
    assert.equal(204, (call("DELETE", "Users/p001")))
    reqs = server("/_requests")
    assert.equal("DELETE", reqs[#reqs].method)
    assert.equal("/api/v3/people/p001", reqs[#reqs].path)
    assert.equal(404, (call("GET", "Users/p001")))
  end)

  it("says what it cannot do: its attributes readOnly in Schemas, a PATCH of one refused (mutability)", function()
    local _, u = call("POST", "Users", { userName = "ada@example.com", displayName = "Ada" })
    local status, err = call("PATCH", "Users/" .. u.id, {
      schemas = { "urn:ietf:params:scim:api:messages:2.0:PatchOp" },
      Operations = { { op = "replace", path = "displayName", value = "Augusta" } } })
    assert.equal(400, status)
    assert.equal("mutability", err.scimType)
    assert.equal("displayName is tessera's and cannot be changed through its API", err.detail)
    local _, schema = call("GET", "Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
    for _, a in ipairs(schema.attributes) do
      if a.name == "displayName" then assert.equal("readOnly", a.mutability) end
      if a.name == "title" then assert.equal("readWrite", a.mutability) end -- kept by the bridge
    end
  end)
end)
