-- Sigfox (API v2, api-users): the API users operations through real libcurl to
-- the simulator, asserting the request on the wire, the result, the state
-- change and the errors (profiles and credentials: sigfox_profiles_spec.lua).
local sim = require "spec.helper"
local json = require "userapi.json"
local userapi = require "userapi"

local S = require "spec.sigfox_helper"
local API, ADA, ALAN, GRACE, NOT_FOUND = S.API, S.ADA, S.ALAN, S.GRACE, S.NOT_FOUND
local SIGFOX_GROUP, ACME_GROUP, SNO, READER, ADMIN = S.SIGFOX_GROUP, S.ACME_GROUP, S.SNO, S.READER, S.ADMIN
local GROUP_FIELDS, PROFILE_FIELDS = S.GROUP_FIELDS, S.PROFILE_FIELDS
local applied, stored, profile_ids = S.applied, S.stored, S.profile_ids
local assert_headers, refused, assert_error = S.assert_headers, S.refused, S.assert_error
local only_request = sim.only_request

describe("sigfox", function()
  local sigfox

  before_each(function()
    sim.reset()
    sigfox = sim.client("sigfox")
  end)

  describe("list_api_users", function()
    it("GETs /api-users/ with the slash and no query by default, and lists the three seeded users", function()
      local page = assert(sigfox:list_api_users())
      local r = only_request()
      assert.equal("GET", r.method)
      assert.equal(API .. "/", r.path)
      assert.equal("", r.query)
      assert.equal("", r.body)
      assert_headers(r, nil)
      assert.equal(3, #page.data)
      local ada = page.data[1]
      assert.equal(ADA, ada.id)
      assert.equal("ada@example.com automation", ada.name)
      assert.equal("Europe/London", ada.timezone)
      assert.equal(1435579813762, ada.creationTime)
      assert.equal("b00c92a71b3b8dfa1fc236d90b50aeb3", ada.accessToken)
      assert.same({ id = SIGFOX_GROUP }, ada.group)
      assert.same({ { id = SNO } }, ada.profiles)
      assert.equal(ALAN, page.data[2].id)
      assert.equal(GRACE, page.data[3].id)
      assert.is_nil(page.paging.next)   -- left out on the last page
    end)

    it("sends profile_id as profileId, group_ids comma-joined as groupIds, fields encoded, keys sorted", function()
      local page = assert(sigfox:list_api_users{ fields = PROFILE_FIELDS, profile_id = READER,
        group_ids = { SIGFOX_GROUP, ACME_GROUP }, limit = 1, offset = 0 })
      local r = only_request()
      assert.equal(API .. "/", r.path)
      assert.equal("fields=profiles%28name%2Croles%28name%2Cperms%28name%29%29%29" ..
        "&groupIds=" .. SIGFOX_GROUP .. "%2C" .. ACME_GROUP ..
        "&limit=1&offset=0&profileId=" .. READER, r.query)
      assert.same({ fields = PROFILE_FIELDS, profileId = READER, groupIds = SIGFOX_GROUP .. "," .. ACME_GROUP,
                    limit = "1", offset = "0" }, r.args)
      -- Alan and Grace hold READER; the first page of one is Alan, with a link to the next
      assert.equal(1, #page.data)
      assert.equal(ALAN, page.data[1].id)
      assert.same({ { id = READER, name = "Device messages only",
                      roles = { { name = "READER", perms = { { name = "MESSAGE_READ" } } } } } },
                  page.data[1].profiles)
      assert.matches("/sigfox/v2/api%-users/%?.*offset=1", page.paging.next)
    end)

    it("sends the group fields selector percent-encoded and returns the full group", function()
      local page = assert(sigfox:list_api_users{ fields = GROUP_FIELDS, group_ids = ACME_GROUP })
      assert.equal("fields=group%28name%2Ctype%2Clevel%2CbssId%2CcustomerBssId%29&groupIds=" .. ACME_GROUP,
                   only_request().query)
      assert.equal(1, #page.data)
      assert.equal(GRACE, page.data[1].id)
      assert.same({ id = ACME_GROUP, name = "Acme Devices", type = 2, level = 2, bssId = "ACME-001",
                    customerBssId = "C-42" }, page.data[1].group)
    end)

    it("returns a 400 error whose message lists the vendor's errors", function()
      sim.fault{ match = { path = API .. "/" }, status = 400, body = { message = "bad request", errors = {
        { type = "query", field = "limit", message = "must be between 1 and 100" },
        { type = "query", field = "offset", message = "must be greater than or equal to 0" } } } }
      local page, err = sigfox:list_api_users{ limit = 100 }
      assert.is_nil(page)
      assert_error(err, { operation = "list_api_users", status = 400, message =
        "bad request; limit: must be between 1 and 100; offset: must be greater than or equal to 0" })
    end)

    it("returns a retryable error on 429 (retries disabled here)", function()
      sim.fault{ match = { path = API .. "/" }, status = 429 }
      local page, err = sigfox:list_api_users()
      assert.is_nil(page)
      assert_error(err, { operation = "list_api_users", status = 429, message = "too many requests",
                          retryable = true })
    end)

    it("refuses fields outside its enum and sends nothing", function()
      refused(function() sigfox:list_api_users{ fields = "group" } end,
        "bad argument #1 to 'list_api_users' (fields: one of " .. GROUP_FIELDS .. ", " .. PROFILE_FIELDS ..
        " expected, got 'group')")
    end)

    it("refuses limit outside 1..100 and a negative offset, and sends nothing", function()
      refused(function() sigfox:list_api_users{ limit = 0 } end,
        "bad argument #1 to 'list_api_users' (limit: out of range 1..100, got 0)")
      refused(function() sigfox:list_api_users{ limit = 101 } end,
        "bad argument #1 to 'list_api_users' (limit: out of range 1..100, got 101)")
      refused(function() sigfox:list_api_users{ limit = "10" } end,
        "bad argument #1 to 'list_api_users' (limit: integer expected, got string)")
      refused(function() sigfox:list_api_users{ offset = -1 } end,
        "bad argument #1 to 'list_api_users' (offset: out of range 0.., got -1)")
    end)

    it("refuses an unknown query parameter, the wire name included, and sends nothing", function()
      refused(function() sigfox:list_api_users{ authorizations = true } end,
        "bad argument #1 to 'list_api_users' (unknown parameter 'authorizations')")
      refused(function() sigfox:list_api_users{ profileId = READER } end,
        "bad argument #1 to 'list_api_users' (unknown parameter 'profileId')")
      refused(function() sigfox:list_api_users{ group_ids = { SIGFOX_GROUP, 7 } } end,
        "bad argument #1 to 'list_api_users' (group_ids[2]: string expected, got integer)")
    end)
  end)

  describe("create_api_user", function()
    local NEW = { groupId = SIGFOX_GROUP, name = "Test only", timezone = "Europe/Paris", profileIds = { SNO } }

    it("POSTs ApiUserCreation to /api-users/ and returns the new id from the 201", function()
      local res = assert(sigfox:create_api_user(NEW))
      local r = only_request()
      assert.equal("POST", r.method)
      assert.equal(API .. "/", r.path)
      assert.equal("", r.query)
      assert_headers(r, "application/json")
      assert.same(NEW, json.decode(r.body))
      assert.equal(201, r.status)
      assert.matches("^%x+$", res.id)
      assert.equal(24, #res.id)
      local u = stored(res.id)
      assert.equal("Test only", u.name)
      assert.equal("Europe/Paris", u.timezone)
      assert.equal(SIGFOX_GROUP, u.group.id)
      assert.same({ SNO }, profile_ids(u))
      assert.equal(4, sim.state("sigfox").count)
      assert.equal(1, applied("create_api_user"))
    end)

    it("accepts a name of exactly 100 characters", function()
      local long = string.rep("n", 100)
      local res = assert(sigfox:create_api_user{ groupId = ACME_GROUP, name = long, timezone = "UTC",
                                                 profileIds = { READER, ADMIN } })
      assert.equal(long, stored(res.id).name)
    end)

    it("returns a 400 error naming the field for an unknown group", function()
      local res, err = sigfox:create_api_user{ groupId = "000000000000000000000000", name = "x",
                                               timezone = "Europe/Paris", profileIds = { SNO } }
      assert.is_nil(res)
      assert_error(err, { operation = "create_api_user", status = 400,
                          message = "bad request; groupId: unknown group" })
      assert.same({ type = "body", field = "groupId", message = "unknown group" }, json.decode(err.body).errors[1])
      assert.equal(3, sim.state("sigfox").count)
      assert.is_nil(applied("create_api_user"))
    end)

    it("returns a 400 error for a field the vendor does not permit", function()
      local res, err = sigfox:create_api_user{ groupId = SIGFOX_GROUP, name = "x", timezone = "UTC",
                                               profileIds = { SNO }, email = "x@example.com" }
      assert.is_nil(res)
      assert_error(err, { operation = "create_api_user", status = 400,
                          message = "bad request; email: extra fields not permitted" })
    end)

    it("refuses a body without groupId, name, timezone or profileIds, and sends nothing", function()
      for _, field in ipairs({ "groupId", "name", "timezone", "profileIds" }) do
        local body = {}
        for k, v in pairs(NEW) do if k ~= field then body[k] = v end end
        refused(function() sigfox:create_api_user(body) end,
          "bad argument #1 to 'create_api_user' (required field '" .. field .. "' missing)")
      end
    end)

    it("refuses a name over 100 characters and a profileIds that is not a list, and sends nothing", function()
      refused(function()
        sigfox:create_api_user{ groupId = SIGFOX_GROUP, name = string.rep("n", 101), timezone = "UTC",
                                profileIds = { SNO } }
      end, "name: longer than 100 bytes", true)
      refused(function()
        sigfox:create_api_user{ groupId = SIGFOX_GROUP, name = "x", timezone = "UTC", profileIds = { a = SNO } }
      end, "profileIds: array of strings expected", true)
    end)
  end)

  describe("get_api_user", function()
    it("GETs /api-users/{id} without a trailing slash and returns the seeded user", function()
      local u = assert(sigfox:get_api_user(GRACE))
      local r = only_request()
      assert.equal("GET", r.method)
      assert.equal(API .. "/" .. GRACE, r.path)
      assert.equal("", r.query)
      assert_headers(r, nil)
      assert.equal(GRACE, u.id)
      assert.equal("grace@example.com ops", u.name)
      assert.equal("America/New_York", u.timezone)
      assert.equal(1435579813764, u.creationTime)
      assert.same({ id = ACME_GROUP }, u.group)
      assert.same({ READER, ADMIN }, profile_ids(u))
    end)

    it("sends fields percent-encoded and returns the expanded group", function()
      local u = assert(sigfox:get_api_user(ADA, { fields = GROUP_FIELDS }))
      assert.equal("fields=group%28name%2Ctype%2Clevel%2CbssId%2CcustomerBssId%29", only_request().query)
      assert.equal("SIGFOX_Group", u.group.name)
      assert.equal(0, u.group.type)
      assert.equal(1, u.group.level)
      assert.equal("SIGFOX", u.group.bssId)
      assert.equal(userapi.null, u.group.customerBssId)
    end)

    it("returns a 404 error for an unknown id", function()
      local u, err = sigfox:get_api_user("000000000000000000000000")
      assert.is_nil(u)
      assert_error(err, { operation = "get_api_user", status = 404, message = NOT_FOUND })
      assert.equal("sigfox get_api_user: 404 The requested resource was not found.", tostring(err))
    end)

    it("refuses ids with / ? # % CR LF and sends nothing", function()
      for _, id in ipairs({ ADA .. "/profiles", ADA .. "?x=1", ADA .. "#x", "%2e%2e", ADA .. "\r", ADA .. "\n" }) do
        refused(function() sigfox:get_api_user(id) end,
          "bad argument #1 to 'get_api_user' (id: contains one of / ? # % CR LF NUL)")
      end
      refused(function() sigfox:get_api_user("..") end,
        "bad argument #1 to 'get_api_user' (id: a non-empty id expected)")
    end)

    it("refuses too many arguments and an unknown query parameter, and sends nothing", function()
      refused(function() sigfox:get_api_user(ADA, { fields = GROUP_FIELDS }, true) end,
        "bad argument #3 to 'get_api_user' (no more than 2 arguments expected)")
      refused(function() sigfox:get_api_user(ADA, { limit = 1 }) end,
        "bad argument #2 to 'get_api_user' (unknown parameter 'limit')")
    end)
  end)

  describe("update_api_user", function()
    it("PUTs only the given properties to /api-users/{id} and returns true on 204", function()
      assert.is_true(sigfox:update_api_user(ALAN, { name = "Device messages only", profileIds = { READER, SNO } }))
      local r = only_request()
      assert.equal("PUT", r.method)
      assert.equal(API .. "/" .. ALAN, r.path)
      assert.equal("", r.query)
      assert_headers(r, "application/json")
      assert.same({ name = "Device messages only", profileIds = { READER, SNO } }, json.decode(r.body))
      assert.equal(204, r.status)
      local u = stored(ALAN)
      assert.equal("Device messages only", u.name)
      assert.equal("Europe/Paris", u.timezone)   -- untouched
      assert.same({ READER, SNO }, profile_ids(u))
      assert.equal(1, applied("update_api_user"))
    end)

    it("sends an empty profileIds list as a JSON array", function()
      assert.is_true(sigfox:update_api_user(ADA, { profileIds = {} }))
      assert.equal('{"profileIds":[]}', only_request().body)
    end)

    it("returns a 404 error for an unknown id", function()
      local ok, err = sigfox:update_api_user("000000000000000000000000", { name = "x" })
      assert.is_nil(ok)
      assert_error(err, { operation = "update_api_user", status = 404, message = NOT_FOUND })
      assert.is_nil(applied("update_api_user"))
    end)

    it("returns a 400 error naming the field for an invalid timezone", function()
      local ok, err = sigfox:update_api_user(ADA, { timezone = "Mars" })
      assert.is_nil(ok)
      assert_error(err, { operation = "update_api_user", status = 400,
                          message = "bad request; timezone: invalid timezone" })
      assert.equal("Europe/London", stored(ADA).timezone)
    end)

    it("refuses a name over 100 characters and a missing body, and sends nothing", function()
      refused(function() sigfox:update_api_user(ADA, { name = string.rep("n", 101) }) end,
        "name: longer than 100 bytes", true)
      refused(function() sigfox:update_api_user(ADA) end,
        "bad argument #2 to 'update_api_user' (table expected, got nil)")
    end)
  end)

  describe("delete_api_user", function()
    it("DELETEs /api-users/{id}, returns true on 204 and the user is gone", function()
      assert.is_true(sigfox:delete_api_user(ALAN))
      local r = only_request()
      assert.equal("DELETE", r.method)
      assert.equal(API .. "/" .. ALAN, r.path)
      assert.equal("", r.query)
      assert.equal("", r.body)
      assert_headers(r, nil)
      assert.equal(204, r.status)
      assert.is_nil(stored(ALAN))
      assert.equal(2, sim.state("sigfox").count)
      assert.equal(1, applied("delete_api_user"))
    end)

    it("returns a 404 error the second time", function()
      assert.is_true(sigfox:delete_api_user(ALAN))
      local ok, err = sigfox:delete_api_user(ALAN)
      assert.is_nil(ok)
      assert_error(err, { operation = "delete_api_user", status = 404, message = NOT_FOUND })
      assert.equal(1, applied("delete_api_user"))
    end)

    it("refuses parameters and too many arguments, and sends nothing", function()
      refused(function() sigfox:delete_api_user(ALAN, {}) end,
        "bad argument #2 to 'delete_api_user' (no parameters expected)")
      refused(function() sigfox:delete_api_user(ALAN, nil, ALAN) end,
        "bad argument #3 to 'delete_api_user' (no more than 2 arguments expected)")
    end)
  end)

  describe("with a wrong password", function()
    it("returns a 401 error that shows the password nowhere", function()
      local secret = "wrong-sigfox-pass-77"
      local bad = sim.client("sigfox", { password = secret })
      local page, err = bad:list_api_users()
      assert.is_nil(page)
      assert_error(err, { operation = "list_api_users", status = 401, message = "Unauthorized" })
      assert.equal(1, err.attempts)
      for _, s in ipairs({ tostring(err), err.message, err.body }) do
        assert.is_nil(s:find(secret, 1, true))
      end
    end)
  end)
end)
