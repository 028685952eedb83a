-- Arthur's service accounts, invitations and credentials: every operation
-- through real libcurl to the simulator, on the wire, in the result and the state.
local sim = require "spec.helper"
local json = require "userapi.json"

local A = require "spec.arthur_helper"
local API, ADA, SA, UUID = A.API, A.ADA, A.SA, A.UUID
local applied, assert_headers, refused, assert_error = A.applied, A.assert_headers, A.refused, A.assert_error
local oidc_client = A.oidc_client
local only_request = sim.only_request

describe("arthur accounts", function()
  local arthur

  before_each(function()
    sim.reset()
    arthur = sim.client("arthur")
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
end)
