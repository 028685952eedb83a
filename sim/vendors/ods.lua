-- Opendatasoft Automation API v1.0, UsersApi (7 ops).  Paths keep their
-- trailing slash; without it the simulator answers 404.  API key via
-- "Authorization: Apikey KEY" (scheme case-insensitive) or ?apikey=KEY.
local json = require "sim.json"
local util = require "sim.util"
local Store = require "sim.store"

local V = { name = "ods", prefix = "/ods/api/automation/v1.0", key = "ods-test-key" }

local function E(status, code, message, detail)
  return { status = status, body = json.encode({ error_code = code, message = message, detail = detail }) }
end
local CODES = { [400] = "bad_request", [401] = "unauthorized", [403] = "forbidden", [404] = "not_found",
  [405] = "method_not_allowed", [409] = "conflict", [429] = "too_many_requests", [500] = "internal_error",
  [502] = "bad_gateway", [503] = "service_unavailable", [504] = "gateway_timeout" }
V.error = function(status, msg)
  if status == 404 then return E(404, "not_found", msg or "Not found.") end
  local code = CODES[status] or "error"
  local r = E(status, code, msg or (require("sim.http").REASON[status] or "Error") .. ".")
  if status >= 500 then
    r.body = json.encode({ error_code = code, message = msg or "A server error occurred.", trace_id = util.uuid() })
  end
  return r
end
local function invalid(field, msg)
  return E(400, "validation_error", "Invalid input", { [field] = { msg } })
end

local PERMISSIONS = {}
for p in ([[edit_domain create_page edit_page manage_page explore_restricted_page create_dataset
  edit_dataset publish_dataset manage_dataset explore_restricted_dataset edit_reuse manage_subdomains
  explore_monitoring edit_theme edit_form submit_private_form create_external_asset edit_external_asset
  explore_restricted_external_asset manage_glossary manage_showcase_requests]]):gmatch("%S+") do PERMISSIONS[p] = true end

local GROUPS = {
  domain_administrators = { uid = "domain_administrators", title = "Domain administrators",
    description = "Full control of the domain", permissions = { "edit_domain" } },
  data_publishers = { uid = "data_publishers", title = "Data publishers",
    description = "Create and publish datasets", permissions = { "create_dataset", "edit_dataset", "publish_dataset" } },
  viewers = { uid = "viewers", title = "Viewers", description = "Read restricted content",
    permissions = { "explore_restricted_dataset", "explore_restricted_page" } },
}

local function mkuser(o)
  local u = {
    username = o.username, first_name = o.first_name or "", last_name = o.last_name or "", email = o.email,
    is_active = o.is_active ~= false, is_ods = false, account_type = o.account_type or "local",
    permissions = json.array(o.permissions or {}), groups = json.array(o.groups or {}),
    joined_at = o.joined_at or util.iso(), last_seen_at = o.last_seen_at or json.null,
    last_login_at = o.last_login_at or json.null, expires_at = json.null,
    explore_limits = o.explore_limits, management_limits = {},
    identity_providers = json.array({ { uid = o.idp or "opendatasoft" } }),
  }
  return u
end

local function finish(u)  -- derived read-only fields
  local dn = ((u.first_name or "") .. " " .. (u.last_name or "")):match("^%s*(.-)%s*$")
  u.display_name = dn ~= "" and dn or u.username
  u.gravatar_url = "//www.gravatar.com/avatar/" .. util.fakehash((u.email or ""):lower()) .. "?d=mm&s=80"
  return u
end

local users = Store.new {
  key = "username",
  gen = function(k)
    local n = string.format("%07d", k)
    return finish(mkuser { username = "gen.user" .. n, first_name = "Gen", last_name = "User" .. n,
      email = "gen" .. n .. "@example.com", joined_at = "2024-01-01T00:00:00.000000Z",
      groups = { { uid = "viewers" } } })
  end,
  parse = function(name) local d = name:match("^gen%.user(%d+)$"); return d and tonumber(d) end,
}

