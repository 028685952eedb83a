--- Opendatasoft Automation API v1.0, UsersApi: the operations as data.
-- Paths end with a slash, as the vendor's spec has them.
local json = { type = "string" }
-- arrays of the User model: an empty Lua table goes out as []
local user_fields = { email = json, permissions = { type = "array" }, groups = { type = "array_of_objects" },
                      identity_providers = { type = "array_of_objects" } }

return {
  name = "opendatasoft",
  default_base = function(o)
    if o.domain then return "https://" .. o.domain .. "/api/automation/v1.0" end
  end,
  credentials = { "apikey" },
  auth = function(o)
    return { scheme = "apikey", key = o.apikey, ["in"] = o.apikey_in or "header" }
  end,
  ops = {
    get_users = {
      method = "GET", path = "/users/", ok = 200,
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
    get_user = { method = "GET", path = "/users/{username}/", ok = 200, query = { expand = json } },
    update_user = {
      method = "PUT", path = "/users/{username}/", ok = 200,
      body = { kind = "object", required = { "email" }, fields = user_fields },
    },
    delete_user = { method = "DELETE", path = "/users/{username}/", ok = 204 },
    invite_users = {
      method = "POST", path = "/users/invite/", ok = 200, chunk = 100,
      body = { kind = "array", required = { "email" }, fields = user_fields },
    },
    -- The spec's schema is one object, its prose and response speak of items:
    -- a Lua array goes out as an array, a table with keys as one object.
    provision_users = {
      method = "POST", path = "/users/provision/", ok = 200, chunk = 100,
      body = {
        kind = "object_or_array", required = { "email", "identity_provider" },
        fields = setmetatable({ identity_provider = { type = "object", required = { "uid" } } },
                              { __index = user_fields }),
      },
    },
    users_export = {
      method = "GET", path = "/users/export/", ok = 200,
      accept = "text/csv, application/json", response = "csv",
      query = { subdomains = json, delimiter = { type = "string", min_len = 1, max_len = 1 } },
      options = { parse = "boolean" },
    },
  },
  export = "users_export",
  paging = { op = "get_users", style = "offset", items = "results", max = 1000 },
}
