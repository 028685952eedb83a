--- Kandji API v1, UsersApi: the operations of a Kandji client, as data.
-- `userapi.kandji{ subdomain = "acme", token = TOKEN }` makes the client;
-- each operation below is one of its methods: `kandji:list_users{ ... }`.
-- Kandji allows 50 requests a second and 10,000 an hour per tenant: the client
-- stays under both by default (`rate_limit`). Users come from the tenant's
-- directory integrations: the API lists, reads and deletes them.
--
-- Every operation returns the decoded JSON answer (`true` for an empty one),
-- or `nil` and a @{userapi.errors.Error} (`tostring(err)` reads
-- `kandji delete_user: 400 User still assigned to one or more devices.`), and
-- raises `bad argument ...` on input it refuses before sending anything.
-- @module userapi.vendors.kandji
local str = { type = "string" }

-- { "detail": "..." }
local function error_message(t)
  if type(t.detail) == "string" then return t.detail end
end

return {
  name = "kandji",
  -- the constructor's own options (checked before default_base reads them)
  options = { subdomain = "host", region = { "us", "eu" }, token = "secret" },
  default_base = function(o)
    if o.subdomain then
      return "https://" .. o.subdomain .. (o.region == "eu" and ".api.eu.kandji.io" or ".api.kandji.io")
    end
  end,
  credentials = { "token" },
  error_message = error_message,
  auth = function(o) return { scheme = "bearer", token = o.token } end,
  -- the userapi command: where the constructor's options come from
  cli = {
    env = { { "token", "USERAPI_KANDJI_TOKEN" }, { "subdomain", "USERAPI_KANDJI_SUBDOMAIN" },
            { "region", "USERAPI_KANDJI_REGION" } },
    examples = { "list_users --archived false --format table", "list_users --all --format jsonl" },
  },
  -- Kandji allows 10,000 requests an hour and 50 a second per tenant
  rate_limit = { per_second = 50, per_hour = 10000 },
  ops = {
    --- One page of the tenant's users (up to 300), filtered; `kandji:each_user(params)`
    -- walks every page.
    -- `GET /api/v1/users`
    -- @function list_users
    -- @tparam[opt] table params the query parameters
    -- @tparam[opt] string params.email users whose email contains this (case-insensitive)
    -- @tparam[opt] string params.id one user, by id
    -- @tparam[opt] string params.integration_id users of one directory integration
    -- @tparam[opt] string params.cursor where a page starts: the `cursor` of a `next` URL
    -- @tparam[opt] boolean|string params.archived archived users only (`true`) or active ones
    -- (`false`); also the strings `"true"`/`"false"`
    -- @treturn[1] table the page: `results` (users: `id`, `email`, `name`, `active`,
    -- `archived`, `device_count`, `department`, `job_title`, `integration`, `created_at`,
    -- `updated_at`, `deprecated_user_id`), `next` and `previous` (URLs, or `userapi.null`)
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 401 (bad token), 404 `Invalid cursor`, 429 (rate limit;
    -- retried), a network failure
    -- @raise `bad argument #1 to 'list_users'` on an unknown parameter or a wrong type
    -- @usage local page = assert(kandji:list_users{ email = "ada@", archived = false })
    -- for _, u in ipairs(page.results) do print(u.id, u.email, u.device_count) end
    list_users = {
      method = "GET", path = "/api/v1/users",
      query = {
        email = str, id = str, integration_id = str, cursor = str,
        archived = { type = "flag" },
      },
    },
    --- One user.
    -- `GET /api/v1/users/{user_id}`
    -- @function get_user
    -- @tparam string user_id the user's id (a UUID)
    -- @treturn[1] table the user (the fields of `list_users`'s results)
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 404 `Not found.`, 401, a network failure
    -- @raise `bad argument #1 to 'get_user'` when user_id is not a plain id
    -- @usage local u = assert(kandji:get_user("69c009ca-1f78-4bdf-bb93-08d6d39041db"))
    get_user = { method = "GET", path = "/api/v1/users/{user_id}" },
    --- Deletes a user. Kandji refuses while the user still holds devices.
    -- `DELETE /api/v1/users/{user_id}`
    -- @function delete_user
    -- @tparam string user_id the user's id
    -- @treturn[1] boolean `true` (204)
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 400 `User still assigned to one or more devices.`,
    -- 404, 401, a network failure
    -- @raise `bad argument #1 to 'delete_user'` when user_id is not a plain id
    -- @usage local ok, err = kandji:delete_user(id)
    -- if not ok then print(err) end  -- kandji delete_user: 400 User still assigned ...
    delete_user = { method = "DELETE", path = "/api/v1/users/{user_id}" },
  },
  paging = { op = "list_users", style = "cursor", items = "results" },
  -- desired state (userapi.people): users come from the directory integration,
  -- so the API can find and delete them, not create or change them
  people = {
    lookup = { email = { op = "list_users", params = function(email) return { email = email } end },
               id = { op = "get_user" } },
    normalize = function(u)
      return { id = u.id, email = u.email, name = u.name, kind = "user",
               active = u.archived == true and false or u.active, created_at = u.created_at,
               devices = u.device_count }
    end,
    fields = {},
    cannot_create = "Kandji users come from the tenant's directory integration: "
      .. "the person appears at its next sync (the API cannot create users)",
    cannot_update = "Kandji users come from the tenant's directory integration: change them there",
    -- SCIM (userapi.scim): read and delete only; creation answers 501.
    -- raw: fields of the vendor's record the people layer does not normalize
    scim = { attributes = {
      { "displayName", "name", read_only = true },
      { "title", "job_title", raw = true, read_only = true },
      { "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "department", raw = true,
        read_only = true },
    } },
    delete = { op = "delete_user" },
    -- the vendor refuses to delete a user holding devices (400): a plan says so too
    blocks_delete = function(r)
      local n = tonumber(r.devices) or 0
      if n > 0 then
        return ("%s still holds %d device(s): Kandji refuses to delete a user with devices assigned; "
          .. "unassign them, then offboard again"):format(tostring(r.email or r.id), n)
      end
    end,
  },
}