function V.reset()
  users:clear()
  V.applied = {}
  local seeds = {
    { username = "louise.data", first_name = "Louise", last_name = "Data", email = "louise.data@example.com",
      permissions = { "edit_domain", "manage_dataset" }, groups = { { uid = "domain_administrators" } },
      joined_at = "2022-08-19T11:43:58.000000Z", last_seen_at = "2023-04-24T12:16:34.099404Z",
      last_login_at = "2023-04-24T12:16:34.099404Z" },
    { username = "ada.lovelace", first_name = "Ada", last_name = "Lovelace", email = "ada@example.com",
      permissions = { "create_dataset", "edit_dataset" }, groups = { { uid = "data_publishers" } },
      joined_at = "2022-09-01T08:00:00.000000Z", last_seen_at = "2024-02-03T10:11:12.000000Z",
      last_login_at = "2024-02-03T10:11:12.000000Z",
      explore_limits = { api_calls = { limit = 10000, unit = "day" } } },
    { username = "alan.turing", first_name = "Alan", last_name = "Turing", email = "alan@example.com",
      permissions = { "explore_restricted_dataset" }, groups = { { uid = "viewers" } },
      joined_at = "2023-01-15T09:30:00.000000Z" },
    { username = "grace.hopper", first_name = "Grace", last_name = "Hopper", email = "grace@example.com",
      groups = { { uid = "data_publishers" }, { uid = "viewers" } }, account_type = "global",
      joined_at = "2023-03-01T12:00:00.000000Z", last_seen_at = "2024-05-06T07:08:09.000000Z" },
    { username = "edsger.dijkstra", first_name = "Edsger W.", last_name = 'Dijkstra, "EWD"',
      email = "edsger@example.com", joined_at = "2023-06-30T23:59:59.000000Z" },
  }
  for _, s in ipairs(seeds) do users:add(finish(mkuser(s))) end
end

function V.seed(n) return users:generate(n) end

-- no users (POST /_sim/reset {"empty":true}, server.lua --empty)
function V.empty() users:clear() end

function V.dump(args)
  local off, lim = util.int(util.str_arg(args, "offset") or "0") or 0, util.int(util.str_arg(args, "limit") or "")
  return { users = json.array(users:slice(off, lim or users:count())), count = users:count(), groups = GROUPS }
end

function V.auth(req)
  local a = req.headers.authorization
  local key = a and a:match("^[Aa][Pp][Ii][Kk][Ee][Yy]%s+(%S+)%s*$")
  if not key then key = util.str_arg(req.args, "apikey") end
  if not key and not a then
    return E(401, "authentication_required", "Authentication credentials were not provided.")
  end
  if key ~= V.key then return E(401, "invalid_api_key", "The API key is invalid.") end
end

local function effective_perms(u)
  local set = {}
  for _, p in ipairs(u.permissions or {}) do set[p] = true end
  for _, g in ipairs(u.groups or {}) do
    local gr = GROUPS[g.uid]
    if gr then for _, p in ipairs(gr.permissions) do set[p] = true end end
  end
  return set
end

local SORTS = { username = true, first_name = true, last_name = true, last_seen_at = true }

local function parse_perm_list(args, key)
  local l = util.list_arg(args, key)
  if not l then return nil end
  for _, p in ipairs(l) do
    if not PERMISSIONS[p] then return nil, invalid(key, '"' .. p .. '" is not a valid choice.') end
  end
  return l
end

