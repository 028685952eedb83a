--- Arthur platform API, UsersV1Api: the operations of an Arthur client, as data.
--
-- `userapi.arthur{ access_token = TOKEN }` (or `client_id` + `client_secret`:
-- the OIDC client-credentials grant, renewed before it expires; or `token`, a
-- function returning a token) makes the client; each operation below is one
-- of its methods: `arthur:get_users_me()`.
--
-- Every operation returns the decoded JSON answer (`true` for an empty one),
-- or `nil` and a @{userapi.errors.Error} (`arthur delete_user: 404 Resource not
-- found`; a 422 reads `body.email: field required`), and raises
-- `bad argument ...` on input it refuses before sending anything.
--
-- The User model: `id`, `first_name`, `last_name`, `email`, `picture`,
-- `user_type` (`user`, `service_account`, `data_plane`), `client_id` (service
-- accounts), `data_plane_id`, `organization_id`, `organization_name`,
-- `created_at`, `updated_at`.
-- @module userapi.vendors.arthur
local str = { type = "string" }
local USER_TYPES = { "user", "data_plane", "service_account" }

-- {"detail": "..."}, or FastAPI's 422 {"detail": [{ loc = { "body", "email" }, msg }]}
local function error_message(t)
  local detail = t.detail
  if type(detail) == "string" then return detail end
  if type(detail) ~= "table" then return nil end
  local parts = {}
  for _, e in ipairs(detail) do
    if type(e) == "table" then
      local msg = tostring(e.msg)
      if type(e.loc) == "table" then
        local loc = {}
        for i, l in ipairs(e.loc) do
          loc[i] = (type(l) == "number" and l % 1 == 0) and string.format("%d", l) or tostring(l)
        end
        msg = table.concat(loc, ".") .. ": " .. msg
      end
      parts[#parts + 1] = msg
    end
  end
  if #parts > 0 then return table.concat(parts, "; ") end
end

return {
  name = "arthur",
  default_base = function() return "https://platform.arthur.ai" end,
  options = { access_token = "secret", token = "function", client_id = "login", client_secret = "secret",
              token_url = "string" },
  credentials = { "access_token", "client_secret" },
  error_message = error_message,
  auth = function(o)
    if o.access_token then return { scheme = "bearer", token = o.access_token } end
  end,
  -- the userapi command: where the constructor's options come from
  cli = {
    env = { { "access_token", "USERAPI_ARTHUR_TOKEN" }, { "client_id", "USERAPI_ARTHUR_CLIENT_ID" },
            { "client_secret", "USERAPI_ARTHUR_CLIENT_SECRET" } },
    secret = "access_token",          -- what --token-from-stdin fills: one of two secrets
    -- one of these sets of credentials, not both
    alternatives = { { "access_token" }, { "client_id", "client_secret" } },
    examples = { "delete_user --each ids.txt --concurrency 4 --dry-run" },
  },
  -- OIDC discovery for the client-credentials grant, relative to the base URL
  discovery = "/api/v1/auth/oidc/.well-known/openid-configuration",
  token_scope = "openid email profile",
  ops = {
    --- The user (or service account) the credentials belong to.
    -- `GET /api/v1/users/me`
    -- @function get_users_me
    -- @treturn[1] table the user
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 401 `Not authenticated`, a network failure
    -- @usage print(assert(arthur:get_users_me()).email)
    get_users_me = { method = "GET", path = "/api/v1/users/me" },
    --- Accepts the pending invitations of the credentials' user.
    -- `POST /api/v1/users/me/accept-invite`
    -- @function accept_my_invites
    -- @treturn[1] boolean `true` (204)
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 401, a network failure
    -- @usage assert(arthur:accept_my_invites())
    accept_my_invites = { method = "POST", path = "/api/v1/users/me/accept-invite" },
    --- One page of the organization's users; `arthur:each_user(params)` walks every page.
    -- Without `user_types`, users and service accounts are listed.
    -- `GET /api/v1/organization/users`
    -- @function get_organization_users
    -- @tparam[opt] table params the query parameters
    -- @tparam[opt] string params.sort `name`, `email`, `created_at` or `updated_at`
    -- @tparam[opt] string params.order `asc` or `desc`
    -- @tparam[opt] {string,...}|string params.user_types `user`, `data_plane`,
    -- `service_account`; repeated
    -- @tparam[opt] string params.search users whose name or email contain this
    -- @tparam[opt] {string,...}|string params.user_ids these users only
    -- @tparam[opt] int params.page the page number, from 1
    -- @tparam[opt] int params.page_size users per page, 1..1000
    -- @treturn[1] table the page: `records` (users) and `pagination` (`page`,
    -- `page_size`, `total_pages`, `total_records`)
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 422 (a bad parameter), 401, a network failure
    -- @raise `bad argument #1 to 'get_organization_users'` on an unknown parameter, a
    -- value outside an enum, a page_size out of range
    -- @usage local page = assert(arthur:get_organization_users{ sort = "email",
    --   user_types = { "user", "service_account" }, page_size = 100 })
    get_organization_users = {
      method = "GET", path = "/api/v1/organization/users",
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
    --- Creates a user with a password.
    -- `POST /api/v1/organization/users`
    -- @function post_organization_user
    -- @tparam table user the new user
    -- @tparam string user.first_name required
    -- @tparam string user.email required
    -- @tparam string user.password required
    -- @tparam[opt] string user.last_name
    -- @tparam[opt] string user.picture a URL
    -- @treturn[1] table the user
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 409 (the email is taken), 422, 401, a network failure
    -- @raise `bad argument #1 to 'post_organization_user'` when a required field is missing
    -- @usage arthur:post_organization_user{ first_name = "Ada", email = "ada@example.com", password = PW }
    post_organization_user = {
      method = "POST", path = "/api/v1/organization/users",
      body = {
        kind = "object", required = { "first_name", "email", "password" },
        fields = { first_name = str, email = str, password = str },
      },
    },
    --- Updates a user: the fields given change.
    -- `PATCH /api/v1/users/{user_id}`
    -- @function patch_user
    -- @tparam string user_id the user's id
    -- @tparam table fields `first_name`, `last_name`, `email`, `picture`
    -- @treturn[1] table the user
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 400 (the email is in use), 404, 422, a network failure
    -- @raise `bad argument #2 to 'patch_user'` when fields is not a table
    -- @usage arthur:patch_user(id, { first_name = "Augusta Ada" })
    patch_user = {
      method = "PATCH", path = "/api/v1/users/{user_id}",
      body = { kind = "object", fields = { first_name = str, email = str } },
    },
    --- Deletes a user or a service account (its credentials with it).
    -- `DELETE /api/v1/users/{user_id}`
    -- @function delete_user
    -- @tparam string user_id the user's id
    -- @treturn[1] boolean `true` (204)
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 404 `Resource not found`, 401, a network failure
    -- @raise `bad argument #1 to 'delete_user'` when user_id is not a plain id
    -- @usage assert(arthur:delete_user("00000000-0000-4000-8000-000000000002"))
    delete_user = { method = "DELETE", path = "/api/v1/users/{user_id}" },
    --- Creates a service account, with its first client credentials.
    -- `POST /api/v1/organization/service_accounts`
    -- @function post_organization_service_account
    -- @tparam table account
    -- @tparam string account.name required
    -- @treturn[1] table the account, with `credentials` (`client_id`, `client_secret`)
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 422, 401, a network failure
    -- @raise `bad argument #1 to 'post_organization_service_account'` without a name
    -- @usage local sa = assert(arthur:post_organization_service_account{ name = "ci" })
    -- store(sa.credentials.client_id, sa.credentials.client_secret)
    post_organization_service_account = {
      method = "POST", path = "/api/v1/organization/service_accounts",
      body = { kind = "object", required = { "name" }, fields = { name = str } },
    },
    --- Renames a service account.
    -- `PATCH /api/v1/users/{user_id}/service_account`
    -- @function patch_service_account_user
    -- @tparam string user_id the service account's id
    -- @tparam table fields `name`
    -- @treturn[1] table the account
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 400 (not a service account), 404, 422, a network failure
    -- @raise `bad argument #2 to 'patch_service_account_user'` when fields is not a table
    -- @usage arthur:patch_service_account_user(id, { name = "ci (prod)" })
    patch_service_account_user = {
      method = "PATCH", path = "/api/v1/users/{user_id}/service_account",
      body = { kind = "object", fields = { name = str } },
    },
    --- Invites someone to the organization by email (no user until they accept).
    -- `POST /api/v1/organization/users/invite-user`
    -- @function post_organization_user_invite
    -- @tparam table invite
    -- @tparam string invite.email required
    -- @tparam[opt] {string,...} invite.group_ids groups to join
    -- @tparam[opt] table invite.role_binding `role_id`, `bound_resource_kind`
    -- (`organization`, `workspace`, `project`, `data_plane`) and `resource_id`, all required
    -- @treturn[1] table `{}` (201)
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 400 (already a member, or already invited), 422, 401, a network failure
    -- @raise `bad argument #1 to 'post_organization_user_invite'` without an email, or on a
    -- role binding missing a field or with an unknown kind
    -- @usage arthur:post_organization_user_invite{ email = "marie@example.com" }
    post_organization_user_invite = {
      method = "POST", path = "/api/v1/organization/users/invite-user",
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
    --- New credentials for a user: a new client secret for a service account
    -- (the old one stops working), a new password for a person.
    -- `POST /api/v1/users/{user_id}/credentials`
    -- @function post_user_creds
    -- @tparam string user_id the user's id
    -- @treturn[1] table the user with `credentials`: `client_id` and `client_secret`,
    -- or `password`
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 404, 401, a network failure
    -- @raise `bad argument #1 to 'post_user_creds'` when user_id is not a plain id
    -- @usage local res = assert(arthur:post_user_creds(service_account_id))
    -- store(res.credentials.client_id, res.credentials.client_secret)
    post_user_creds = { method = "POST", path = "/api/v1/users/{user_id}/credentials" },
  },
  paging = { op = "get_organization_users", style = "page", items = "records", max = 1000,
              total_pages = "pagination.total_pages" },
  -- desired state (userapi.people): a person is a user of the organization;
  -- with a password they are created at once, otherwise invited by email
  people = {
    lookup = {
      email = { op = "get_organization_users", params = function(email)
        return { search = email, user_types = USER_TYPES, page_size = 1000 }
      end },
      id = { op = "get_organization_users", params = function(id)
        return { user_ids = { id }, user_types = USER_TYPES }
      end },
    },
    all = { user_types = USER_TYPES, page_size = 1000 },
    normalize = function(u)
      return { id = u.id, email = u.email, kind = u.user_type, created_at = u.created_at,
               name = ((u.first_name or "") .. " " .. (u.last_name or "")):match("^%s*(.-)%s*$"),
               first_name = u.first_name, last_name = u.last_name, picture = u.picture }
    end,
    fields = { email = "email", first_name = "string", last_name = "string", picture = "string" },
    -- accounts that are not people: a review reports them apart
    service_kinds = { service_account = true, data_plane = true },
    create_only = { password = true, group_ids = true, role_binding = true },
    create = {
      { op = "post_organization_user", action = "created", needs = { "password", "first_name" },
        body = function(s)
          return { email = s.email, first_name = s.first_name, last_name = s.last_name, password = s.password,
                   picture = s.picture }
        end },
      -- invitations cannot be listed: one already out is known when the vendor refuses another
      { op = "post_organization_user_invite", action = "invited", already = "already been invited",
        unseen = "Arthur lists no invitations: one already pending shows only in a real run (as no change)",
        body = function(s) return { email = s.email, group_ids = s.group_ids, role_binding = s.role_binding } end,
        result = function() return {} end },
    },
    update = { op = "patch_user", body = function(changes) return changes end },
    -- SCIM (userapi.scim): first_name is required to create; without a
    -- password from the provider the account gets a random one (SSO logins)
    scim = {
      attributes = { { "name.givenName", "first_name", fallback = { "displayName", "userName" } },
                     { "name.familyName", "last_name" } },
      password = "generate",
      -- an unfiltered SCIM list is one page of the organization's users (userapi.scim.pages)
      page = { op = "get_organization_users", page = "page", size = "page_size", items = "records",
               total = "pagination.total_records", params = { user_types = USER_TYPES } },
    },
    delete = { op = "delete_user" },
    -- a warning of every offboarding: what the API cannot show or undo
    absent_unseen = "Arthur lists no invitations: one sent to %s and still pending cannot be seen or withdrawn "
      .. "through the API (it can still be accepted)",
    -- userapi.rotate: a new client secret, for service accounts only (on a
    -- person post_user_creds would reset a password); tried with the client-credentials grant
    rotate = { op = "post_user_creds", kinds = { "service_account" }, verify = "get_users_me",
               login = function(res)
                 local c = type(res.credentials) == "table" and res.credentials or {}
                 return { client_id = c.client_id, client_secret = c.client_secret }
               end },
  },
}
