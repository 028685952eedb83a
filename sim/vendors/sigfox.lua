-- Sigfox API v2, ApiUsersApi (8 ops).  HTTP Basic auth; errors are
-- {"message": ..., "errors": [{type, field, message}]}.
local json = require "sim.json"
local util = require "sim.util"
local Store = require "sim.store"

local V = { name = "sigfox", prefix = "/sigfox/v2", login = "sigfox-login", password = "sigfox-secret" }

local MSG = { [400] = "bad request", [401] = "Unauthorized", [403] = "You are not allowed to access the resource.",
  [404] = "The requested resource was not found.", [429] = "too many requests", [500] = "Internal server error" }
local function M(status, message, errors, headers)
  return { status = status, headers = headers, body = json.encode({ message = message, errors = errors }) }
end
V.error = function(status, msg) return M(status, msg or MSG[status] or require("sim.http").REASON[status] or "error") end
local function bad(typ, field, message)
  return M(400, "bad request", json.array({ { type = typ, field = field, message = message } }))
end

local GROUPS = {
  babecafebabecafebabedcef = { id = "babecafebabecafebabedcef", name = "SIGFOX_Group", type = 0, level = 1,
    bssId = "SIGFOX", customerBssId = json.null },
  ["5e1f2a3b4c5d6e7f8a9b0c1d"] = { id = "5e1f2a3b4c5d6e7f8a9b0c1d", name = "Acme Devices", type = 2, level = 2,
    bssId = "ACME-001", customerBssId = "C-42" },
}
local PROFILES = {
  ["5138e7dfa2f1fffaf25fd409"] = { name = "SNO [W]", roles = { { name = "SNO", perms = { { name = "DEVICE_WRITE" }, { name = "DEVICE_READ" } } } } },
  ["5138e7dfa2f1fffaf25fd40a"] = { name = "Device messages only", roles = { { name = "READER", perms = { { name = "MESSAGE_READ" } } } } },
  ["5138e7dfa2f1fffaf25fd40b"] = { name = "Group admin", roles = { { name = "ADMIN", perms = { { name = "GROUP_WRITE" }, { name = "USER_WRITE" } } } } },
}

local function mkuser(id, name, tz, group, profiles, ctime, token)
  return { id = id, name = name, timezone = tz, creationTime = ctime or math.floor(util.now() * 1000),
    accessToken = token or util.hex(32), group_id = group, profile_ids = json.array(profiles) }
end