local function get_users(ctx, req)
  local a = req.args
  local limit, offset = 20, 0
  local ls, os_ = util.str_arg(a, "limit"), util.str_arg(a, "offset")
  if ls then
    limit = util.int(ls)
    if not limit or limit < 0 or limit > 1000 then return invalid("limit", "Must be a number between 0 and 1000.") end
  end
  if os_ then
    offset = util.int(os_)
    if not offset or offset < 0 then return invalid("offset", "Must be a positive number.") end
  end
  local sorts = {}
  for _, s in ipairs(util.list_arg(a, "sort") or {}) do
    local desc, f = s:match("^(%-?)(.+)$")
    if not SORTS[f] then return invalid("sort", '"' .. s .. '" is not a valid choice.') end
    sorts[#sorts + 1] = { desc = desc == "-", key = function(u)
      local v = u[f]; return type(v) == "string" and v:lower() or "" end }
  end
  local perms, e1 = parse_perm_list(a, "permissions")
  if e1 then return e1 end
  local allp, e2 = parse_perm_list(a, "all_permissions")
  if e2 then return e2 end
  local search = util.str_arg(a, "search")
  if search == "" then search = nil end

  local list, total
  if search or perms or allp or #sorts > 0 then
    list = users:filter(function(u)
      if search and not (util.icontains(u.username, search) or util.icontains(u.first_name, search)
        or util.icontains(u.last_name, search) or util.icontains(u.email, search)) then return false end
      if perms then
        local direct, ok = {}, false
        for _, p in ipairs(u.permissions or {}) do direct[p] = true end
        for _, p in ipairs(perms) do if direct[p] then ok = true end end
        if not ok then return false end
      end
      if allp then
        local eff, ok = effective_perms(u), false
        for _, p in ipairs(allp) do if eff[p] then ok = true end end
        if not ok then return false end
      end
      return true
    end)
    if #sorts > 0 then util.stable_sort(list, sorts) end
    total = #list
    list = table.move(list, offset + 1, math.min(total, offset + limit), 1, {})
  else
    total = users:count()
    list = users:slice(offset, limit)
  end
  local base = ctx.origin .. V.prefix .. "/users/"
  local function link(off)
    local extra = { { "limit", tostring(limit) } }
    if off > 0 then extra[2] = { "offset", tostring(off) } end
    return base .. "?" .. util.rebuild_query(req.query, { limit = true, offset = true }, extra)
  end
  local body = {
    total_count = total,
    next = (limit > 0 and offset + limit < total) and link(offset + limit) or json.null,
    previous = (limit > 0 and offset > 0) and link(math.max(0, offset - limit)) or json.null,
    results = json.array(list),
  }
  return { status = 200, body = json.encode(body) }
end

local function expand_groups(u)
  local c = util.shallow_copy(u)
  local gs = json.array()
  for _, g in ipairs(u.groups or {}) do
    local gr = GROUPS[g.uid]
    if gr then
      local n = 0
      for i = 1, users:count() do
        for _, ug in ipairs(users:at(i).groups or {}) do if ug.uid == g.uid then n = n + 1 end end
      end
      gs[#gs + 1] = { uid = gr.uid, title = gr.title, description = gr.description, user_count = n,
        permissions = gr.permissions, created_at = "2022-01-01T00:00:00.000000Z",
        updated_at = "2022-01-01T00:00:00.000000Z",
        created_by = { username = "louise.data" }, updated_by = { username = "louise.data" } }
    end
  end
  c.groups = gs
  return c
end

local function get_user(ctx, req, name)
  local u = users:get(name)
  if not u then return V.error(404) end
  local exp = util.str_arg(req.args, "expand") or ""
  if exp:find("groups", 1, true) then u = expand_groups(u) end
  return { status = 200, body = json.encode(u) }
end

