-- Arthur (platform API, UsersV1): the users operations through real libcurl to
-- the simulator, asserting the request on the wire, the result, the state
-- change and the errors. Service accounts, invitations and credentials are in
-- arthur_accounts_spec.lua, the token providers in arthur_auth_spec.lua.
local sim = require "spec.helper"
local json = require "userapi.json"
local userapi = require "userapi"

local A = require "spec.arthur_helper"
local API, GRACE, ADA, ALAN, SA, KATHERINE = A.API, A.GRACE, A.ADA, A.ALAN, A.SA, A.KATHERINE
local ORG_ID, UUID = A.ORG_ID, A.UUID
local applied, assert_headers, refused, assert_error = A.applied, A.assert_headers, A.refused, A.assert_error
local only_request = sim.only_request

describe("arthur", function()
  local arthur

  before_each(function()
    sim.reset()
    arthur = sim.client("arthur")
  end)

  describe("get_users_me", function()
    it("GETs /api/v1/users/me with the bearer token and returns the caller, Grace Hopper", function()
      local me = assert(arthur:get_users_me())
      local r = only_request()
      assert.equal("GET", r.method)
      assert.equal(API .. "/users/me", r.path)
      assert.equal("", r.query)
      assert.equal("", r.body)
      assert_headers(r)
      assert.is_nil(r.headers["content-type"])
      assert.equal(GRACE, me.id)
      assert.equal("Grace", me.first_name)
      assert.equal("Hopper", me.last_name)
      assert.equal("grace@example.com", me.email)
      assert.equal("user", me.user_type)
      assert.equal(ORG_ID, me.organization_id)
      assert.equal("Acme Analytics", me.organization_name)
      assert.equal(userapi.null, me.picture)
      assert.equal("2025-01-02T03:04:05.000000Z", me.created_at)
    end)

    it("returns a 500 error whose message is the vendor's detail, not retryable", function()
      sim.fault{ match = { path = API .. "/users/me" }, status = 500 }
      local me, err = arthur:get_users_me()
      assert.is_nil(me)
      assert_error(err, { operation = "get_users_me", status = 500, message = "Internal server error" })
      assert.equal(1, err.attempts)
    end)

    it("refuses any argument and sends nothing", function()
      refused(function() arthur:get_users_me({}) end,
        "bad argument #1 to 'get_users_me' (no parameters expected)")
    end)
  end)

  describe("accept_my_invites", function()
    it("POSTs /api/v1/users/me/accept-invite with an empty body and returns true on 204", function()
      assert.is_true(arthur:accept_my_invites())
      local r = only_request()
      assert.equal("POST", r.method)
      assert.equal(API .. "/users/me/accept-invite", r.path)
      assert.equal("", r.query)
      assert.equal("", r.body)
      assert.equal("0", r.headers["content-length"])
      assert_headers(r)
      assert.equal(204, r.status)
      assert.equal(1, applied("accept_my_invites"))
    end)

    it("sends its bodiless POST without a Content-Type, as the vendor's client does", function()
      arthur:accept_my_invites()
      -- libcurl adds "application/x-www-form-urlencoded" to a POST unless told not to
      assert.is_nil(only_request().headers["content-type"])
    end)

    it("returns a 400 error with the vendor's detail and applies nothing", function()
      sim.fault{ match = { path = API .. "/users/me/accept%-invite" }, status = 400 }
      local ok, err = arthur:accept_my_invites()
      assert.is_nil(ok)
      assert_error(err, { operation = "accept_my_invites", status = 400, message = "Bad Request" })
      assert.equal('{"detail":"Bad Request"}', err.body)
      assert.is_nil(applied("accept_my_invites"))
    end)
  end)

  describe("get_organization_users", function()
    it("sends sort, order, page, page_size and repeated user_types keys in a sorted query", function()
      local page = assert(arthur:get_organization_users{
        sort = "email", order = "asc", user_types = { "user", "data_plane" }, page = 1, page_size = 2 })
      local r = only_request()
      assert.equal("GET", r.method)
      assert.equal(API .. "/organization/users", r.path)
      assert.equal("order=asc&page=1&page_size=2&sort=email&user_types=user&user_types=data_plane", r.query)
      assert.same({ "user", "data_plane" }, r.args.user_types)
      assert_headers(r)
      assert.equal("", r.body)
      assert.same({ page = 1, page_size = 2, total_pages = 3, total_records = 5 }, page.pagination)
      assert.equal(2, #page.records)
      assert.equal("ada@example.com", page.records[1].email)
      assert.equal(ADA, page.records[1].id)
      assert.equal("Lovelace", page.records[1].last_name)
      assert.equal("alan@example.com", page.records[2].email)
      assert.equal("https://example.com/alan.png", page.records[2].picture)
    end)

    it("sends user_ids as repeated keys and search percent-encoded", function()
      local page = assert(arthur:get_organization_users{ search = "Ada Lovelace", user_ids = { ADA, ALAN } })
      local r = only_request()
      assert.equal("search=Ada%20Lovelace&user_ids=" .. ADA .. "&user_ids=" .. ALAN, r.query)
      assert.same({ ADA, ALAN }, r.args.user_ids)
      assert.equal(1, #page.records)
      assert.equal("Ada", page.records[1].first_name)
      assert.equal(1, page.pagination.total_records)
    end)

    it("sends no query by default and lists users and service accounts, not the data plane user", function()
      local page = assert(arthur:get_organization_users())
      assert.equal("", only_request().query)
      assert.same({ GRACE, ADA, ALAN, SA, KATHERINE }, sim.pluck(page.records, "id"))
      assert.equal("service_account", page.records[4].user_type)
      assert.equal("arthur-client", page.records[4].client_id)
      assert.equal(userapi.null, page.records[4].last_name)
      assert.same({ page = 1, page_size = 20, total_pages = 1, total_records = 5 }, page.pagination)
    end)

    it("returns a 422 error naming each location of the vendor's detail list", function()
      sim.fault{ match = { path = API .. "/organization/users" }, status = 422, body = { detail = {
        { loc = { "query", "page_size" }, msg = "ensure this value is less than or equal to 1000",
          type = "value_error.number.not_le" },
        { loc = { "query", "user_types", 0 }, msg = "value is not a valid enumeration member",
          type = "type_error.enum" } } } }
      local page, err = arthur:get_organization_users{ page_size = 1000 }
      assert.is_nil(page)
      assert_error(err, { operation = "get_organization_users", status = 422, message =
        "query.page_size: ensure this value is less than or equal to 1000; " ..
        "query.user_types.0: value is not a valid enumeration member" })
    end)

    it("returns a retryable error on 503 (retries disabled here)", function()
      sim.fault{ match = { path = API .. "/organization/users" }, status = 503, body = { detail = "Try later" } }
      local page, err = arthur:get_organization_users()
      assert.is_nil(page)
      assert_error(err, { operation = "get_organization_users", status = 503, message = "Try later",
                          retryable = true })
    end)

    it("refuses sort, order and user_types outside their enums and sends nothing", function()
      refused(function() arthur:get_organization_users{ sort = "first_name" } end,
        "bad argument #1 to 'get_organization_users' " ..
        "(sort: one of name, email, created_at, updated_at expected, got 'first_name')")
      refused(function() arthur:get_organization_users{ order = "up" } end,
        "bad argument #1 to 'get_organization_users' (order: one of asc, desc expected, got 'up')")
      refused(function() arthur:get_organization_users{ user_types = { "user", "admin" } } end,
        "bad argument #1 to 'get_organization_users' " ..
        "(user_types[2]: one of user, data_plane, service_account expected, got 'admin')")
    end)

    it("refuses page_size outside 1..1000 and page below 1, and sends nothing", function()
      refused(function() arthur:get_organization_users{ page_size = 0 } end,
        "bad argument #1 to 'get_organization_users' (page_size: out of range 1..1000, got 0)")
      refused(function() arthur:get_organization_users{ page_size = 1001 } end,
        "bad argument #1 to 'get_organization_users' (page_size: out of range 1..1000, got 1001)")
      refused(function() arthur:get_organization_users{ page_size = 2.5 } end,
        "bad argument #1 to 'get_organization_users' (page_size: integer expected, got number)")
      refused(function() arthur:get_organization_users{ page = 0 } end,
        "bad argument #1 to 'get_organization_users' (page: out of range 1.., got 0)")
    end)

    it("refuses an unknown query parameter and sends nothing", function()
      refused(function() arthur:get_organization_users{ email = "ada@example.com" } end,
        "bad argument #1 to 'get_organization_users' (unknown parameter 'email')")
    end)
  end)

  describe("post_organization_user", function()
    local NEW = { first_name = "Dorothy", email = "dorothy@example.com", password = "one-time-pw" }

    it("POSTs the PostEndUser body as JSON and returns the created user", function()
      local u = assert(arthur:post_organization_user(NEW))
      local r = only_request()
      assert.equal("POST", r.method)
      assert.equal(API .. "/organization/users", r.path)
      assert.equal("", r.query)
      assert_headers(r, "application/json")
      assert.same(NEW, json.decode(r.body))
      assert.matches(UUID, u.id)
      assert.equal("Dorothy", u.first_name)
      assert.equal(userapi.null, u.last_name)
      assert.equal("dorothy@example.com", u.email)
      assert.equal("user", u.user_type)
      assert.equal(ORG_ID, u.organization_id)
      local state = sim.state("arthur")
      assert.equal(7, state.count)
      assert.equal(u.id, state.users[7].id)
      assert.equal(1, state.applied.post_organization_user)
    end)

    it("sends optional fields the model does not check, JSON null included", function()
      local u = assert(arthur:post_organization_user{ first_name = "Dorothy", last_name = userapi.null,
        email = "dorothy@example.com", password = "pw", picture = "https://example.com/d.png" })
      local body = only_request().body
      assert.truthy(body:find('"last_name":null', 1, true))
      assert.equal("https://example.com/d.png", json.decode(body).picture)
      assert.equal("https://example.com/d.png", u.picture)
    end)

    it("returns a 409 error for an email already in the organization", function()
      local u, err = arthur:post_organization_user{ first_name = "Ada", email = "ada@example.com", password = "pw" }
      assert.is_nil(u)
      assert_error(err, { operation = "post_organization_user", status = 409,
                          message = "User with email ada@example.com already exists." })
      assert.equal(6, sim.state("arthur").count)
      assert.is_nil(applied("post_organization_user"))
    end)

    it("returns a 422 error naming the field the server rejected", function()
      -- last_name is not in the client's model, so only the server checks its type
      local u, err = arthur:post_organization_user{ first_name = "D", last_name = 5,
                                                    email = "d@example.com", password = "pw" }
      assert.is_nil(u)
      assert_error(err, { operation = "post_organization_user", status = 422,
                          message = "body.last_name: str type expected" })
      assert.same({ { loc = { "body", "last_name" }, msg = "str type expected", type = "type_error.str" } },
                  json.decode(err.body).detail)
    end)

    it("reads pydantic v2 validation lists the same way", function()
      sim.fault{ match = { path = API .. "/organization/users" }, status = 422, body = { detail = {
        { loc = { "body", "email" }, msg = "Field required", type = "missing" } } } }
      local u, err = arthur:post_organization_user(NEW)
      assert.is_nil(u)
      assert_error(err, { operation = "post_organization_user", status = 422,
                          message = "body.email: Field required" })
      assert.is_nil(applied("post_organization_user"))
    end)

    it("refuses a body without first_name, email or password and sends nothing", function()
      refused(function() arthur:post_organization_user{ email = "d@example.com", password = "pw" } end,
        "bad argument #1 to 'post_organization_user' (required field 'first_name' missing)")
      refused(function() arthur:post_organization_user{ first_name = "D", password = "pw" } end,
        "bad argument #1 to 'post_organization_user' (required field 'email' missing)")
      refused(function() arthur:post_organization_user{ first_name = "D", email = "d@example.com" } end,
        "bad argument #1 to 'post_organization_user' (required field 'password' missing)")
      refused(function() arthur:post_organization_user{ first_name = "D", email = userapi.null, password = "pw" } end,
        "bad argument #1 to 'post_organization_user' (required field 'email' missing)")
    end)

    it("refuses a missing body, an array body and a non-string email, and sends nothing", function()
      refused(function() arthur:post_organization_user() end,
        "bad argument #1 to 'post_organization_user' (table expected, got nil)")
      refused(function() arthur:post_organization_user{ NEW } end,
        "bad argument #1 to 'post_organization_user' (object expected, got an array)")
      refused(function() arthur:post_organization_user{ first_name = "D", email = 5, password = "pw" } end,
        "email: string expected, got integer", true)
    end)
  end)

  describe("patch_user", function()
    it("PATCHes /api/v1/users/{user_id} with only the given keys and returns the updated user", function()
      local u = assert(arthur:patch_user(ADA, { first_name = "Augusta Ada", email = "ada.king@example.com" }))
      local r = only_request()
      assert.equal("PATCH", r.method)
      assert.equal(API .. "/users/" .. ADA, r.path)
      assert.equal("", r.query)
      assert_headers(r, "application/json")
      assert.same({ first_name = "Augusta Ada", email = "ada.king@example.com" }, json.decode(r.body))
      assert.equal(ADA, u.id)
      assert.equal("Augusta Ada", u.first_name)
      assert.equal("Lovelace", u.last_name)
      assert.equal("ada.king@example.com", u.email)
      assert.equal("ada.king@example.com", sim.state("arthur").users[2].email)
      assert.equal(1, applied("patch_user"))
    end)

    it("sends userapi.null as JSON null to clear a nullable field", function()
      local u = assert(arthur:patch_user(ALAN, { picture = userapi.null }))
      assert.equal('{"picture":null}', only_request().body)
      assert.equal(userapi.null, u.picture)
    end)

    it("returns a 404 error for an unknown user", function()
      local u, err = arthur:patch_user("no-such-user", { first_name = "X" })
      assert.is_nil(u)
      assert_error(err, { operation = "patch_user", status = 404, message = "Resource not found" })
      assert.equal("arthur patch_user: 404 Resource not found", tostring(err))
    end)

    it("returns a 400 error for an email another user holds", function()
      local u, err = arthur:patch_user(ADA, { email = "grace@example.com" })
      assert.is_nil(u)
      assert_error(err, { operation = "patch_user", status = 400,
                          message = "Email grace@example.com is already in use." })
      assert.is_nil(applied("patch_user"))
    end)

    it("refuses user ids with / ? # % CR LF, empty or too long, and sends nothing", function()
      for _, id in ipairs({ "a/b", "a?b", "a#b", "a%2Fb", "a\rb", "a\nb" }) do
        refused(function() arthur:patch_user(id, { first_name = "X" }) end,
          "bad argument #1 to 'patch_user' (user_id: contains one of / ? # % CR LF NUL)")
      end
      refused(function() arthur:patch_user("", { first_name = "X" }) end,
        "bad argument #1 to 'patch_user' (user_id: a non-empty id expected)")
      refused(function() arthur:patch_user(string.rep("a", 1025), { first_name = "X" }) end,
        "bad argument #1 to 'patch_user' (user_id: longer than 1024 bytes)")
      refused(function() arthur:patch_user(nil, { first_name = "X" }) end,
        "bad argument #1 to 'patch_user' (user_id: string expected, got nil)")
    end)

    it("refuses a non-string first_name and a third argument, and sends nothing", function()
      refused(function() arthur:patch_user(ADA, { first_name = true }) end,
        "first_name: string expected, got boolean", true)
      refused(function() arthur:patch_user(ADA, { first_name = "X" }, {}) end,
        "bad argument #3 to 'patch_user' (no more than 2 arguments expected)")
    end)
  end)

  describe("delete_user", function()
    it("DELETEs /api/v1/users/{user_id}, returns true on 204 and the user is gone", function()
      assert.is_true(arthur:delete_user(KATHERINE))
      local r = only_request()
      assert.equal("DELETE", r.method)
      assert.equal(API .. "/users/" .. KATHERINE, r.path)
      assert.equal("", r.query)
      assert.equal("", r.body)
      assert_headers(r)
      assert.equal(204, r.status)
      local state = sim.state("arthur")
      assert.equal(5, state.count)
      assert.equal(1, state.applied.delete_user)
      for _, u in ipairs(state.users) do assert.not_equal(KATHERINE, u.id) end
    end)

    it("returns a 404 error the second time", function()
      assert.is_true(arthur:delete_user(KATHERINE))
      local ok, err = arthur:delete_user(KATHERINE)
      assert.is_nil(ok)
      assert_error(err, { operation = "delete_user", status = 404, message = "Resource not found" })
      assert.equal(1, applied("delete_user"))
    end)

    it("refuses an id that would leave its path segment and sends nothing", function()
      refused(function() arthur:delete_user("../organization") end,
        "bad argument #1 to 'delete_user' (user_id: contains one of / ? # % CR LF NUL)")
      refused(function() arthur:delete_user(KATHERINE, {}) end,
        "bad argument #2 to 'delete_user' (no parameters expected)")
    end)
  end)
end)