local GEN_PREFIX = "5f00000000"
local users = Store.new {
  key = "id",
  gen = function(k)
    return mkuser(GEN_PREFIX .. string.format("%014x", k), string.format("gen-%07d automation", k), "UTC",
      "5e1f2a3b4c5d6e7f8a9b0c1d", { "5138e7dfa2f1fffaf25fd40a" }, 1700000000000 + k,
      string.format("%032x", k))
  end,
  parse = function(id)
    local h = id:sub(1, #GEN_PREFIX) == GEN_PREFIX and id:match("^%x+$", #GEN_PREFIX + 1)
    return h and #h == 14 and tonumber(h, 16) or nil
  end,
}

function V.reset()
  users:clear()
  V.applied = {}
  users:add(mkuser("5f3a9c1e2b4d6f8a0c1e2b4d", "ada@example.com automation", "Europe/London",
    "babecafebabecafebabedcef", { "5138e7dfa2f1fffaf25fd409" }, 1435579813762, "b00c92a71b3b8dfa1fc236d90b50aeb3"))
  users:add(mkuser("5f3a9c1e2b4d6f8a0c1e2b4e", "alan@example.com reporting", "Europe/Paris",
    "babecafebabecafebabedcef", { "5138e7dfa2f1fffaf25fd40a" }, 1435579813763, "c11d03b82c4c9eeb2ad347ea1c61bfc4"))
  users:add(mkuser("5f3a9c1e2b4d6f8a0c1e2b4f", "grace@example.com ops", "America/New_York",
    "5e1f2a3b4c5d6e7f8a9b0c1d", { "5138e7dfa2f1fffaf25fd40a", "5138e7dfa2f1fffaf25fd40b" }, 1435579813764,
    "d22e14c93d5daffc3be458fb2d72c0d5"))
end

function V.seed(n) return users:generate(n) end

-- no users (POST /_sim/reset {"empty":true}, server.lua --empty)
function V.empty() users:clear() end

function V.auth(req)
  local a = req.headers.authorization
  local www = { ["WWW-Authenticate"] = 'Basic realm="sigfox"' }
  local b64 = a and a:match("^[Bb]asic%s+(%S+)%s*$")
  local dec = b64 and util.b64decode(b64)
  local id, pw = (dec or ""):match("^([^:]*):(.*)$")
  if id and id == V.login and pw == V.password then return end
  local u = id and users:get(id)   -- an API user's own id + accessToken works too
  if u and u.accessToken == pw then return end
  return M(401, "Unauthorized", nil, www)
end

-- fields=group(name,type,level,bssId,customerBssId),profiles(name,roles(name,perms(name)))
local function parse_fields(s)
  local want = {}
  if not s or s == "" then return want end
  local depth, start = 0, 1
  local parts = {}
  for i = 1, #s do
    local c = s:sub(i, i)
    if c == "(" then depth = depth + 1 elseif c == ")" then depth = depth - 1
    elseif c == "," and depth == 0 then parts[#parts + 1] = s:sub(start, i - 1); start = i + 1 end
  end
  parts[#parts + 1] = s:sub(start)
  for _, p in ipairs(parts) do
    local name, sub = p:match("^%s*([%w_]+)%s*%((.*)%)%s*$")
    name = name or p:match("^%s*([%w_]+)%s*$")
    if name ~= "group" and name ~= "profiles" then return nil, p end
    local set = {}
    for f in (sub or ""):gsub("%b()", ""):gmatch("[%w_]+") do set[f] = true end
    if sub and sub:find("roles%s*%(") then set.roles_full = true end
    if sub and sub:find("perms") then set.perms = true end
    want[name] = set
  end
  return want
end

local function render(u, want)
  local g = GROUPS[u.group_id] or { id = u.group_id }
  local group = { id = g.id }
  for f in pairs(want.group or {}) do if g[f] ~= nil then group[f] = g[f] end end
  local profiles = json.array()
  for _, pid in ipairs(u.profile_ids) do
    local p, out = PROFILES[pid] or {}, { id = pid }
    local w = want.profiles
    if w then
      if w.name then out.name = p.name end
      if w.roles then
        out.roles = json.array()
        for _, r in ipairs(p.roles or {}) do
          local ro = { name = r.name }
          if w.perms then ro.perms = r.perms end
          out.roles[#out.roles + 1] = ro
        end
      end
    end
    profiles[#profiles + 1] = out
  end
  return { id = u.id, name = u.name, timezone = u.timezone, creationTime = u.creationTime,
    accessToken = u.accessToken, group = group, profiles = profiles }
end

local function list_users(ctx, req)
  local a = req.args
  local want, badf = parse_fields(util.str_arg(a, "fields"))
  if not want then return bad("query", "fields", "unknown field: " .. badf) end
  local limit, offset = 100, 0
  if util.str_arg(a, "limit") then
    limit = util.int(util.str_arg(a, "limit"))
    if not limit or limit < 1 or limit > 100 then return bad("query", "limit", "must be between 1 and 100") end
  end
  if util.str_arg(a, "offset") then
    offset = util.int(util.str_arg(a, "offset"))
    if not offset or offset < 0 then return bad("query", "offset", "must be greater than or equal to 0") end
  end
  local gids
  for _, v in ipairs(util.list_arg(a, "groupIds") or {}) do
    for g in v:gmatch("[^,%s]+") do gids = gids or {}; gids[g] = true end
  end
  local pid = util.str_arg(a, "profileId")
  local list, total
  if gids or pid then
    list = users:filter(function(u)
      if gids and not gids[u.group_id] then return false end
      if pid then
        local has = false
        for _, p in ipairs(u.profile_ids) do if p == pid then has = true end end
        if not has then return false end
      end
      return true
    end)
    total = #list
    list = table.move(list, offset + 1, math.min(total, offset + limit), 1, {})
  else
    total, list = users:count(), users:slice(offset, limit)
  end
  local data = json.array()
  for i, u in ipairs(list) do data[i] = render(u, want) end
  local paging = {}
  if offset + limit < total then
    paging.next = ctx.origin .. V.prefix .. "/api-users/?" ..
      util.rebuild_query(req.query, { limit = true, offset = true }, { { "limit", limit }, { "offset", offset + limit } })
  end
  return { status = 200, body = json.encode({ data = data, paging = paging }) }
end

local function get_user(ctx, req, id)
  local u = users:get(id)
  if not u then return V.error(404) end
  local want, badf = parse_fields(util.str_arg(req.args, "fields"))
  if not want then return bad("query", "fields", "unknown field: " .. badf) end
  return { status = 200, body = json.encode(render(u, want)) }
end

local function body_obj(req)
  local b, e = json.decode(req.body ~= "" and req.body or "null")
  if e or type(b) ~= "table" or (json.looks_array(b) and next(b) ~= nil) then
    return nil, bad("body", "", e and ("malformed JSON: " .. e) or "a JSON object is required")
  end
  return b
end

-- Validate keys of body b against allowed {key -> checker}; checkers return an error string.
local function check_tz(v)
  if type(v) ~= "string" or not (v:match("^[%a_]+/[%w_%+%-/]+$") or v == "UTC" or v == "GMT") then
    return "invalid timezone"
  end
end
local function check_name(v)
  if type(v) ~= "string" or #v == 0 or #v > 100 then return "must be a string of 1 to 100 characters" end
end
local function check_profiles(v)
  if type(v) ~= "table" or not json.looks_array(v) then return "must be an array of profile ids" end
  for _, p in ipairs(v) do
    if not PROFILES[p] then return "unknown profile: " .. tostring(p) end
  end
end

local function validate(b, spec, required)
  local errs = json.array()
  for k, v in pairs(b) do
    local chk = spec[k]
    if not chk then errs[#errs + 1] = { type = "body", field = k, message = "extra fields not permitted" }
    else
      local m = v == json.null and "may not be null" or chk(v)
      if m then errs[#errs + 1] = { type = "body", field = k, message = m } end
    end
  end
  for _, k in ipairs(required or {}) do
    if b[k] == nil then errs[#errs + 1] = { type = "body", field = k, message = "may not be null" } end
  end
  if #errs > 0 then return M(400, "bad request", errs) end
end

local function create_user(ctx, req)
  local b, e = body_obj(req)
  if e then return e end
  e = validate(b, { groupId = function(v) if not GROUPS[v] then return "unknown group" end end,
    name = check_name, timezone = check_tz, profileIds = check_profiles },
    { "groupId", "name", "timezone", "profileIds" })
  if e then return e end
  local id
  repeat id = util.hex(24) until not users:get(id)
  users:add(mkuser(id, b.name, b.timezone, b.groupId, util.shallow_copy(b.profileIds)))
  return { status = 201, headers = { Location = ctx.origin .. V.prefix .. "/api-users/" .. id },
    body = json.encode({ id = id }) }
end

local function update_user(ctx, req, id)
  local u = users:get(id)
  if not u then return V.error(404) end
  local b, e = body_obj(req)
  if e then return e end
  e = validate(b, { name = check_name, timezone = check_tz, profileIds = check_profiles, profileId = check_profiles })
  if e then return e end
  if b.name then u.name = b.name end
  if b.timezone then u.timezone = b.timezone end
  local p = b.profileIds or b.profileId
  if p then u.profile_ids = json.array(util.shallow_copy(p)) end
  return { status = 204 }
end

local function delete_user(ctx, req, id)
  if not users:remove(id) then return V.error(404) end
  return { status = 204 }
end

local function add_profiles(ctx, req, id)
  local u = users:get(id)
  if not u then return V.error(404) end
  local b, e = body_obj(req)
  if e then return e end
  e = validate(b, { profileIds = check_profiles, profileId = check_profiles })
  if e then return e end
  local p = b.profileIds or b.profileId
  if not p then return bad("body", "profileIds", "may not be null") end
  local have = {}
  for _, x in ipairs(u.profile_ids) do have[x] = true end
  for _, x in ipairs(p) do if not have[x] then u.profile_ids[#u.profile_ids + 1] = x; have[x] = true end end
  return { status = 204 }
end

local function delete_profile(ctx, req, id, pid)
  local u = users:get(id)
  if not u then return V.error(404) end
  for i, x in ipairs(u.profile_ids) do
    if x == pid then table.remove(u.profile_ids, i); return { status = 204 } end
  end
  return V.error(404)
end

local function renew(ctx, req, id)
  local u = users:get(id)
  if not u then return V.error(404) end
  u.accessToken = util.hex(32)
  return { status = 200, body = json.encode({ accessToken = u.accessToken }) }
end

V.routes = {
  { "GET", "^/api%-users/$", "list_api_users", list_users },
  { "POST", "^/api%-users/$", "create_api_user", create_user, mutating = true },
  { "GET", "^/api%-users/([^/]+)$", "get_api_user", get_user },
  { "PUT", "^/api%-users/([^/]+)$", "update_api_user", update_user, mutating = true },
  { "DELETE", "^/api%-users/([^/]+)$", "delete_api_user", delete_user, mutating = true },
  { "PUT", "^/api%-users/([^/]+)/profiles$", "add_profile_to_api_user", add_profiles, mutating = true },
  { "DELETE", "^/api%-users/([^/]+)/profiles/([^/]+)$", "delete_profile_of_api_user", delete_profile, mutating = true },
  { "PUT", "^/api%-users/([^/]+)/renew%-credential$", "renew_credential", renew, mutating = true },
}

local FULL = { group = { name = true, type = true, level = true, bssId = true, customerBssId = true },
  profiles = { name = true, roles = true, perms = true } }
function V.dump(args)
  local off, lim = util.int(util.str_arg(args, "offset") or "0") or 0, util.int(util.str_arg(args, "limit") or "")
  local out = json.array()
  for i, u in ipairs(users:slice(off, lim or users:count())) do out[i] = render(u, FULL) end
  return { users = out, count = users:count(), groups = GROUPS, profiles = PROFILES }
end

-- 405 body: {"message":"Method PATCH not allowed.","allowedMethods":[...]}
function V.method_not_allowed(method, allowed)
  return { status = 405, headers = { Allow = table.concat(allowed, ", ") },
    body = json.encode({ message = "Method " .. method .. " not allowed.", allowedMethods = json.array(allowed) }) }
end

return V