-- Validate writable User fields of `b`; returns nil or an error response.
local function check_user_body(b, need_email)
  if type(b) ~= "table" or json.looks_array(b) and next(b) ~= nil then
    return E(400, "validation_error", "Invalid input", { non_field_errors = { "Expected an object." } })
  end
  if need_email and (type(b.email) ~= "string" or b.email == "") then return invalid("email", "This field is required.") end
  if b.email ~= nil and (type(b.email) ~= "string" or not b.email:match("^[^@%s]+@[^@%s]+$")) then
    return invalid("email", "Enter a valid email address.")
  end
  for _, f in ipairs { "first_name", "last_name", "username" } do
    if b[f] ~= nil and b[f] ~= json.null and type(b[f]) ~= "string" then return invalid(f, "Not a valid string.") end
  end
  if b.permissions ~= nil then
    if type(b.permissions) ~= "table" then return invalid("permissions", "Expected a list of items.") end
    for _, p in ipairs(b.permissions) do
      if not PERMISSIONS[p] then return invalid("permissions", '"' .. tostring(p) .. '" is not a valid choice.') end
    end
  end
  if b.groups ~= nil then
    if type(b.groups) ~= "table" then return invalid("groups", "Expected a list of items.") end
    for _, g in ipairs(b.groups) do
      local uid = type(g) == "table" and g.uid or g
      if not GROUPS[uid] then return invalid("groups", 'Group "' .. tostring(uid) .. '" does not exist.') end
    end
  end
  if b.explore_limits ~= nil and b.explore_limits ~= json.null then
    local ac = type(b.explore_limits) == "table" and b.explore_limits.api_calls
    local units = { year = 1, month = 1, day = 1, hour = 1, minute = 1, second = 1 }
    if type(ac) ~= "table" or type(ac.limit) ~= "number" or ac.limit < 0 or not units[ac.unit] then
      return invalid("explore_limits", "Invalid api_calls limit.")
    end
  end
end

