--- Arthur platform API, UsersV1Api: the operations as data.
local str = { type = "string" }
local USER_TYPES = { "user", "data_plane", "service_account" }

return {
  name = "arthur",
  default_base = function() return "https://platform.arthur.ai" end,
  credentials = { "access_token", "client_secret" },
  auth = function(o)
    if o.access_token then return { scheme = "bearer", token = o.access_token } end
  end,
  -- OIDC discovery for the client-credentials grant, relative to the base URL
  discovery = "/api/v1/auth/oidc/.well-known/openid-configuration",
  ops = {
    get_users_me = { method = "GET", path = "/api/v1/users/me", ok = 200 },
    accept_my_invites = { method = "POST", path = "/api/v1/users/me/accept-invite", ok = 204 },
    get_organization_users = {
      method = "GET", path = "/api/v1/organization/users", ok = 200,
      query = {
        sort = { type = "string", enum = { "name", "email", "created_at", "updated_at" } },
        order = { type = "string", enum = { "asc", "desc" } },
        user_types = { type = "array", enum = USER_TYPES },
        search = str,
        user_ids = { type = "array" },
        page = { type = "integer", min = 1 },
        page_size = { type = "integer", min = 1, max = 1000 },
      },
    },
    post_organization_user = {
      method = "POST", path = "/api/v1/organization/users", ok = 200,
      body = {
        kind = "object", required = { "first_name", "email", "password" },
        fields = { first_name = str, email = str, password = str },
      },
    },
    patch_user = {
      method = "PATCH", path = "/api/v1/users/{user_id}", ok = 200,
      body = { kind = "object", fields = { first_name = str, email = str } },
    },
    delete_user = { method = "DELETE", path = "/api/v1/users/{user_id}", ok = 204 },
    post_organization_service_account = {
      method = "POST", path = "/api/v1/organization/service_accounts", ok = 200,
      body = { kind = "object", required = { "name" }, fields = { name = str } },
    },
    patch_service_account_user = {
      method = "PATCH", path = "/api/v1/users/{user_id}/service_account", ok = 200,
      body = { kind = "object", fields = { name = str } },
    },
    post_organization_user_invite = {
      method = "POST", path = "/api/v1/organization/users/invite-user", ok = 201,
      body = {
        kind = "object", required = { "email" },
        fields = {
          email = str,
          group_ids = { type = "array" },
          role_binding = {
            type = "object", required = { "role_id", "bound_resource_kind", "resource_id" },
            fields = {
              bound_resource_kind = {
                type = "string", enum = { "organization", "workspace", "project", "data_plane" },
              },
            },
          },
        },
      },
    },
    post_user_creds = { method = "POST", path = "/api/v1/users/{user_id}/credentials", ok = 200 },
  },
  paging = { op = "get_organization_users", style = "page", items = "records", max = 1000 },
}
