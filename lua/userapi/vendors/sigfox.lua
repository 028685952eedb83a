--- Sigfox API v2, ApiUsersApi: the operations of a Sigfox client, as data.
-- Lua names follow the vendor's client (profile_id, group_ids); `wire` gives
-- the name on the wire.
--
-- `userapi.sigfox{ login = API_LOGIN, password = API_PASSWORD }` (HTTP Basic)
-- makes the client; each operation below is one of its methods:
-- `sigfox:get_api_user(id)`. API users are the accounts of programs, each in
-- a group with profiles (roles).
--
-- Every operation returns the decoded JSON answer (`true` for an empty one),
-- or `nil` and a @{userapi.errors.Error} (`sigfox get_api_user: 404 The
-- requested resource was not found.`; a 400 lists its field errors), and raises
-- `bad argument ...` on input it refuses before sending anything.
--
-- The API user model: `id`, `name`, `timezone`, `creationTime` (ms since the
-- epoch), `accessToken`, `group` (`{ id }`, or in full with `fields`),
-- `profiles` (array of `{ id }`, or in full).
-- @module userapi.vendors.sigfox
local str = { type = "string" }
local FIELDS = { "group(name,type,level,bssId,customerBssId)", "profiles(name,roles(name,perms(name)))" }
local fields = { type = "string", enum = FIELDS }
local name = { type = "string", max_len = 100 }
-- The spec's schema says profileId, its example and hand-written clients
-- say profileIds: the latter is what we send.
local profile_ids = { type = "array" }

