--- The /Users endpoint of one application: list (filter, paging,
-- attributes), get, create, replace, patch, delete, over the people layer
-- (`client:ensure_user`, `client:ensure_absent`, the vendor's `people`
-- lookups). Each function returns `status, body_table, headers` or raises
-- `{ scim = scimType, status = N, detail = ... }` (see userapi.scim).
-- @module userapi.scim.users
local filter = require "userapi.scim.filter"
local schema = require "userapi.scim.schema"
local resource = require "userapi.scim.resource"
local patch = require "userapi.scim.patch"
local pages = require "userapi.scim.pages"
local json = require "userapi.json"
local errors = require "userapi.errors"

local type, pairs, ipairs, tostring, tonumber, error, pcall = type, pairs, ipairs, tostring, tonumber, error, pcall
local lower, floor = string.lower, math.floor

local _M = {}

local function fail(status, kind, detail) error({ status = status, scim = kind, detail = detail }, 0) end

-- a vendor's error as the SCIM error the provider acts on
-- raises a vendor's error for the handler to map (404, 400, 503, ...)
local function vendor_failed(err)
  error({ vendor = err }, 0)
end

-- ---- the store -----------------------------------------------------------------

local function key(app, kind, v) return "scim|" .. app.tenant .. "|" .. kind .. "|" .. v end

local function stored_of(app, id)
  local text = app.store:get(key(app, "id", id))
  return text and json.decode(text) or nil
end

local function index_get(app, kind, v)
  if type(v) ~= "string" then return nil end
  return app.store:get(key(app, kind, kind == "un" and lower(v) or v))
end

local function save(app, id, r, old)
  local created = old and old.meta and old.meta.created or os.date("!%Y-%m-%dT%H:%M:%SZ")
  local ok, err = app.store:set(key(app, "id", id), resource.storable(r, created))
  if not ok then fail(500, nil, "the bridge store refused a write: " .. tostring(err)) end
  if old and old.userName and old.userName ~= r.userName then app.store:delete(key(app, "un", lower(old.userName))) end
  if old and old.externalId and old.externalId ~= r.externalId then
    app.store:delete(key(app, "ext", old.externalId))
  end
  if type(r.userName) == "string" then app.store:set(key(app, "un", lower(r.userName)), id) end
  if type(r.externalId) == "string" then app.store:set(key(app, "ext", r.externalId), id) end
end

local function forget(app, id)
  local old = stored_of(app, id)
  if old and type(old.userName) == "string" then app.store:delete(key(app, "un", lower(old.userName))) end
  if old and type(old.externalId) == "string" then app.store:delete(key(app, "ext", old.externalId)) end
  app.store:delete(key(app, "id", id))
end

-- ---- reading the vendor ----------------------------------------------------------

local function record_of(app, raw)
  local clean = {}
  for k, v in pairs(raw) do if v ~= json.null then clean[k] = v end end
  local r = app.people.normalize(clean)
  if type(r.email) == "string" then r.email = lower(r.email) end
  r.raw = clean -- what a mapping with raw = true reads
  return r
end

