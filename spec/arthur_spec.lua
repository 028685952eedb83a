-- Arthur (platform API, UsersV1): every operation through real libcurl to the
-- simulator, asserting the request on the wire, the result, the state change
-- and the errors; then the token providers (static, function, OIDC client
-- credentials).
local sim = require "spec.helper"
local json = require "userapi.json"
local userapi = require "userapi"

local API = "/arthur/api/v1"
local BEARER = "Bearer arthur-test-token"
local GRACE = "00000000-0000-4000-8000-000000000001"   -- "me" of the static token
local ADA = "00000000-0000-4000-8000-000000000002"
local ALAN = "00000000-0000-4000-8000-000000000003"
local SA = "00000000-0000-4000-8000-000000000004"      -- service account "userapi automation" (arthur-client)
local KATHERINE = "00000000-0000-4000-8000-000000000006"
local ORG_ID = "3f8e7a52-1c4b-4d2e-9a6f-0b1c2d3e4f50"
local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

local only_request = sim.only_request

local function applied(op)
  return sim.state("arthur").applied[op]
end

-- Headers every call carries; content_type is nil for a call without body.
local function assert_headers(r, content_type) return sim.assert_headers(r, BEARER, content_type) end

-- The call raises `message` (exact, or a plain substring with partial = true)
-- and nothing reaches the simulator.
local function refused(fn, message, partial) return sim.refuses(message, fn, partial) end

-- An Arthur client that gets its tokens with the client-credentials grant.
local function oidc_client(id, secret, extra)
  local opts = { base_url = sim.base.arthur, retries = false, client_id = id, client_secret = secret }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return userapi.arthur(opts)
end