-- { message, errors = { { field, message }, ... } }
local function error_message(t)
  local parts = {}
  if type(t.message) == "string" then parts[1] = t.message end
  if type(t.errors) == "table" then
    for _, e in ipairs(t.errors) do
      if type(e) == "table" then
        local msg = tostring(e.message)
        parts[#parts + 1] = e.field and (tostring(e.field) .. ": " .. msg) or msg
      end
    end
  end
  if #parts > 0 then return table.concat(parts, "; ") end
end

return {
  name = "sigfox",
  default_base = function() return "https://api.sigfox.com/v2" end,
  options = { login = "login", password = "secret" },
  credentials = { "password" },
  error_message = error_message,
  auth = function(o) return { scheme = "basic", user = o.login, password = o.password } end,
  -- the userapi command: where the constructor's options come from
  cli = {
    env = { { "login", "USERAPI_SIGFOX_LOGIN" }, { "password", "USERAPI_SIGFOX_PASSWORD" } },
    examples = { "update_api_user 5138e7df --body '{\"name\":\"x\"}'" },
    -- an API user's password: masked in what the command prints (--show-secrets),
    -- but in the answer of the operation that makes a new one (its only copy)
    secret_fields = { "accessToken" }, secret_ops = { "renew_credential" },
  },
  ops = {
    --- One page of API users; `sigfox:each_user(params)` walks every page.
    -- `GET /api-users/`
    -- @function list_api_users
    -- @tparam[opt] table params the query parameters
    -- @tparam[opt] string params.fields `"group(name,type,level,bssId,customerBssId)"` or
    -- `"profiles(name,roles(name,perms(name)))"`: expand those objects
    -- @tparam[opt] string params.profile_id API users with this profile (`profileId`)
    -- @tparam[opt] {string,...}|string params.group_ids API users of these groups
    -- (`groupIds`, comma-joined)
    -- @tparam[opt] int params.limit API users per page, 1..100
    -- @tparam[opt] int params.offset the first one's position, 0..
    -- @treturn[1] table the page: `data` (API users) and `paging` (`next`: a URL,
    -- absent on the last page)
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 401 `Unauthorized`, 400, a network failure
    -- @raise `bad argument #1 to 'list_api_users'` on an unknown parameter, a fields value
    -- outside the list, a limit out of range
    -- @usage local page = assert(sigfox:list_api_users{ group_ids = { GROUP }, limit = 100 })
    list_api_users = {
      method = "GET", path = "/api-users/",
      query = {
        fields = fields,
        profile_id = { type = "string", wire = "profileId" },
        group_ids = { type = "array", wire = "groupIds", style = "csv" },
        limit = { type = "integer", min = 1, max = 100 },
        offset = { type = "integer", min = 0 },
      },
    },
    --- Creates an API user.
    -- `POST /api-users/`
    -- @function create_api_user
    -- @tparam table user
    -- @tparam string user.groupId required: its group
    -- @tparam string user.name required, at most 100 characters
    -- @tparam string user.timezone required (`"Europe/Paris"`, `"UTC"`)
    -- @tparam {string,...} user.profileIds required: its profiles (sent as `profileIds`)
    -- @treturn[1] table `{ id = ... }` (201)
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 400 (`profileIds: unknown profile`, `groupId: unknown
    -- group`, extra fields), 401, 403, a network failure
    -- @raise `bad argument #1 to 'create_api_user'` when a required field is missing or too long
    -- @usage local res = assert(sigfox:create_api_user{ groupId = GROUP, name = "ada@example.com automation",
    --   timezone = "UTC", profileIds = { PROFILE } })
    create_api_user = {
      method = "POST", path = "/api-users/",
      body = {
        kind = "object", required = { "groupId", "name", "timezone", "profileIds" },
        fields = { groupId = str, name = name, timezone = str, profileIds = profile_ids },
      },
    },
    --- One API user, with its access token.
    -- `GET /api-users/{id}`
    -- @function get_api_user
    -- @tparam string id the API user's id
    -- @tparam[opt] table params
    -- @tparam[opt] string params.fields as `list_api_users`
    -- @treturn[1] table the API user
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 404, 401, a network failure
    -- @raise `bad argument #1 to 'get_api_user'` when id is not a plain id
    -- @usage local u = assert(sigfox:get_api_user("5138e7dfa2f1fffaf25fd409"))
    get_api_user = { method = "GET", path = "/api-users/{id}", query = { fields = fields } },
    --- Updates an API user: the fields given change.
    -- `PUT /api-users/{id}`
    -- @function update_api_user
    -- @tparam string id the API user's id
    -- @tparam table fields `name` (at most 100 characters), `timezone`, `profileIds`
    -- (replaces the profiles)
    -- @treturn[1] boolean `true` (204)
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 400, 404, 401, a network failure
    -- @raise `bad argument #2 to 'update_api_user'` on a field of the wrong type or too long
    -- @usage assert(sigfox:update_api_user(id, { name = "Device messages only" }))
    update_api_user = {
      method = "PUT", path = "/api-users/{id}",
      body = { kind = "object", fields = { name = name, timezone = str, profileIds = profile_ids } },
    },
    --- Deletes an API user.
    -- `DELETE /api-users/{id}`
    -- @function delete_api_user
    -- @tparam string id the API user's id
    -- @treturn[1] boolean `true` (204)
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 404, 401, 403, a network failure
    -- @raise `bad argument #1 to 'delete_api_user'` when id is not a plain id
    -- @usage assert(sigfox:delete_api_user(id))
    delete_api_user = { method = "DELETE", path = "/api-users/{id}" },
    --- Adds profiles to an API user (those it has stay).
    -- `PUT /api-users/{id}/profiles`
    -- @function add_profile_to_api_user
    -- @tparam string id the API user's id
    -- @tparam table profiles
    -- @tparam {string,...} profiles.profileIds required: the profiles to add
    -- @treturn[1] boolean `true` (204)
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 400 (unknown profile), 404, 401, a network failure
    -- @raise `bad argument #2 to 'add_profile_to_api_user'` without profileIds
    -- @usage assert(sigfox:add_profile_to_api_user(id, { profileIds = { PROFILE } }))
    add_profile_to_api_user = {
      method = "PUT", path = "/api-users/{id}/profiles",
      body = { kind = "object", required = { "profileIds" }, fields = { profileIds = profile_ids } },
    },
    --- Removes one profile from an API user.
    -- `DELETE /api-users/{id}/profiles/{profile_id}`
    -- @function delete_profile_of_api_user
    -- @tparam string id the API user's id
    -- @tparam string profile_id the profile to remove
    -- @treturn[1] boolean `true` (204)
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 404 (no such user, or the user lacks it), 401,
    -- a network failure
    -- @raise `bad argument #1 to 'delete_profile_of_api_user'` when an id is not a plain id
    -- @usage assert(sigfox:delete_profile_of_api_user(id, PROFILE))
    delete_profile_of_api_user = {
      method = "DELETE", path = "/api-users/{id}/profiles/{profile_id}",
    },
    --- A new access token for an API user; the old one stops working.
    -- `PUT /api-users/{id}/renew-credential`
    -- @function renew_credential
    -- @tparam string id the API user's id
    -- @treturn[1] table `{ accessToken = ... }`
    -- @treturn[2] nil
    -- @treturn[2] userapi.errors.Error 404, 401, 403, a network failure
    -- @raise `bad argument #1 to 'renew_credential'` when id is not a plain id
    -- @usage local res = assert(sigfox:renew_credential(id))
    -- store(id, res.accessToken)
    renew_credential = { method = "PUT", path = "/api-users/{id}/renew-credential" },
  },
  paging = { op = "list_api_users", style = "offset", items = "data", next = "paging.next", max = 100 },
  -- desired state (userapi.people): API users have no email; a person's is
  -- named after them ("ada@example.com automation") and found by that name
  people = {
    lookup = { email = { op = "list_api_users", params = function() return { limit = 100 } end },
               id = { op = "get_api_user" } },
    normalize = function(u)
      local created = tonumber(u.creationTime)
      local ids = {}
      for i, p in ipairs(type(u.profiles) == "table" and u.profiles or {}) do ids[i] = p.id end
      local group = type(u.group) == "table" and u.group or {}
      return { id = u.id, email = type(u.name) == "string" and u.name:match("^(%S+@%S+)") or nil, name = u.name,
               kind = "api_user", timezone = u.timezone, group_id = group.id or group[1] and group[1].id,
               profile_ids = ids,
               created_at = created and os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(created / 1000)) or nil }
    end,
    fields = { name = "string", timezone = "string", profile_ids = "set" },
    -- API users are accounts of automation, named after their owner: a review reports them apart
    service_kinds = { api_user = true },
    create_only = { group_id = true },
    create = { {
      op = "create_api_user", action = "created", needs = { "group_id", "profile_ids" },
      reread = true, -- the answer is the new id only: the account is read back
      body = function(s)
        return { groupId = s.group_id, name = s.name or (s.email .. " automation"), timezone = s.timezone or "UTC",
                 profileIds = s.profile_ids }
      end,
    } },
    cannot_create = "creating a Sigfox API user needs group_id and profile_ids",
    update = { op = "update_api_user", body = function(c)
      return { name = c.name, timezone = c.timezone, profileIds = c.profile_ids }
    end },
    -- SCIM (userapi.scim): the timezone; the name stays "<email> automation"
    -- (how the people layer finds a person's API users), shown as displayName;
    -- group_id and profile_ids come from the application's `defaults`
    -- emails = false: the email in the name is no address the vendor holds
    scim = { attributes = { { "displayName", "name", read_only = true }, { "timezone", "timezone" } },
             emails = false },
    delete = { op = "delete_api_user" },
    -- userapi.rotate: a new access token; the API user logs in with its id and that token
    rotate = { op = "renew_credential", kinds = { "api_user" }, verify = "get_api_user",
               login = function(res, id) return { login = id, password = res.accessToken } end },
  },
}