-- records of a walk with these params, kept when keep(record) is true
local function walk_into(out, app, params, keep)
  for raw in app.client:each_user(params) do
    local r = record_of(app, raw)
    if r.id ~= nil and (not keep or keep(r)) then out[#out + 1] = r end
  end
end

local function walk(app, params, keep)
  local out = {}
  local ok, err = pcall(walk_into, out, app, params, keep)
  if not ok then
    if errors.is(err) then vendor_failed(err) end
    error(err, 0)
  end
  return out
end

local function fetch(app, id)
  -- an id the vendor's operations would refuse to put in a path names no account
  if id:find("[/%c%%?#]") then return nil end
  local how = app.people.lookup.id
  if not app.client.vendor.ops[how.op].path:find("{", 1, true) then
    return walk(app, how.params(id), function(r) return tostring(r.id) == id end)[1]
  end
  local raw, err = app.client[how.op](app.client, id)
  if raw then return record_of(app, raw) end
  if err.status == 404 then return nil end
  vendor_failed(err)
end

local function by_email(app, email)
  local how = app.people.lookup.email
  return walk(app, how.params and how.params(email) or nil, function(r) return r.email == email end)
end

local function render(app, record) return resource.render(app, record, stored_of(app, tostring(record.id))) end

-- ---- list ------------------------------------------------------------------------

-- the accounts a filter may match: looked up when it names a userName, an
-- email or an externalId, otherwise every account
local function candidates(app, tree)
  local value, kind = nil, nil
  if tree then value, kind = filter.lookup_key(tree) end
  if not kind then return walk(app, app.people.all) end
  local found, seen = {}, {}
  local function add(r) if r and not seen[r.id] then seen[r.id] = true; found[#found + 1] = r end end
  local id = index_get(app, kind == "externalid" and "ext" or "un", value)
  if id then add(fetch(app, id)) end
  if kind ~= "externalid" and resource.is_address(value) then
    for _, r in ipairs(by_email(app, lower(value))) do add(r) end
  end
  return found
end

local MAX_INDEX = 2 ^ 31 - 1

local function count_of(v, default)
  if v == nil or v == "" then return default end
  local n = tonumber(v)
  -- LuaJIT reads "inf" and "nan" as numbers, Lua 5.4 does not: neither is an integer
  if not n or n ~= n or n == math.huge or n == -math.huge then
    fail(400, "invalidValue", "startIndex and count must be integers")
  end
  -- within a vendor's integer parameters: startIndex=1e300 is a page past the end, not a 500
  return floor(math.max(-MAX_INDEX, math.min(n, MAX_INDEX)))
end

-- an unfiltered list from the vendor's own page, when it has totals
local function from_vendor_page(app, start, count, args)
  local items, total, err = pages.window(app, start, count)
  if err then vendor_failed(err) end
  if not items then return nil end
  local page = {}
  for _, raw in ipairs(items) do
    local r = record_of(app, raw)
    if r.id ~= nil then page[#page + 1] = resource.project(render(app, r), args.attributes, args.excludedAttributes) end
  end
  return 200, { schemas = { schema.LIST }, totalResults = total, startIndex = start, itemsPerPage = #page,
                Resources = setmetatable(page, getmetatable(json.empty_array)) }
end

--- GET /Users: `filter`, `startIndex`, `count`, `attributes`, `excludedAttributes`.
-- Unfiltered, one vendor page where the vendor gives totals (userapi.scim.pages);
-- otherwise the candidates of the filter, or a walk.
-- @tparam table app
-- @tparam table args the query
-- @treturn int 200
-- @treturn table a ListResponse
function _M.list(app, args)
  local tree = args.filter and filter.parse(args.filter) or nil
  local start = math.max(1, count_of(args.startIndex, 1))
  local count = math.max(0, math.min(count_of(args.count, app.max_results), app.max_results))
  if not tree then
    local status, body = from_vendor_page(app, start, count, args)
    if status then return status, body end
  end
  local matched = {}
  for _, record in ipairs(candidates(app, tree)) do
    local r = render(app, record)
    if not tree or filter.match(tree, r) then matched[#matched + 1] = r end
  end
  local page = {}
  for i = start, math.min(#matched, start + count - 1) do
    page[#page + 1] = resource.project(matched[i], args.attributes, args.excludedAttributes)
  end
  return 200, { schemas = { schema.LIST }, totalResults = #matched, startIndex = start, itemsPerPage = #page,
                Resources = setmetatable(page, getmetatable(json.empty_array)) }
end

--- GET /Users/{id}.
-- @tparam table app
-- @tparam string id
-- @tparam table args the query
-- @treturn int 200
-- @treturn table the User
function _M.get(app, id, args)
  local record = fetch(app, id)
  if not record then fail(404, nil, "no User " .. id) end
  return 200, resource.project(render(app, record), args.attributes, args.excludedAttributes)
end

-- ---- writing ---------------------------------------------------------------------

local function random_password()
  local chars, out = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789", { "Sc1!" }
  local seed = (ngx and ngx.now() * 1000 or os.time()) + (ngx and ngx.worker.pid() or 0)
  math.randomseed(seed + floor(os.clock() * 1e6))
  for i = 2, 25 do local n = math.random(#chars); out[i] = chars:sub(n, n) end
  return table.concat(out)
end

-- the ensure_user fields a resource gives (the writable mapped attributes)
local function fields_of(app, r, record)
  local fields = app.people.fields or {}
  local spec = {}
  for _, a in ipairs(app.mapping.attributes or {}) do
    local field = a[2]
    if fields[field] and not a.read_only and not a.raw then
      local v = resource.get_path(r, a[1])
      for _, alt in ipairs(a.fallback or {}) do
        if v == nil or v == "" then v = resource.get_path(r, alt) end
      end
      if type(v) == "string" and v ~= "" and (not record or record[field] ~= v) then spec[field] = v end
    end
  end
  return spec
end

local function required_user_name(r)
  if type(r.userName) ~= "string" or r.userName:match("^%s*$") then
    fail(400, "invalidValue", "userName is required")
  end
end

local function check_unique(app, r, self_id)
  local id = index_get(app, "un", r.userName)
  if id and id ~= self_id and fetch(app, id) then
    fail(409, "uniqueness", "userName " .. r.userName .. " is taken")
  end
end

--- POST /Users, through `ensure_user`: 201, 409 uniqueness, 501 where the vendor cannot create.
-- @tparam table app
-- @tparam table body the User
-- @tparam table args the query (`attributes`, `excludedAttributes`)
-- @treturn int 201
-- @treturn table the User
-- @treturn table headers (Location)
function _M.create(app, body, args)
  if type(body) ~= "table" then fail(400, "invalidSyntax", "a User object expected") end
  local r = schema.canon(body)
  required_user_name(r)
  if not app.people.create then
    fail(501, nil, app.people.cannot_create or (app.vendor .. " cannot create accounts"))
  end
  if r.active == false then fail(400, "invalidValue", "a User cannot be created inactive here") end
  local email = resource.email_of(r)
  if not email then fail(400, "invalidValue", app.vendor .. " needs an email address (emails or userName)") end
  check_unique(app, r, nil)
  if #by_email(app, email) > 0 then
    fail(409, "uniqueness", app.vendor .. " holds one account per email, and " .. email .. " has one")
  end
  local spec = fields_of(app, r, nil)
  spec.email = email
  for k, v in pairs(app.defaults or {}) do spec[k] = spec[k] or v end
  local create_only = app.people.create_only or {}
  if create_only.password then
    spec.password = type(r.password) == "string" and r.password or (app.mapping.password == "generate"
      and random_password() or nil)
  end
  local res, err = app.client:ensure_user(spec)
  if not res then vendor_failed(err) end
  if res.action ~= "created" and res.action ~= "invited" then
    fail(409, "uniqueness", app.vendor .. " already holds an account for " .. email)
  end
  local record = res.after
  if not record or record.id == nil then
    fail(502, nil, app.vendor .. " took the " .. res.action .. " request but named no account id")
  end
  local id = tostring(record.id)
  save(app, id, r, nil)
  return 201, resource.project(render(app, record), args.attributes, args.excludedAttributes),
         { Location = app.base .. "/Users/" .. id }
end

-- how this application deactivates: "disable" or "delete", or a 400 before
-- anything is written
local function deactivation(app)
  local mode = app.on_deactivate
  if mode == "delete" then return "delete" end
  if mode == "refuse" then fail(400, "invalidValue", "this application refuses deactivation (on_deactivate)") end
  if not app.mapping.disable then
    fail(400, "invalidValue", app.vendor .. " cannot disable an account; this application refuses "
      .. "deactivation (on_deactivate = \"delete\" deletes the account instead)")
  end
  return "disable"
end

local function hook(app, name, id)
  local ok, err = app.mapping[name](app.client, id)
  if not ok then vendor_failed(err) end
end

-- the new state of a resource sent to the vendor and the store; a refusal
-- (uniqueness, deactivation) comes before any write
local function update(app, id, record, old, r)
  required_user_name(r)
  if not old or lower(tostring(old.userName)) ~= lower(r.userName) then check_unique(app, r, id) end
  local was_active = resource.render(app, record, old).active
  local now_active = schema.boolean(r.active)
  local deactivating = now_active == false and was_active ~= false
  local reactivating = now_active == true and was_active == false
  if deactivating and deactivation(app) == "delete" then
    local res, err = app.client:ensure_absent{ id = id }
    if not res then vendor_failed(err) end
    forget(app, id)
    return "deleted", resource.render(app, { id = id, active = false }, r)
  end
  if reactivating and not app.mapping.enable then
    fail(400, "invalidValue", app.vendor .. " cannot reactivate an account through its API")
  end
  local spec = fields_of(app, r, record)
  if (app.people.fields or {}).email and record.email and not resource.has_email(r, record.email) then
    local email = resource.email_of(r)
    if email and email ~= record.email then spec.email = email end
  end
  if next(spec) ~= nil then
    spec.id = id
    local res, err = app.client:ensure_user(spec)
    if not res then vendor_failed(err) end
    record = res.after or record
  end
  if deactivating then hook(app, "disable", id) elseif reactivating then hook(app, "enable", id) end
  save(app, id, r, old)
  return "updated", render(app, record)
end

--- PUT /Users/{id}.
-- @tparam table app
-- @tparam string id
-- @tparam table body the User
-- @tparam table args the query (`attributes`, `excludedAttributes`)
-- @treturn int 200
-- @treturn table the User
function _M.replace(app, id, body, args)
  if type(body) ~= "table" then fail(400, "invalidSyntax", "a User object expected") end
  local record = fetch(app, id)
  if not record then fail(404, nil, "no User " .. id) end
  local r = schema.canon(body)
  r.id = nil
  local _, out = update(app, id, record, stored_of(app, id), r)
  return 200, resource.project(out, args.attributes, args.excludedAttributes)
end

--- PATCH /Users/{id}: 204, or 200 with the User (`patch_response = "resource"`, or
-- `attributes` asked).
-- @tparam table app
-- @tparam string id
-- @tparam table body the PatchOp
-- @tparam table args the query
-- @treturn int
-- @treturn ?table
function _M.patch(app, id, body, args)
  local record = fetch(app, id)
  if not record then fail(404, nil, "no User " .. id) end
  local old = stored_of(app, id)
  local r = resource.render(app, record, old)
  patch.apply(r, body)
  r.id, r.meta, r.schemas = nil, nil, nil
  -- what the vendor holds and cannot change (RFC 7644 §3.5.2: mutability); PUT ignores them (§3.5.1)
  local fields = app.people.fields or {}
  for _, a in ipairs(app.mapping.attributes or {}) do
    local held = (a.raw and record.raw or record)[a[2]]
    if (a.read_only or a.raw or not fields[a[2]] or not app.people.update) and held ~= nil
        and resource.get_path(r, a[1]) ~= held then
      fail(400, "mutability", a[1] .. " is " .. app.vendor .. "'s and cannot be changed through its API")
    end
  end
  local _, out = update(app, id, record, old, r)
  if app.patch_response == "resource" or args.attributes or args.excludedAttributes then
    return 200, resource.project(out, args.attributes, args.excludedAttributes)
  end
  return 204
end

--- DELETE /Users/{id}, through `ensure_absent`: 204, or 404.
-- @tparam table app
-- @tparam string id
-- @treturn int 204
function _M.delete(app, id)
  if not fetch(app, id) then fail(404, nil, "no User " .. id) end
  local res, err = app.client:ensure_absent{ id = id }
  if not res then vendor_failed(err) end
  forget(app, id)
  if res.action == "none" then fail(404, nil, "no User " .. id) end
  return 204
end

return _M