local function assert_error(err, f) return sim.assert_error("arthur", err, f) end

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
      local ids = {}
      for i, u in ipairs(page.records) do ids[i] = u.id end
      assert.same({ GRACE, ADA, ALAN, SA, KATHERINE }, ids)
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

  describe("post_organization_service_account", function()
    it("POSTs {name} and returns the account with client credentials that get a working token", function()
      local sa = assert(arthur:post_organization_service_account{ name = "ci robot" })
      local r = only_request()
      assert.equal("POST", r.method)
      assert.equal(API .. "/organization/service_accounts", r.path)
      assert.equal("", r.query)
      assert_headers(r, "application/json")
      assert.same({ name = "ci robot" }, json.decode(r.body))
      assert.matches(UUID, sa.id)
      assert.equal("ci robot", sa.first_name)
      assert.equal("service_account", sa.user_type)
      assert.equal(sa.client_id, sa.credentials.client_id)
      assert.is_string(sa.credentials.client_secret)
      local state = sim.state("arthur")
      assert.equal(7, state.count)
      assert.equal(1, state.applied.post_organization_service_account)
      -- the new credentials are a working client-credentials pair
      local robot = oidc_client(sa.credentials.client_id, sa.credentials.client_secret)
      local me = assert(robot:get_users_me())
      assert.equal(sa.id, me.id)
    end)

    it("returns a 422 error naming the body field of the vendor's detail", function()
      sim.fault{ match = { path = API .. "/organization/service_accounts" }, status = 422, body = { detail = {
        { loc = { "body", "name" }, msg = "field required", type = "value_error.missing" } } } }
      local sa, err = arthur:post_organization_service_account{ name = "ci robot" }
      assert.is_nil(sa)
      assert_error(err, { operation = "post_organization_service_account", status = 422,
                          message = "body.name: field required" })
      assert.equal(6, sim.state("arthur").count)
    end)

    it("refuses a body without name and sends nothing", function()
      refused(function() arthur:post_organization_service_account{} end,
        "bad argument #1 to 'post_organization_service_account' (required field 'name' missing)")
    end)
  end)

  describe("patch_service_account_user", function()
    it("PATCHes /api/v1/users/{user_id}/service_account and returns the renamed account", function()
      local sa = assert(arthur:patch_service_account_user(SA, { name = "userapi nightly" }))
      local r = only_request()
      assert.equal("PATCH", r.method)
      assert.equal(API .. "/users/" .. SA .. "/service_account", r.path)
      assert.equal("", r.query)
      assert_headers(r, "application/json")
      assert.same({ name = "userapi nightly" }, json.decode(r.body))
      assert.equal(SA, sa.id)
      assert.equal("userapi nightly", sa.first_name)
      assert.equal("service_account", sa.user_type)
      assert.equal("userapi nightly", sim.state("arthur").users[4].first_name)
      assert.equal(1, applied("patch_service_account_user"))
    end)

    it("returns a 400 error for a user who is not a service account", function()
      local sa, err = arthur:patch_service_account_user(ADA, { name = "robot" })
      assert.is_nil(sa)
      assert_error(err, { operation = "patch_service_account_user", status = 400,
                          message = "User is not a service account." })
      assert.is_nil(applied("patch_service_account_user"))
    end)

    it("returns a 404 error for an unknown user", function()
      local sa, err = arthur:patch_service_account_user("nobody", { name = "robot" })
      assert.is_nil(sa)
      assert_error(err, { operation = "patch_service_account_user", status = 404, message = "Resource not found" })
    end)

    it("refuses a non-string name and a bad id, and sends nothing", function()
      refused(function() arthur:patch_service_account_user(SA, { name = 7 }) end,
        "name: string expected, got integer", true)
      refused(function() arthur:patch_service_account_user(SA .. "#x", { name = "n" }) end,
        "bad argument #1 to 'patch_service_account_user' (user_id: contains one of / ? # % CR LF NUL)")
    end)
  end)

  describe("post_organization_user_invite", function()
    local BINDING = { role_id = "role-viewer", bound_resource_kind = "workspace", resource_id = "ws-1" }

    it("POSTs InviteNewUser, returns the untyped 201 object and the invite is recorded", function()
      local res = assert(arthur:post_organization_user_invite{
        email = "hedy@example.com", role_binding = BINDING, group_ids = { "g-1", "g-2" } })
      local r = only_request()
      assert.equal("POST", r.method)
      assert.equal(API .. "/organization/users/invite-user", r.path)
      assert.equal("", r.query)
      assert_headers(r, "application/json")
      assert.same({ email = "hedy@example.com", role_binding = BINDING, group_ids = { "g-1", "g-2" } },
                  json.decode(r.body))
      assert.equal(201, r.status)
      assert.same({}, res)
      local state = sim.state("arthur")
      assert.equal(1, #state.invites)
      assert.equal("hedy@example.com", state.invites[1].email)
      assert.equal("pending", state.invites[1].status)
      assert.same(BINDING, state.invites[1].role_binding)
      assert.same({ "g-1", "g-2" }, state.invites[1].group_ids)
      assert.equal(6, state.count)   -- an invite creates no user
      assert.equal(1, state.applied.post_organization_user_invite)
    end)

    it("returns a 400 error for someone already in the organization", function()
      local res, err = arthur:post_organization_user_invite{ email = "alan@example.com" }
      assert.is_nil(res)
      assert_error(err, { operation = "post_organization_user_invite", status = 400,
                          message = "User with email alan@example.com is already in the organization." })
      assert.same({}, sim.state("arthur").invites)
    end)

    it("returns a 422 error naming the nested field the server rejected", function()
      -- role_id is required by the client but its type is only checked by the server
      local res, err = arthur:post_organization_user_invite{ email = "hedy@example.com",
        role_binding = { role_id = 42, bound_resource_kind = "project", resource_id = "p-1" } }
      assert.is_nil(res)
      assert_error(err, { operation = "post_organization_user_invite", status = 422,
                          message = "body.role_binding.role_id: str type expected" })
    end)

    it("refuses a bound_resource_kind outside its enum and sends nothing", function()
      refused(function()
        arthur:post_organization_user_invite{ email = "hedy@example.com",
          role_binding = { role_id = "r", bound_resource_kind = "team", resource_id = "x" } }
      end, "role_binding.bound_resource_kind: one of organization, workspace, project, data_plane " ..
           "expected, got 'team')", true)
    end)

    it("refuses an invite without email or a role binding without resource_id, and sends nothing", function()
      refused(function() arthur:post_organization_user_invite{ group_ids = { "g-1" } } end,
        "bad argument #1 to 'post_organization_user_invite' (required field 'email' missing)")
      refused(function()
        arthur:post_organization_user_invite{ email = "hedy@example.com",
          role_binding = { role_id = "r", bound_resource_kind = "project" } }
      end, "role_binding: required field 'resource_id' missing", true)
      refused(function() arthur:post_organization_user_invite{ email = "h@example.com", group_ids = { 1 } } end,
        "group_ids[1]: string expected, got integer", true)
    end)
  end)

  describe("post_user_creds", function()
    it("POSTs /api/v1/users/{user_id}/credentials without a body and returns the user with a new password", function()
      local u = assert(arthur:post_user_creds(ADA))
      local r = only_request()
      assert.equal("POST", r.method)
      assert.equal(API .. "/users/" .. ADA .. "/credentials", r.path)
      assert.equal("", r.query)
      assert.equal("", r.body)
      assert_headers(r)
      assert.equal(ADA, u.id)
      assert.equal("ada@example.com", u.email)
      assert.is_string(u.credentials.password)
      assert.truthy(#u.credentials.password >= 16)
      assert.equal(1, applied("post_user_creds"))
    end)

    it("rotates a service account's secret: the new one gets a token, the old one no longer does", function()
      local sa = assert(arthur:post_user_creds(SA))
      assert.equal("arthur-client", sa.credentials.client_id)
      assert.not_equal("arthur-secret", sa.credentials.client_secret)
      assert.equal(SA, assert(oidc_client("arthur-client", sa.credentials.client_secret):get_users_me()).id)
      local me, err = oidc_client("arthur-client", "arthur-secret"):get_users_me()
      assert.is_nil(me)
      assert.equal(401, err.status)
      assert.equal("token", err.operation)
    end)

    it("returns a 404 error for an unknown user", function()
      local u, err = arthur:post_user_creds("00000000-0000-4000-8000-00000000dead")
      assert.is_nil(u)
      assert_error(err, { operation = "post_user_creds", status = 404, message = "Resource not found" })
      assert.is_nil(applied("post_user_creds"))
    end)

    it("refuses a body and sends nothing", function()
      refused(function() arthur:post_user_creds(ADA, { password = "x" }) end,
        "bad argument #2 to 'post_user_creds' (no parameters expected)")
    end)
  end)

  describe("with a wrong access token", function()
    it("returns a 401 error that shows the token nowhere", function()
      local secret = "wrong-token-0f1e2d3c"
      local bad = sim.client("arthur", { access_token = secret })
      local me, err = bad:get_users_me()
      assert.is_nil(me)
      assert_error(err, { operation = "get_users_me", status = 401, message = "Could not validate credentials" })
      assert.equal("Bearer " .. secret, only_request().headers["authorization"])
      for _, s in ipairs({ tostring(err), err.message, err.body }) do
        assert.is_nil(s:find(secret, 1, true))
      end
    end)
  end)

  describe("with client_id and client_secret", function()
    it("discovers the token endpoint, POSTs the client-credentials grant, then sends the issued token", function()
      local client = oidc_client("arthur-client", "arthur-secret")
      local me = assert(client:get_users_me())
      assert.equal(SA, me.id)
      assert.equal("userapi automation", me.first_name)
      local all = sim.requests()
      assert.equal(3, #all)
      local disco, tok, call = all[1], all[2], all[3]
      assert.equal("GET", disco.method)
      assert.equal("/arthur/api/v1/auth/oidc/.well-known/openid-configuration", disco.path)
      assert.is_nil(disco.headers["authorization"])
      assert.equal("POST", tok.method)
      assert.equal("/arthur/oidc/token", tok.path)
      assert.equal("application/x-www-form-urlencoded", tok.headers["content-type"])
      local form = {}
      for k, v in tok.body:gmatch("([^&=]+)=([^&]*)") do form[k] = v end
      assert.equal("client_credentials", form.grant_type)
      assert.equal("openid%20email%20profile", form.scope)
      assert.equal("arthur-client", form.client_id)
      assert.equal("arthur-secret", form.client_secret)
      assert.equal(200, tok.status)
      assert.equal("GET", call.method)
      assert.equal(API .. "/users/me", call.path)
      assert.matches("^Bearer sim%-arthur%-%x+$", call.headers["authorization"])
      assert.equal(1, sim.state("arthur").tokens_issued)
    end)

    it("reuses the token across calls", function()
      local client = oidc_client("arthur-client", "arthur-secret")
      assert(client:get_users_me())
      assert(client:get_organization_users{ page_size = 1 })
      assert(client:get_users_me())
      local all = sim.requests()
      assert.equal(5, #all)
      assert.equal(all[3].headers["authorization"], all[4].headers["authorization"])
      assert.equal(all[3].headers["authorization"], all[5].headers["authorization"])
      assert.equal(1, sim.state("arthur").tokens_issued)
    end)

    it("fetches a new token once the old one is within 30 s of its expiry, without a new discovery", function()
      sim.config{ arthur_token_ttl = 31 }
      local clock = sim.clock()
      local client = oidc_client("arthur-client", "arthur-secret", { clock = clock })
      assert(client:get_users_me())
      clock.advance(999)   -- 31 s tokens enter the 30 s leeway after one second
      assert(client:get_users_me())
      clock.advance(2)
      assert(client:get_users_me())
      local all = sim.requests()
      local paths = {}
      for i, r in ipairs(all) do paths[i] = r.method .. " " .. r.path end
      assert.same({
        "GET /arthur/api/v1/auth/oidc/.well-known/openid-configuration",
        "POST /arthur/oidc/token", "GET " .. API .. "/users/me", "GET " .. API .. "/users/me",
        "POST /arthur/oidc/token", "GET " .. API .. "/users/me",
      }, paths)
      assert.equal(all[3].headers["authorization"], all[4].headers["authorization"])
      assert.not_equal(all[3].headers["authorization"], all[6].headers["authorization"])
      assert.equal(2, sim.state("arthur").tokens_issued)
    end)

    it("renews its token once on a 401 and retries the call once", function()
      local client = oidc_client("arthur-client", "arthur-secret")
      assert(client:get_users_me())
      sim.fault{ match = { path = API .. "/users/me" }, status = 401 }
      local me = assert(client:get_users_me())
      assert.equal(SA, me.id)
      local all = sim.requests()
      assert.equal(6, #all)
      assert.equal(401, all[4].status)
      assert.equal("/arthur/oidc/token", all[5].path)
      assert.equal(200, all[6].status)
      assert.equal(all[3].headers["authorization"], all[4].headers["authorization"])
      assert.not_equal(all[4].headers["authorization"], all[6].headers["authorization"])
      assert.equal(2, sim.state("arthur").tokens_issued)
    end)

    it("returns the 401 when it persists after the one renewal", function()
      local client = oidc_client("arthur-client", "arthur-secret")
      sim.fault{ match = { path = API .. "/users/me" }, status = 401, times = 0 }
      local me, err = client:get_users_me()
      assert.is_nil(me)
      assert_error(err, { operation = "get_users_me", status = 401, message = "Not authenticated" })
      local calls = 0
      for _, r in ipairs(sim.requests()) do if r.path == API .. "/users/me" then calls = calls + 1 end end
      assert.equal(2, calls)
      assert.equal(2, sim.state("arthur").tokens_issued)
    end)

    it("with a wrong client secret returns a token error that shows the secret nowhere", function()
      local secret = "not-the-secret-9a8b7c"
      local me, err = oidc_client("arthur-client", secret):get_users_me()
      assert.is_nil(me)
      assert.is_true(userapi.is_error(err))
      assert.equal("arthur", err.vendor)
      assert.equal("token", err.operation)
      assert.equal(401, err.status)
      assert.is_false(err.retryable)
      assert.matches("^arthur token: 401 ", tostring(err))
      for _, s in ipairs({ tostring(err), err.message, err.body }) do
        assert.is_nil(s:find(secret, 1, true))
      end
      -- the API itself was never called
      for _, r in ipairs(sim.requests()) do assert.not_equal(API .. "/users/me", r.path) end
    end)

    it("with a wrong client secret takes the message from the OAuth2 error body", function()
      local me, err = oidc_client("arthur-client", "not-the-secret"):get_users_me()
      assert.is_nil(me)
      assert.same({ error = "invalid_client", error_description = "Invalid client or Invalid client credentials" },
                  json.decode(err.body))
      assert.equal("Invalid client or Invalid client credentials", err.message)
      assert.equal("arthur token: 401 Invalid client or Invalid client credentials", tostring(err))
    end)
  end)

  describe("with a token function", function()
    it("sends the token it returns and asks again only when the token expires", function()
      local calls = 0
      local client = sim.client("arthur", { token = function()
        calls = calls + 1
        return "arthur-test-token", 3600
      end })
      assert.equal(GRACE, assert(client:get_users_me()).id)
      assert(client:get_organization_users())
      assert.equal(1, calls)
      for _, r in ipairs(sim.requests()) do assert.equal(BEARER, r.headers["authorization"]) end
    end)

    it("is asked again after a 401, and the call is retried once with the new token", function()
      local tokens = { "stale-token-0001", "arthur-test-token" }
      local calls = 0
      local client = sim.client("arthur", { token = function()
        calls = calls + 1
        return tokens[calls], 3600
      end })
      local me = assert(client:get_users_me())
      assert.equal(GRACE, me.id)
      assert.equal(2, calls)
      local all = sim.requests()
      assert.equal(2, #all)
      assert.equal("Bearer stale-token-0001", all[1].headers["authorization"])
      assert.equal(401, all[1].status)
      assert.equal(BEARER, all[2].headers["authorization"])
      assert.equal(200, all[2].status)
    end)

    it("that fails with nil and a message gives a userapi error carrying that message", function()
      local client = sim.client("arthur", { token = function() return nil, "vault unreachable" end })
      local me, err = client:get_users_me()
      assert.is_nil(me)
      assert.same({}, sim.requests())
      assert.is_true(userapi.is_error(err))
      assert.equal("arthur", err.vendor)
      assert.equal("token", err.operation)
      assert.matches("vault unreachable", tostring(err), 1, true)
    end)
  end)
end)
