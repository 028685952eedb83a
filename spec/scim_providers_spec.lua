-- The sequences Okta and Microsoft Entra send when they provision, replayed
-- against the bridge (nginx) in front of the simulator, for each vendor: what
-- reached the vendor and what the provider got back. A vendor that cannot do
-- a step answers the SCIM error the README documents.
local sim = require "spec.helper"
local bridge = require "spec.scim.bridge"

local PATCHOP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
local CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
local ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

-- per vendor: the simulator's name, its write operations, and where a
-- family name or a display name lands (nil: kept by the bridge only)
local VENDORS = {
  opendatasoft = { sim = "ods", create = "invite_users", update = "update_user", delete = "delete_user",
                   family = "last_name", email = true },
  arthur = { sim = "arthur", create = "post_organization_user", update = "patch_user", delete = "delete_user",
             family = "last_name", email = true },
  sigfox = { sim = "sigfox", create = "create_api_user", update = "update_api_user", delete = "delete_api_user",
             timezone = "timezone" },
  kandji = { sim = "kandji", delete = "delete_user" },
}

local function writes(v)
  local out = {}
  for _, r in ipairs(sim.requests()) do
    if r.vendor == v.sim and r.method ~= "GET" then out[#out + 1] = r end
  end
  return out
end

local function decode(body) return require("userapi.json").decode(body) end

describe("provider replays through the SCIM bridge #nginx", function()
  local b

  setup(function() b = bridge.start(2) end)
  teardown(function() b.stop() end)

  local function okta_user(email)
    return { schemas = { CORE }, userName = email, name = { givenName = "Ada", familyName = "Lovelace" },
             emails = { { primary = true, value = email, type = "work" } }, displayName = "Ada Lovelace",
             locale = "en-US", externalId = "00u1okta", groups = {}, active = true }
  end

  for name, v in pairs(VENDORS) do
    describe(name, function()
      before_each(function() bridge.empty() end)

      it("Okta: connection test, userName lookup, create, PUT, deactivation", function()
        -- the connection test: a list of at most two, numbers where numbers belong
        local status, list = b.request("GET", name .. "/Users?startIndex=1&count=2")
        assert.equal(200, status)
        assert.same({ "urn:ietf:params:scim:api:messages:2.0:ListResponse" }, list.schemas)
        assert.equal(0, list.totalResults)
        assert.equal(1, list.startIndex)
        assert.equal(0, list.itemsPerPage)
        assert.same({}, list.Resources)
        status, list = b.request("GET", name .. '/Users?filter=userName%20eq%20%22Ada.L%40Example.com%22'
          .. "&startIndex=1&count=100")
        assert.equal(200, status)
        assert.equal(0, list.totalResults)
        sim.control("DELETE", "requests")
        local created
        status, created = b.request("POST", name .. "/Users", okta_user("ada.l@example.com"))
        if not v.create then
          assert.equal(501, status)
          assert.same({ "urn:ietf:params:scim:api:messages:2.0:Error" }, created.schemas)
          assert.equal("501", created.status)
          assert.matches("directory integration", created.detail)
          assert.same({}, writes(v))
          return
        end
        assert.equal(201, status)
        -- the default log: one line at NOTICE in nginx's error log, without the token
        local log = b.log()
        assert.matches("scim app=" .. name .. " method=POST op=create status=201 vendor_op=" .. v.create
          .. " vendor_status=20%d ms=%d+", log)
        assert.is_nil(log:find(bridge.TOKEN, 1, true))
        local w = writes(v)
        assert.equal(1, #w)
        assert.equal(v.create, w[1].op)
        assert.matches("ada.l@example.com", w[1].body, 1, true)
        assert.equal("ada.l@example.com", created.userName)
        assert.equal("00u1okta", created.externalId)
        assert.is_true(created.active)
        -- the SCIM id is the vendor's id
        local ids = {}
        for _, u in ipairs(sim.state(v.sim).users) do ids[#ids + 1] = u.username or u.id end
        assert.same({ created.id }, ids)
        -- found again by userName, whatever its case
        status, list = b.request("GET", name .. '/Users?filter=userName%20eq%20%22ADA.L%40example.COM%22')
        assert.equal(200, status)
        assert.equal(1, list.totalResults)
        assert.equal(created.id, list.Resources[1].id)
        -- Okta's PUT: the whole user, a new family name and timezone
        sim.control("DELETE", "requests")
        local put = okta_user("ada.l@example.com")
        put.id, put.name.familyName, put.timezone = created.id, "Byron", "Europe/Paris"
        local replaced
        status, replaced = b.request("PUT", name .. "/Users/" .. created.id, put)
        assert.equal(200, status)
        assert.equal("Byron", replaced.name.familyName)
        w = writes(v)
        assert.equal(1, #w)
        assert.equal(v.update, w[1].op)
        local sent = decode(w[1].body)
        if v.family then assert.equal("Byron", sent[v.family]) end
        if v.timezone then assert.equal("Europe/Paris", sent[v.timezone]) end
        assert.equal("Europe/Paris", replaced.timezone)
        -- deactivation: no vendor can disable, so the default refuses with a 400 and sends nothing
        sim.control("DELETE", "requests")
        local refused
        status, refused = b.request("PATCH", name .. "/Users/" .. created.id,
          { schemas = { PATCHOP }, Operations = { { op = "replace", value = { active = false } } } })
        assert.equal(400, status)
        assert.equal("invalidValue", refused.scimType)
        assert.matches("cannot disable", refused.detail)
        assert.same({}, writes(v))
        -- the application configured to delete on deactivation deletes the account
        status = b.request("PATCH", name .. "-delete/Users/" .. created.id,
          { schemas = { PATCHOP }, Operations = { { op = "replace", value = { active = false } } } })
        assert.equal(204, status)
        w = writes(v)
        assert.equal(1, #w)
        assert.equal(v.delete, w[1].op)
        assert.matches(created.id, w[1].path, 1, true)
        assert.equal(404, (b.request("GET", name .. "/Users/" .. created.id)))
      end)

      it("Entra: externalId and userName filters, a filtered emails path, Replace with \"False\"", function()
        local status, list = b.request("GET", name .. '/Users?filter=externalId%20eq%20%22e-1%22')
        assert.equal(200, status)
        assert.equal(0, list.totalResults)
        local user = { schemas = { CORE, ENTERPRISE }, externalId = "e-1", userName = "grace@example.com",
                       active = true, displayName = "Grace Hopper",
                       emails = { { primary = true, type = "work", value = "grace@example.com" } },
                       name = { givenName = "Grace", familyName = "Hopper" },
                       [ENTERPRISE] = { department = "Navy" } }
        local created
        status, created = b.request("POST", name .. "/Users", user)
        if not v.create then
          assert.equal(501, status)
          assert.equal("501", created.status)
          -- an account the directory integration made is found and can be deleted
          sim.reset()
          status, list = b.request("GET", name .. '/Users?filter=userName%20eq%20%22Katherine%40example.com%22')
          assert.equal(200, status)
          assert.equal(1, list.totalResults)
          local id = list.Resources[1].id
          assert.equal("Katherine Johnson", list.Resources[1].displayName)
          status = b.request("PATCH", name .. "/Users/" .. id,
            { schemas = { PATCHOP }, Operations = { { op = "Replace", path = "active", value = "False" } } })
          assert.equal(400, status)
          sim.control("DELETE", "requests")
          assert.equal(204, (b.request("PATCH", name .. "-delete/Users/" .. id,
            { schemas = { PATCHOP }, Operations = { { op = "Replace", path = "active", value = "False" } } })))
          assert.equal(v.delete, writes(v)[1].op)
          return
        end
        assert.equal(201, status)
        assert.equal("Navy", created[ENTERPRISE].department)
        status, list = b.request("GET", name .. '/Users?filter=externalId%20eq%20%22e-1%22')
        assert.equal(200, status)
        assert.equal(1, list.totalResults)
        assert.equal(created.id, list.Resources[1].id)
        status, list = b.request("GET", name .. '/Users?filter=userName%20eq%20%22grace%40example.com%22')
        assert.equal(200, status)
        assert.equal(1, list.totalResults)
        -- Entra changes the work email through a filtered path
        sim.control("DELETE", "requests")
        status = b.request("PATCH", name .. "/Users/" .. created.id, { schemas = { PATCHOP }, Operations = {
          { op = "Replace", path = 'emails[type eq "work"].value', value = "grace.hopper@example.com" },
          { op = "Add", path = 'phoneNumbers[type eq "mobile"].value', value = "+1 555 0100" } } })
        assert.equal(204, status)
        local w = writes(v)
        if v.email then
          assert.equal(1, #w)
          assert.equal("grace.hopper@example.com", decode(w[1].body).email)
        else
          assert.same({}, w) -- Sigfox holds no email: the bridge keeps it
        end
        local got
        status, got = b.request("GET", name .. "/Users/" .. created.id)
        assert.equal(200, status)
        assert.equal("grace.hopper@example.com", got.emails[1].value)
        assert.same({ { type = "mobile", value = "+1 555 0100" } }, got.phoneNumbers)
        -- "False" as Entra sends it: refused by default, a delete where configured
        local refused
        status, refused = b.request("PATCH", name .. "/Users/" .. created.id,
          { schemas = { PATCHOP }, Operations = { { op = "Replace", path = "active", value = "False" } } })
        assert.equal(400, status)
        assert.equal("invalidValue", refused.scimType)
        sim.control("DELETE", "requests")
        assert.equal(204, (b.request("PATCH", name .. "-delete/Users/" .. created.id,
          { schemas = { PATCHOP }, Operations = { { op = "Replace", path = "active", value = "False" } } })))
        w = writes(v)
        assert.equal(1, #w)
        assert.equal(v.delete, w[1].op)
      end)
    end)
  end
end)