local function apply_fields(u, b)
  for _, f in ipairs { "first_name", "last_name", "email" } do
    if b[f] ~= nil then u[f] = b[f] == json.null and "" or b[f] end
  end
  if b.permissions ~= nil then u.permissions = json.array(util.shallow_copy(b.permissions)) end
  if b.groups ~= nil then
    local gs = json.array()
    for _, g in ipairs(b.groups) do gs[#gs + 1] = { uid = type(g) == "table" and g.uid or g } end
    u.groups = gs
  end
  if b.explore_limits ~= nil then u.explore_limits = b.explore_limits ~= json.null and b.explore_limits or nil end
  if b.management_limits ~= nil and type(b.management_limits) == "table" then u.management_limits = b.management_limits end
  if b.expires_at ~= nil then u.expires_at = b.expires_at end
  return finish(u)
end

local function parse_body(req)
  local b, e = json.decode(req.body ~= "" and req.body or "null")
  if e then return nil, E(400, "bad_request", "Bad request: JSON parse error - " .. e) end
  if b == nil or b == json.null then return nil, E(400, "bad_request", "Bad request: a JSON body is required.") end
  return b
end

local function update_user(ctx, req, name)
  local u = users:get(name)
  if not u then return V.error(404) end
  local b, e = parse_body(req)
  if e then return e end
  e = check_user_body(b, true)
  if e then return e end
  apply_fields(u, b)
  return { status = 200, body = json.encode(u) }
end

local function admin_count()
  local n = 0
  for i = 1, users:count() do if effective_perms(users:at(i)).edit_domain then n = n + 1 end end
  return n
end

local function delete_user(ctx, req, name)
  local u = users:get(name)
  if not u then return V.error(404) end
  if effective_perms(u).edit_domain and admin_count() <= 1 then
    return E(400, "only_domain_administrator", "The removal of the only domain administrator is not allowed.")
  end
  users:remove(name)
  return { status = 204 }
end

local function new_username(email)
  local base = email:match("^([^@]+)"):lower():gsub("[^%w%._%-]", "")
  if base == "" then base = "user" end
  local name, i = base, 1
  while users:get(name) do i = i + 1; name = base .. i end
  return name
end

local function email_taken(email)
  email = email:lower()
  return users:find(function(u) return type(u.email) == "string" and u.email:lower() == email end) ~= nil
end

-- Shared by invite and provision: per-item results keyed "0", "1", ...
local function bulk(items, idp_required)
  local out = {}
  for i, item in ipairs(items) do
    local e = check_user_body(item, true)
    local res
    if not e and idp_required and (type(item.identity_provider) ~= "table" or type(item.identity_provider.uid) ~= "string") then
      e = invalid("identity_provider", "This field is required.")
    end
    if not e and email_taken(item.email) then
      e = invalid("email", "A user with this email address already exists.")
    end
    if not e and item.username ~= nil and (item.username == "" or users:get(item.username)) then
      e = invalid("username", "A user with that username already exists.")
    end
    if e then
      res = { status_code = "error", error = json.decode(e.body) }
    else
      local u = mkuser { username = item.username or new_username(item.email), email = item.email,
        is_active = idp_required and true or false, account_type = idp_required and "linked" or "local",
        idp = idp_required and item.identity_provider.uid or nil }
      apply_fields(u, item)
      users:add(u)
      res = { status_code = "success", data = u }
    end
    out[tostring(i - 1)] = res
  end
  return { status = 200, body = json.encode(out) }
end

local function invite_users(ctx, req)
  local b, e = parse_body(req)
  if e then return e end
  if type(b) ~= "table" or not json.looks_array(b) then
    return E(400, "validation_error", "Invalid input", { non_field_errors = { "Expected a list of items." } })
  end
  return bulk(b, false)
end

-- The spec's schema is one object, its prose says "each item": accept both.
local function provision_users(ctx, req)
  local b, e = parse_body(req)
  if e then return e end
  if type(b) ~= "table" then
    return E(400, "validation_error", "Invalid input", { non_field_errors = { "Expected an object or a list." } })
  end
  if not json.looks_array(b) or next(b) == nil then b = { b } end
  return bulk(b, true)
end

local COLUMNS = { "username", "last_name", "first_name", "email", "date_joined", "last_seen", "groups", "permissions" }

local function csv_time(t)
  if type(t) ~= "string" then return "" end
  return (t:gsub("T", " "):gsub("%.000000Z$", "+00:00"):gsub("Z$", "+00:00"))
end

local function users_export(ctx, req)
  local d = util.str_arg(req.args, "delimiter") or ","
  if #d ~= 1 then return invalid("delimiter", "Ensure this field has exactly 1 character.") end
  local lines = { table.concat(COLUMNS, d) }
  for i = 1, users:count() do
    local u = users:at(i)
    local titles = {}
    for _, g in ipairs(u.groups or {}) do titles[#titles + 1] = GROUPS[g.uid] and GROUPS[g.uid].title or g.uid end
    local row = { u.username, u.last_name, u.first_name, u.email, csv_time(u.joined_at), csv_time(u.last_seen_at),
      table.concat(titles, ";"), table.concat(u.permissions or {}, ";") }
    for j = 1, #row do row[j] = util.csv_field(row[j], d) end
    lines[#lines + 1] = table.concat(row, d)
  end
  return { status = 200, headers = { ["Content-Type"] = "text/csv; charset=utf-8",
    ["Content-Disposition"] = 'attachment; filename="users.csv"' }, body = table.concat(lines, "\r\n") .. "\r\n" }
end

V.routes = {
  { "GET", "^/users/$", "get_users", get_users },
  { "GET", "^/users/export/$", "users_export", users_export },
  { "POST", "^/users/invite/$", "invite_users", invite_users, mutating = true },
  { "POST", "^/users/provision/$", "provision_users", provision_users, mutating = true },
  { "GET", "^/users/([^/]+)/$", "get_user", get_user },
  { "PUT", "^/users/([^/]+)/$", "update_user", update_user, mutating = true },
  { "DELETE", "^/users/([^/]+)/$", "delete_user", delete_user, mutating = true },
}
function V.method_not_allowed(method)
  return E(405, "method_not_allowed", 'Method "' .. method .. '" not allowed.')
end
-- Fixed paths shadow the {username} routes for every method.
V.reserved = { ["/users/export/"] = true, ["/users/invite/"] = true, ["/users/provision/"] = true }

return V
