-- Arthur platform API, UsersV1Api (10 ops) plus the OIDC discovery document
-- and a client_credentials token endpoint.  FastAPI-style errors:
-- {"detail": "..."} or {"detail": [{loc, msg, type}]} (422).
local json = require "sim.json"
local util = require "sim.util"
local Store = require "sim.store"

local V = { name = "arthur", prefix = "/arthur", token = "arthur-test-token",
            client_id = "arthur-client", client_secret = "arthur-secret" }

local ORG_ID, ORG_NAME = "3f8e7a52-1c4b-4d2e-9a6f-0b1c2d3e4f50", "Acme Analytics"
local ME_ID = "00000000-0000-4000-8000-000000000001"
local SA_ID = "00000000-0000-4000-8000-000000000004"

local function D(status, detail, headers)
  return { status = status, headers = headers, body = json.encode({ detail = detail }) }
end
local DEFAULT_DETAIL = { [400] = "Bad Request", [401] = "Not authenticated", [403] = "Forbidden",
  [404] = "Resource not found", [405] = "Method Not Allowed", [409] = "Conflict", [500] = "Internal server error" }
V.error = function(status, msg)
  return D(status, msg or DEFAULT_DETAIL[status] or require("sim.http").REASON[status] or "Error")
end

-- 422 entries.  Default wording follows the brief (pydantic v1:
-- "field required"/"value_error.missing"); config arthur_validation_style="v2"
-- switches to pydantic v2 wording ("Field required"/"missing").
local VMSG = {
  v1 = { missing = { "field required", "value_error.missing" },
         string = { "str type expected", "type_error.str" },
         int = { "value is not a valid integer", "type_error.integer" },
         ge = { "ensure this value is greater than or equal to %s", "value_error.number.not_ge" },
         le = { "ensure this value is less than or equal to %s", "value_error.number.not_le" },
         enum = { "value is not a valid enumeration member; permitted: %s", "type_error.enum" },
         json = { "Expecting value", "value_error.jsondecode" },
         dict = { "value is not a valid dict", "type_error.dict" },
         list = { "value is not a valid list", "type_error.list" } },
  v2 = { missing = { "Field required", "missing" },
         string = { "Input should be a valid string", "string_type" },
         int = { "Input should be a valid integer, unable to parse string as an integer", "int_parsing" },
         ge = { "Input should be greater than or equal to %s", "greater_than_equal" },
         le = { "Input should be less than or equal to %s", "less_than_equal" },
         enum = { "Input should be %s", "enum" },
         json = { "JSON decode error", "json_invalid" },
         dict = { "Input should be a valid dictionary or object to extract fields from", "model_attributes_type" },
         list = { "Input should be a valid list", "list_type" } },
}
local function verr(ctx, list)
  local style = VMSG[ctx.cfg.arthur_validation_style] or VMSG.v1
  local detail = json.array()
  for _, e in ipairs(list) do
    local m = style[e.kind]
    detail[#detail + 1] = { loc = e.loc, msg = m[1]:format(e.arg or ""), type = m[2] }
  end
  return { status = 422, body = json.encode({ detail = detail }) }
end

local SEED_TIME = "2025-01-02T03:04:05.000000Z"
local function mkuser(o)
  local now = (not o.created_at or not o.updated_at) and util.iso() or nil
  return {
    id = o.id or util.uuid(), first_name = o.first_name, last_name = o.last_name == nil and json.null or o.last_name,
    email = o.email == nil and json.null or o.email, picture = o.picture or json.null,
    user_type = o.user_type or "user", data_plane_id = o.data_plane_id or json.null,
    client_id = o.client_id or json.null, organization_id = ORG_ID, organization_name = ORG_NAME,
    created_at = o.created_at or now, updated_at = o.updated_at or o.created_at or now,
  }
end

local GEN_PREFIX = "10000000-0000-4000-8000-"
local users = Store.new {
  key = "id",
  gen = function(k)
    local n = string.format("%07d", k)
    return mkuser { id = GEN_PREFIX .. string.format("%012d", k), first_name = "Gen", last_name = "User" .. n,
      email = "gen" .. n .. "@example.com", created_at = "2025-02-01T00:00:00.000000Z" }
  end,
  parse = function(id)
    local d = id:sub(1, #GEN_PREFIX) == GEN_PREFIX and id:match("^%d+$", #GEN_PREFIX + 1)
    return d and #d == 12 and tonumber(d) or nil
  end,
}
V.users = users

function V.reset()
  users:clear()
  V.applied, V.tokens, V.secrets, V.passwords, V.invites = {}, {}, {}, {}, json.array()
  V.tokens_issued = 0
  local t = SEED_TIME
  users:add(mkuser { id = ME_ID, first_name = "Grace", last_name = "Hopper", email = "grace@example.com", created_at = t })
  users:add(mkuser { id = "00000000-0000-4000-8000-000000000002", first_name = "Ada", last_name = "Lovelace",
    email = "ada@example.com", created_at = "2025-01-03T03:04:05.000000Z" })
  users:add(mkuser { id = "00000000-0000-4000-8000-000000000003", first_name = "Alan", last_name = "Turing",
    email = "alan@example.com", picture = "https://example.com/alan.png", created_at = "2025-01-04T03:04:05.000000Z" })
  users:add(mkuser { id = SA_ID, first_name = "userapi automation", user_type = "service_account",
    client_id = V.client_id, created_at = "2025-01-05T03:04:05.000000Z" })
  users:add(mkuser { id = "00000000-0000-4000-8000-000000000005", first_name = "edge data plane",
    user_type = "data_plane", data_plane_id = "6d1e2f30-4a5b-4c6d-8e7f-a0b1c2d3e4f5",
    created_at = "2025-01-06T03:04:05.000000Z" })
  users:add(mkuser { id = "00000000-0000-4000-8000-000000000006", first_name = "Katherine", last_name = "Johnson",
    email = "katherine@example.com", created_at = "2025-01-07T03:04:05.000000Z" })
  V.secrets[V.client_id] = { secret = V.client_secret, user_id = SA_ID }
end

function V.seed(n) return users:generate(n) end

-- no users (POST /_sim/reset {"empty":true}, server.lua --empty)
function V.empty() users:clear() end

function V.dump(args)
  local off, lim = util.int(util.str_arg(args, "offset") or "0") or 0, util.int(util.str_arg(args, "limit") or "")
  local live = 0
  local now = util.now()
  for _, t in pairs(V.tokens) do if t.expires_at > now then live = live + 1 end end
  return { users = json.array(users:slice(off, lim or users:count())), count = users:count(),
    me_id = ME_ID, organization_id = ORG_ID, invites = V.invites, tokens_issued = V.tokens_issued,
    tokens_live = live }
end

function V.auth(req, ctx)
  local a = req.headers.authorization
  local tok = a and a:match("^[Bb]earer%s+(%S+)%s*$")
  local www = { ["WWW-Authenticate"] = "Bearer" }
  if not tok then return D(401, "Not authenticated", www) end
  if tok == V.token then ctx.user_id = ME_ID; return end
  local t = V.tokens[tok]
  if not t then return D(401, "Could not validate credentials", www) end
  if t.expires_at <= util.now() then return D(401, "Token has expired", www) end
  ctx.user_id = t.user_id
end

local function origin(ctx) return ctx.origin .. V.prefix end

local function discovery(ctx)
  local o = origin(ctx)
  return { status = 200, body = json.encode({
    issuer = o .. "/oidc",
    authorization_endpoint = o .. "/oidc/auth",
    token_endpoint = o .. "/oidc/token",
    device_authorization_endpoint = o .. "/oidc/auth/device",
    jwks_uri = o .. "/oidc/certs",
    grant_types_supported = { "client_credentials", "authorization_code", "urn:ietf:params:oauth:grant-type:device_code" },
    token_endpoint_auth_methods_supported = { "client_secret_basic", "client_secret_post" },
    response_types_supported = { "code" },
    scopes_supported = { "openid", "email", "profile" },
  }) }
end

local function oauth_err(status, code, desc)
  return { status = status, headers = { ["Cache-Control"] = "no-store" },
    body = json.encode({ error = code, error_description = desc }) }
end

local function token(ctx, req)
  local form = util.parse_query(req.body)
  local id, secret
  local basic = req.headers.authorization and req.headers.authorization:match("^[Bb]asic%s+(%S+)")
  if basic then
    local dec = util.b64decode(basic) or ""
    id, secret = dec:match("^([^:]*):(.*)$")
    id, secret = id and util.unescape_form(id), secret and util.unescape_form(secret)
  else
    id, secret = util.str_arg(form, "client_id"), util.str_arg(form, "client_secret")
  end
  local grant = util.str_arg(form, "grant_type")
  if not grant then return oauth_err(400, "invalid_request", "Missing form parameter: grant_type") end
  if grant ~= "client_credentials" then return oauth_err(400, "unsupported_grant_type", "Unsupported grant_type") end
  local c = id and V.secrets[id]
  if not c or c.secret ~= secret or not users:get(c.user_id) then
    return oauth_err(401, "invalid_client", "Invalid client or Invalid client credentials")
  end
  local ttl = ctx.cfg.arthur_token_ttl
  local tok = "sim-arthur-" .. util.hex(40)
  V.tokens[tok] = { user_id = c.user_id, expires_at = util.now() + ttl }
  V.tokens_issued = V.tokens_issued + 1
  return { status = 200, headers = { ["Cache-Control"] = "no-store" }, body = json.encode({
    access_token = tok, token_type = "Bearer", expires_in = ttl, refresh_expires_in = 0,
    scope = util.str_arg(form, "scope") or "openid email profile", ["not-before-policy"] = 0 }) }
end

local function ok(u, status) return { status = status or 200, body = json.encode(u) } end

local function users_me(ctx)
  local u = users:get(ctx.user_id)
  if not u then return V.error(404) end
  return ok(u)
end

local function accept_invite(ctx)
  local me = users:get(ctx.user_id)
  for _, inv in ipairs(V.invites) do
    if me and type(me.email) == "string" and inv.email:lower() == me.email:lower() then inv.status = "accepted" end
  end
  return { status = 204 }
end

local SORTS = { name = true, email = true, created_at = true, updated_at = true }
local TYPES = { user = true, data_plane = true, service_account = true }

local function list_users(ctx, req)
  local a, errs = req.args, {}
  local function int_param(name, dflt, lo, hi)
    local s = util.str_arg(a, name)
    if not s then return dflt end
    local v = util.int(s)
    if not v then errs[#errs + 1] = { loc = { "query", name }, kind = "int" }
    elseif v < lo then errs[#errs + 1] = { loc = { "query", name }, kind = "ge", arg = lo }
    elseif hi and v > hi then errs[#errs + 1] = { loc = { "query", name }, kind = "le", arg = hi } end
    return v
  end
  local page = int_param("page", 1, 1)
  local size = int_param("page_size", 20, 1, 1000)
  local sort, order = util.str_arg(a, "sort"), util.str_arg(a, "order") or "asc"
  if sort and not SORTS[sort] then
    errs[#errs + 1] = { loc = { "query", "sort" }, kind = "enum", arg = "'name', 'email', 'created_at' or 'updated_at'" }
  end
  if order ~= "asc" and order ~= "desc" then
    errs[#errs + 1] = { loc = { "query", "order" }, kind = "enum", arg = "'asc' or 'desc'" }
  end
  local types = util.list_arg(a, "user_types") or { "user", "service_account" }
  local tset = {}
  for i, t in ipairs(types) do
    if not TYPES[t] then
      errs[#errs + 1] = { loc = { "query", "user_types", i - 1 }, kind = "enum", arg = "'user', 'data_plane' or 'service_account'" }
    end
    tset[t] = true
  end
  if #errs > 0 then return verr(ctx, errs) end
  local ids
  for _, id in ipairs(util.list_arg(a, "user_ids") or {}) do ids = ids or {}; ids[id] = true end
  local search = util.str_arg(a, "search")
  if search == "" then search = nil end

  local function match(u)
    if not tset[u.user_type] then return false end
    if ids and not ids[u.id] then return false end
    if search and not (util.icontains(u.first_name, search) or util.icontains(u.last_name, search)
      or util.icontains(u.email, search)
      or util.icontains((u.first_name or "") .. " " .. (type(u.last_name) == "string" and u.last_name or ""), search)) then
      return false
    end
    return true
  end
  local first = (page - 1) * size
  local total, records = 0, json.array()
  if not sort and order == "asc" then
    -- insertion order == created_at order: count matches, keep only the page
    for i = 1, users:count() do
      local u = users:at(i)
      if match(u) then
        total = total + 1
        if total > first and total <= first + size then records[#records + 1] = u end
      end
    end
  else
    local list = users:filter(match)
    local key
    if sort == "name" then
      key = function(u) return ((u.first_name or "") .. " " .. (type(u.last_name) == "string" and u.last_name or "")):lower() end
    elseif sort == "email" then
      key = function(u) return type(u.email) == "string" and u.email:lower() or "\255" end
    else
      local f = sort or "created_at"
      key = function(u) return u[f] end
    end
    util.stable_sort(list, { { key = key, desc = order == "desc" } })
    total = #list
    table.move(list, first + 1, math.min(total, first + size), 1, records)
  end
  return ok({ records = records, pagination = {
    page = page, page_size = size, total_pages = (total + size - 1) // size, total_records = total } })
end

-- Decode a JSON object body; returns table or a 422 response.
local function body_obj(ctx, req)
  local b, e = json.decode(req.body ~= "" and req.body or "null")
  if e then return nil, verr(ctx, { { loc = { "body", 0 }, kind = "json" } }) end
  if b == nil or b == json.null then return nil, verr(ctx, { { loc = { "body" }, kind = "missing" } }) end
  if type(b) ~= "table" or (json.looks_array(b) and next(b) ~= nil) then
    return nil, verr(ctx, { { loc = { "body" }, kind = "dict" } })
  end
  return b
end

-- fields: { {name, required, nullable} }
local function check(ctx, b, fields)
  local errs = {}
  for _, f in ipairs(fields) do
    local v = b[f[1]]
    if v == nil then
      if f[2] then errs[#errs + 1] = { loc = { "body", f[1] }, kind = "missing" } end
    elseif not (v == json.null and f[3]) and type(v) ~= "string" then
      errs[#errs + 1] = { loc = { "body", f[1] }, kind = "string" }
    end
  end
  if #errs > 0 then return verr(ctx, errs) end
end

local function email_owner(email)
  email = email:lower()
  return users:find(function(u) return type(u.email) == "string" and u.email:lower() == email end)
end

local function create_user(ctx, req)
  local b, e = body_obj(ctx, req)
  if e then return e end
  e = check(ctx, b, { { "first_name", true }, { "last_name", false, true }, { "email", true },
    { "password", true }, { "picture", false, true } })
  if e then return e end
  if email_owner(b.email) then return D(409, "User with email " .. b.email .. " already exists.") end
  local u = users:add(mkuser { first_name = b.first_name, last_name = b.last_name, email = b.email,
    picture = b.picture ~= json.null and b.picture or nil })
  V.passwords[u.id] = b.password
  return ok(u)
end

local function patch_user(ctx, req, id)
  local u = users:get(id)
  if not u then return V.error(404) end
  local b, e = body_obj(ctx, req)
  if e then return e end
  e = check(ctx, b, { { "first_name", false, true }, { "last_name", false, true }, { "email", false, true },
    { "picture", false, true } })
  if e then return e end
  if b.first_name == json.null then return D(400, "first_name cannot be null") end
  if type(b.email) == "string" then
    local o = email_owner(b.email)
    if o and o ~= u then return D(400, "Email " .. b.email .. " is already in use.") end
  end
  for _, f in ipairs { "first_name", "last_name", "email", "picture" } do
    if b[f] ~= nil then u[f] = b[f] end
  end
  u.updated_at = util.iso()
  return ok(u)
end

local function delete_user(ctx, req, id)
  if not users:remove(id) then return V.error(404) end
  V.passwords[id] = nil
  for cid, c in pairs(V.secrets) do if c.user_id == id then V.secrets[cid] = nil end end
  return { status = 204 }
end

local function patch_sa(ctx, req, id)
  local u = users:get(id)
  if not u then return V.error(404) end
  local b, e = body_obj(ctx, req)
  if e then return e end
  e = check(ctx, b, { { "name", false } })
  if e then return e end
  if u.user_type ~= "service_account" then return D(400, "User is not a service account.") end
  if b.name then u.first_name = b.name end
  u.updated_at = util.iso()
  return ok(u)
end

local function new_sa_creds(u)
  for cid, c in pairs(V.secrets) do if c.user_id == u.id then V.secrets[cid] = nil end end
  local cid = type(u.client_id) == "string" and u.client_id or ("sa-" .. util.hex(16))
  local secret = util.hex(48)
  u.client_id = cid
  V.secrets[cid] = { secret = secret, user_id = u.id }
  return { client_id = cid, client_secret = secret }
end

local function create_sa(ctx, req)
  local b, e = body_obj(ctx, req)
  if e then return e end
  e = check(ctx, b, { { "name", true } })
  if e then return e end
  local u = users:add(mkuser { first_name = b.name, user_type = "service_account", client_id = "sa-" .. util.hex(16) })
  local out = util.shallow_copy(u)
  out.credentials = new_sa_creds(u)
  return ok(out)
end

local KINDS = { organization = true, workspace = true, project = true, data_plane = true }

local function invite(ctx, req)
  local b, e = body_obj(ctx, req)
  if e then return e end
  e = check(ctx, b, { { "email", true } })
  if e then return e end
  local errs = {}
  local rb = b.role_binding
  if rb ~= nil and rb ~= json.null then
    if type(rb) ~= "table" then errs[#errs + 1] = { loc = { "body", "role_binding" }, kind = "dict" }
    else
      for _, f in ipairs { "role_id", "bound_resource_kind", "resource_id" } do
        if type(rb[f]) ~= "string" then
          errs[#errs + 1] = { loc = { "body", "role_binding", f }, kind = rb[f] == nil and "missing" or "string" }
        end
      end
      if type(rb.bound_resource_kind) == "string" and not KINDS[rb.bound_resource_kind] then
        errs[#errs + 1] = { loc = { "body", "role_binding", "bound_resource_kind" }, kind = "enum",
          arg = "'organization', 'workspace', 'project' or 'data_plane'" }
      end
    end
  end
  if b.group_ids ~= nil and b.group_ids ~= json.null and (type(b.group_ids) ~= "table" or not json.looks_array(b.group_ids)) then
    errs[#errs + 1] = { loc = { "body", "group_ids" }, kind = "list" }
  end
  if #errs > 0 then return verr(ctx, errs) end
  if email_owner(b.email) then return D(400, "User with email " .. b.email .. " is already in the organization.") end
  for _, old in ipairs(V.invites) do
    if old.status == "pending" and old.email:lower() == b.email:lower() then
      return D(400, "User with email " .. b.email .. " has already been invited.")
    end
  end
  local inv = { id = util.uuid(), email = b.email, organization_id = ORG_ID, status = "pending",
    role_binding = rb, group_ids = json.array(b.group_ids ~= json.null and b.group_ids or {}),
    created_at = util.iso() }
  V.invites[#V.invites + 1] = inv
  return { status = 201, body = json.encode({}) }
end

local function creds(ctx, req, id)
  local u = users:get(id)
  if not u then return V.error(404) end
  local out = util.shallow_copy(u)
  if u.user_type == "service_account" then
    out.credentials = new_sa_creds(u)
  else
    local pw = util.hex(24)
    V.passwords[u.id] = pw
    out.credentials = { password = pw }
  end
  u.updated_at = util.iso()
  return ok(out)
end

V.routes = {
  { "GET", "^/api/v1/auth/oidc/%.well%-known/openid%-configuration$", "openid_configuration", discovery, public = true },
  { "POST", "^/oidc/token$", "oidc_token", token, public = true },
  { "GET", "^/api/v1/users/me$", "get_users_me", users_me },
  { "POST", "^/api/v1/users/me/accept%-invite$", "accept_my_invites", accept_invite, mutating = true },
  { "GET", "^/api/v1/organization/users$", "get_organization_users", list_users },
  { "POST", "^/api/v1/organization/users$", "post_organization_user", create_user, mutating = true },
  { "POST", "^/api/v1/organization/users/invite%-user$", "post_organization_user_invite", invite, mutating = true },
  { "POST", "^/api/v1/organization/service_accounts$", "post_organization_service_account", create_sa, mutating = true },
  { "PATCH", "^/api/v1/users/([^/]+)/service_account$", "patch_service_account_user", patch_sa, mutating = true },
  { "POST", "^/api/v1/users/([^/]+)/credentials$", "post_user_creds", creds, mutating = true },
  { "PATCH", "^/api/v1/users/([^/]+)$", "patch_user", patch_user, mutating = true },
  { "DELETE", "^/api/v1/users/([^/]+)$", "delete_user", delete_user, mutating = true },
}
V.reserved = { ["/api/v1/users/me"] = true }

return V
