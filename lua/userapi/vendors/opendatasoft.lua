--- Opendatasoft Automation API v1.0, UsersApi: the operations of an
-- Opendatasoft client, as data. Paths end with a slash, as the vendor's spec
-- has them.
--
-- `userapi.opendatasoft{ domain = "data.example.org", apikey = KEY }` makes the
-- client (the API lives at `https://DOMAIN/api/automation/v1.0`); each
-- operation below is one of its methods: `ods:get_user("louise.data")`.
--
-- Every operation returns the decoded JSON answer (`true` for an empty one),
-- or `nil` and a @{userapi.errors.Error} whose `message` is the vendor's own
-- and `code` its `error_code` (`opendatasoft delete_user: 400 The removal of
-- the only domain administrator is not allowed.`), and raises
-- `bad argument ...` on input it refuses before sending anything.
--
-- The User model: `username`, `email`, `first_name`, `last_name`,
-- `display_name`, `is_active`, `account_type`, `joined_at`, `last_seen_at`,
-- `last_login_at`, `expires_at`, `permissions` (array), `groups` (array of
-- `{ uid }`), `identity_providers`, `explore_limits`, `management_limits`.
-- @module userapi.vendors.opendatasoft
local json = { type = "string" }

-- An error body, or the error of one item of a batch:
-- { error_code, message, detail = "..." | { field = { "message", ... } } }.
local function error_message(t)
  if type(t.detail) == "string" then return t.detail, t.error_code end
  local parts = {}
  if type(t.message) == "string" then parts[1] = t.message end
  if type(t.detail) == "table" then
    local fields = {}
    for k in pairs(t.detail) do if type(k) == "string" then fields[#fields + 1] = k end end
    table.sort(fields)
    for _, k in ipairs(fields) do
      local v = t.detail[k]
      if type(v) == "table" then
        local msgs = {}
        for _, m in ipairs(v) do msgs[#msgs + 1] = tostring(m) end
        v = table.concat(msgs, " ")
      end
      parts[#parts + 1] = k .. ": " .. tostring(v)
    end
  end
  local code = type(t.error_code) == "string" and t.error_code or nil
  if #parts > 0 then return table.concat(parts, "; "), code end
  return nil, code
end

-- A 200 to invite or provision holds one result per item, keyed from "0":
-- { status_code = "success", data = user } or { status_code = "error", error = {...} }.
local function bulk_result(answer, n)
  local out = {}
  for i = 1, n do
    local item = type(answer) == "table" and answer[tostring(i - 1)]
    if type(item) == "table" and item.status_code == "success" then
      out[i] = { ok = true, value = item.data }
    else
      out[i] = { ok = false, error = type(item) == "table" and item.error or nil }
    end
  end
  return out
end
-- arrays of the User model: an empty Lua table goes out as []
local user_fields = { email = json, first_name = json, last_name = json, permissions = { type = "array" },
                      groups = { type = "array_of_objects" }, identity_providers = { type = "array_of_objects" } }

return {
  name = "opendatasoft",
  default_base = function(o)
    if o.domain then return "https://" .. o.domain .. "/api/automation/v1.0" end
  end,
  options = { domain = "host", apikey = "secret", apikey_in = { "header", "query" } },
  credentials = { "apikey" },
  error_message = error_message,
  bulk_result = bulk_result,
  auth = function(o)
    return { scheme = "apikey", key = o.apikey, ["in"] = o.apikey_in or "header" }
  end,
  -- the userapi command: where the constructor's options come from
  cli = {
    alias = "ods",
    env = { { "apikey", "USERAPI_ODS_APIKEY" }, { "domain", "USERAPI_ODS_DOMAIN" } },
    examples = { "get_users --search ada --format csv" },
  },
  ops = {
    --- One page of the domain's users; `ods:each_user(params)` walks every page.
    -- `GET /users/`
    -- @function get_users
    -- @tparam[opt] table params the query parameters
    -- @tparam[opt] string params.search users whose username, names or email contain this
    -- @tparam[opt] {string,...}|string params.sort `username`, `first_name`, `last_name`,
    -- `last_seen_at`, or one of them with `-` (descending); repeated
    -- @tparam[opt] {string,...}|string params.permissions users holding any of these permissions
    -- @tparam[opt] {string,...}|string params.all_permissions the same, counting group permissions
    -- @tparam[opt] int params.limit users per page, 0..1000
    -- @tparam[opt] int params.offset the first user's position, 0..
    -- @treturn[1] table the page: `results` (users), `total_count`, `next` and
    -- `previous` (URLs, or `userapi.null`)
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 401 (bad key), 400 `validation_error`, a network failure
    -- @raise `bad argument #1 to 'get_users'` on an unknown parameter, a wrong type, a
    -- sort outside the list, a limit out of range
    -- @usage local page = assert(ods:get_users{ search = "ada", sort = "-last_seen_at", limit = 100 })
    get_users = {
      method = "GET", path = "/users/",
      query = {
        search = json,
        -- the spec's fields, and "-field" for descending (documented on other ODS lists)
        sort = { type = "array", enum = {
          "username", "first_name", "last_name", "last_seen_at",
          "-username", "-first_name", "-last_name", "-last_seen_at" } },
        -- the vendor adds permissions over time: unknown ones pass through
        permissions = { type = "array" },
        all_permissions = { type = "array" },
        limit = { type = "integer", min = 0, max = 1000 },
        offset = { type = "integer", min = 0 },
      },
    },
    --- One user.
    -- `GET /users/{username}/`
    -- @function get_user
    -- @tparam string username the user's username
    -- @tparam[opt] table params the query parameters
    -- @tparam[opt] string params.expand `"groups"`: the groups in full, not only their uid
    -- @treturn[1] table the user
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 404 `not_found`, 401, a network failure
    -- @raise `bad argument #1 to 'get_user'` when username is not a plain id
    -- @usage local u = assert(ods:get_user("louise.data", { expand = "groups" }))
    get_user = { method = "GET", path = "/users/{username}/", query = { expand = json } },
    --- Updates a user: the fields given change, `email` is required.
    -- `PUT /users/{username}/`
    -- @function update_user
    -- @tparam string username the user's username
    -- @tparam table user the new values
    -- @tparam string user.email required
    -- @tparam[opt] string user.first_name
    -- @tparam[opt] string user.last_name
    -- @tparam[opt] {string,...} user.permissions the user's own permissions (`{}` sends `[]`)
    -- @tparam[opt] {table,...} user.groups `{ { uid = "viewers" } }`
    -- @treturn[1] table the updated user
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 400 `validation_error` (e.g. `email: Enter a valid
    -- email address.`), 404, 401, a network failure
    -- @raise `bad argument #2 to 'update_user'` when email is missing or a field has the wrong type
    -- @usage ods:update_user("louise.data", { email = "louise@example.org", first_name = "Louise" })
    update_user = {
      method = "PUT", path = "/users/{username}/",
      body = { kind = "object", required = { "email" }, fields = user_fields },
    },
    --- Deletes a user. The only domain administrator cannot be deleted.
    -- `DELETE /users/{username}/`
    -- @function delete_user
    -- @tparam string username the user's username
    -- @treturn[1] boolean `true` (204)
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 400 `only_domain_administrator`, 404, 401, a network failure
    -- @raise `bad argument #1 to 'delete_user'` when username is not a plain id
    -- @usage assert(ods:delete_user("ada.lovelace"))
    delete_user = { method = "DELETE", path = "/users/{username}/" },
    --- Invites users by email: each gets an invitation and a local account.
    -- More than 100 users go out in requests of 100, the results merged.
    -- `POST /users/invite/`
    -- @function invite_users
    -- @tparam {table,...} users the users: each with `email` (required), and
    -- optionally `first_name`, `last_name`, `permissions`, `groups`
    -- @treturn[1] table one result per user, in input order: `{ ok = true, value = user }` or
    -- `{ ok = false, err = Error }` (`err.kind` `"item"`, `err.item` the position, `err.message`
    -- and `err.code` the vendor's), and the counts `ok` and `failed`
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error the whole request failed (401, 400, a network failure)
    -- @raise `bad argument #1 to 'invite_users'` when users is not a non-empty array of
    -- objects with an email
    -- @usage local res = assert(ods:invite_users{ { email = "marie@example.com", first_name = "Marie" } })
    -- if res.failed > 0 then print(res[1].err) end  -- opendatasoft invite_users: item 1: ...
    invite_users = {
      method = "POST", path = "/users/invite/", chunk = 100,
      body = { kind = "array", required = { "email" }, fields = user_fields },
    },
    -- The spec's schema is one object, its prose and response speak of items:
    -- a Lua array goes out as an array, a table with keys as one object.

    --- Creates users linked to an identity provider, active at once: one user
    -- (a table with keys) or an array of them, sent in requests of 100.
    -- `POST /users/provision/`
    -- @function provision_users
    -- @tparam table users one user or an array of users, each with `email` and
    -- `identity_provider` (`{ uid = "saml" }`) required
    -- @treturn[1] table one result per user, in input order, and the counts (as `invite_users`)
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error the whole request failed
    -- @raise `bad argument #1 to 'provision_users'` when a required field is missing
    -- @usage ods:provision_users{ email = "grace@example.com", identity_provider = { uid = "saml" } }
    provision_users = {
      method = "POST", path = "/users/provision/", chunk = 100,
      body = {
        kind = "object_or_array", required = { "email", "identity_provider" },
        fields = setmetatable({ identity_provider = { type = "object", required = { "uid" } } },
                              { __index = user_fields }),
      },
    },
    --- Every user as CSV (`username`, `last_name`, `first_name`, `email`,
    -- `date_joined`, `last_seen`, `groups`, `permissions`); `ods:each_export_row(params)`
    -- reads it row by row while it arrives.
    -- `GET /users/export/`
    -- @function users_export
    -- @tparam[opt] table params
    -- @tparam[opt] string params.delimiter one character, `,` by default
    -- @tparam[opt] string params.subdomains include the users of subdomains
    -- @tparam[opt] boolean params.parse local, not sent: return rows, not the text
    -- @treturn[1] string the CSV text; with `parse`, an array of rows keyed by the header,
    -- `groups` and `permissions` split on `;`
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 401, 400 `validation_error`, a network failure
    -- @raise `bad argument #1 to 'users_export'` on a delimiter that is not one character
    -- @usage for _, row in ipairs(assert(ods:users_export{ parse = true })) do print(row.email) end
    users_export = {
      method = "GET", path = "/users/export/",
      accept = "text/csv, application/json", response = "csv",
      query = { subdomains = json, delimiter = { type = "string", min_len = 1, max_len = 1 } },
      options = { parse = "boolean" },
    },
  },
  export = "users_export",
  paging = { op = "get_users", style = "offset", items = "results", total_count = "total_count", max = 1000 },
  -- desired state (userapi.people): a person is a user, found by email or username
  people = {
    lookup = { email = { op = "get_users", params = function(email) return { search = email } end },
               id = { op = "get_user" } },
    normalize = function(u)
      local name = u.display_name
      if not name or name == "" then
        name = ((u.first_name or "") .. " " .. (u.last_name or "")):match("^%s*(.-)%s*$")
      end
      return { id = u.username, email = u.email, name = name, kind = u.account_type, active = u.is_active,
               -- an invitation not yet accepted: a local account, inactive, never logged in
               pending = u.is_active == false and u.last_login_at == nil or nil,
               created_at = u.joined_at, last_seen_at = u.last_seen_at,
               first_name = u.first_name, last_name = u.last_name, permissions = u.permissions }
    end,
    fields = { email = "email", first_name = "string", last_name = "string", permissions = "set" },
    -- records say when each account last logged in (last_seen_at): a review can flag the stale
    logins = true,
    create = { {
      op = "invite_users", action = "invited",
      body = function(s)
        return { { email = s.email, first_name = s.first_name, last_name = s.last_name, permissions = s.permissions } }
      end,
      -- one result per item (bulk_result): an item can fail inside a 200
      result = function(res)
        local item = res[1] or {}
        if item.ok then return item.value or {} end
        return nil, item.err and item.err.message or "invitation refused"
      end,
    } },
    -- PUT wants the email every time: the one stored, as stored (its case too)
    update = { op = "update_user", body = function(changes, own)
      changes.email = changes.email or own.email
      return changes
    end },
    -- SCIM (userapi.scim): the attributes the account holds; the rest
    -- (userName, externalId, displayName, ...) is kept by the bridge
    scim = {
      attributes = { { "name.givenName", "first_name" }, { "name.familyName", "last_name" } },
      -- an unfiltered SCIM list is one page of get_users (userapi.scim.pages)
      page = { op = "get_users", offset = "offset", limit = "limit", items = "results", total = "total_count" },
    },
    delete = { op = "delete_user" },
  },
}
