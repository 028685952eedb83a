--- Sigfox API v2, ApiUsersApi: the operations as data. Lua names follow the
-- vendor's client (profile_id, group_ids); `wire` gives the name on the wire.
local str = { type = "string" }
local FIELDS = { "group(name,type,level,bssId,customerBssId)", "profiles(name,roles(name,perms(name)))" }
local fields = { type = "string", enum = FIELDS }
local name = { type = "string", max_len = 100 }
-- The spec's schema says profileId, its example and hand-written clients
-- say profileIds: the latter is what we send.
local profile_ids = { type = "array" }

return {
  name = "sigfox",
  default_base = function() return "https://api.sigfox.com/v2" end,
  credentials = { "password" },
  auth = function(o) return { scheme = "basic", user = o.login, password = o.password } end,
  ops = {
    list_api_users = {
      method = "GET", path = "/api-users/", ok = 200,
      query = {
        fields = fields,
        profile_id = { type = "string", wire = "profileId" },
        group_ids = { type = "array", wire = "groupIds", style = "csv" },
        limit = { type = "integer", min = 1, max = 100 },
        offset = { type = "integer", min = 0 },
      },
    },
    create_api_user = {
      method = "POST", path = "/api-users/", ok = 201,
      body = {
        kind = "object", required = { "groupId", "name", "timezone", "profileIds" },
        fields = { groupId = str, name = name, timezone = str, profileIds = profile_ids },
      },
    },
    get_api_user = { method = "GET", path = "/api-users/{id}", ok = 200, query = { fields = fields } },
    update_api_user = {
      method = "PUT", path = "/api-users/{id}", ok = 204,
      body = { kind = "object", fields = { name = name, timezone = str, profileIds = profile_ids } },
    },
    delete_api_user = { method = "DELETE", path = "/api-users/{id}", ok = 204 },
    add_profile_to_api_user = {
      method = "PUT", path = "/api-users/{id}/profiles", ok = 204,
      body = { kind = "object", required = { "profileIds" }, fields = { profileIds = profile_ids } },
    },
    delete_profile_of_api_user = {
      method = "DELETE", path = "/api-users/{id}/profiles/{profile_id}", ok = 204,
    },
    renew_credential = { method = "PUT", path = "/api-users/{id}/renew-credential", ok = 200 },
  },
  paging = { op = "list_api_users", style = "offset", items = "data", next = "paging", max = 100 },
}
