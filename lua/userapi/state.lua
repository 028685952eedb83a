--- Desired state for one person in one vendor: "make it so", and say whether
-- anything changed. `client:ensure_user(spec)` and `client:ensure_absent(selector)`
-- land here; what each vendor can do (look up, create or invite, update,
-- delete, what counts as pending) is the `people` table of its vendor file.
--
-- A result reads `{ changed, action, before, after, diff }`: `action` is
-- `"created"`, `"invited"`, `"updated"`, `"deleted"` or `"none"`; `before` and
-- `after` are normalized records (see @{record}) or nil when there is no
-- account; `diff` maps each changed field to `{ before = old, after = new }`.
-- With `check = true` the same result is planned from reads alone: no write
-- is sent.
-- @module userapi.state
-- @usage local res = assert(ods:ensure_user{ email = "marie@example.com", first_name = "Marie" })
-- print(res.action, res.changed)        -- invited  true   (then: none  false)
local errors = require "userapi.errors"
local json = require "userapi.json"
local part = require "userapi.check"  -- the vendor part check (check_part)

local type, pairs, ipairs, next, tostring, error, pcall = type, pairs, ipairs, next, tostring, error, pcall
local sort, concat = table.sort, table.concat
local null = json.null

local _M = {}

--- A person's account as every vendor's is read: the vendor's own fields
-- mapped to one shape. Vendors add the fields that they let you manage
-- (Opendatasoft `first_name`, `last_name`, `permissions`; Sigfox `timezone`,
-- `profile_ids`, `group_id`; Kandji `devices`).
-- @table record
-- @field vendor the vendor's name
-- @field id what the vendor's operations take: Opendatasoft username, otherwise the id
-- @field email lower-cased (Sigfox: the owner named in the API user's name)
-- @field name the display name
-- @field kind account type (`local`, `user`, `service_account`, `api_user`, ...)
-- @field active true, false, or nil when the vendor does not say
-- @field pending true for an invitation not yet accepted
-- @field created_at an ISO 8601 time
-- @field last_seen_at an ISO 8601 time, or nil

local function people_of(client, fname)
  local p = client.vendor.people
  if not p then error("userapi." .. client.vendor.name .. " has no desired-state support (" .. fname .. ")", 3) end
  return p
end

local function lower(s) return type(s) == "string" and s:lower() or nil end

-- JSON null becomes nil: a record says "absent" one way
local function clean(t)
  local c = {}
  for k, v in pairs(t) do if v ~= null then c[k] = v end end
  return c
end

--- A vendor record (as the vendor's operations return it) as a @{record}.
-- @tparam userapi.client.Client client the vendor's client
-- @tparam table raw the vendor's record
-- @treturn table the @{record}
function _M.normalize(client, raw)
  local r = clean(people_of(client, "normalize").normalize(clean(raw)))
  r.vendor = client.vendor.name
  r.email = lower(r.email)
  return r
end

-- A record the vendor sent, normalized; or nil and a protocol error: data
-- from a server never raises (a name that is an object, a time out of range).
local function record_of(client, raw)
  local ok, r = false, "not a JSON object"
  if type(raw) == "table" then ok, r = pcall(_M.normalize, client, raw) end
  if ok then return r end
  return nil, errors.new{ vendor = client.vendor.name, operation = client.vendor.people.lookup.email.op,
    kind = "protocol", secrets = client.secrets,
    message = "a user record from the server cannot be read: " .. tostring(r):gsub("^[^\n]-:%d+: ", "") }
end

-- ---- selectors and lookups ---------------------------------------------------

local SELECTORS = { "id", "username", "email" }

-- { key, value } of a selector: a bare email, or a table with id, username or email
local function selector_of(fname, sel)
  if type(sel) == "string" then sel = { email = sel } end
  if type(sel) ~= "table" then error("bad argument #1 to '" .. fname .. "' (table or email expected)", 3) end
  for _, k in ipairs(SELECTORS) do
    local v = sel[k]
    if v ~= nil then
      if type(v) ~= "string" or v == "" then
        error("bad argument #1 to '" .. fname .. "' (" .. k .. ": non-empty string expected)", 3)
      end
      if k == "username" then k = "id" end
      return k, k == "email" and v:lower() or v
    end
  end
  error("bad argument #1 to '" .. fname .. "' (email, id or username required)", 3)
end

-- every page of a list operation, as records matching `keep`; raises nothing
local function walk(client, how, arg, keep)
  local found = {}
  local ok, err = pcall(function()
    for u in client:each_user(how.params and how.params(arg) or nil) do
      local r, err = record_of(client, u)
      if not r then error(err, 0) end
      if keep(r) then found[#found + 1] = r end
    end
  end)
  if not ok then
    if errors.is(err) then return nil, err end
    error(err, 0)
  end
  return found
end

local function by_id(client, how, id)
  if not client.vendor.ops[how.op].path:find("{", 1, true) then
    return walk(client, how, id, function(r) return r.id == id end)
  end
  local u, err = client[how.op](client, id)
  if u then
    local r, rerr = record_of(client, u)
    if not r then return nil, rerr end
    return { r }
  end
  if err.status == 404 then return {} end
  return nil, err
end

--- The accounts a selector matches in one vendor (reads only).
-- @tparam userapi.client.Client client
-- @tparam string|table selector an email, or `{ email = }`, `{ id = }`, `{ username = }`
-- @treturn[1] {table,...} the @{record}s, empty when there are none
-- @treturn[2] nil
-- @treturn[2] userapi.errors.Error a failed read
-- @raise on a bad selector, or a vendor without desired-state support
-- @usage local found = assert(state.find(kandji, "ada@example.com"))
function _M.find(client, selector)
  local p = people_of(client, "find")
  local key, value = selector_of("find", selector)
  if key == "id" then return by_id(client, p.lookup.id, value) end
  return walk(client, p.lookup.email, value, function(r) return r.email == value end)
end

--- Every account of one vendor as @{record}s, lazily: walks every page of
-- its list (every kind of account). Raises a failed page's error, as `each_user`.
-- @tparam userapi.client.Client client
-- @treturn function an iterator of @{record}s
-- @usage for r in state.accounts(arthur) do print(r.id, r.kind, r.email) end
function _M.accounts(client)
  local p = people_of(client, "accounts")
  local it = client:each_user(p.all)
  return function()
    local u = it()
    if u == nil then return nil end
    local r, err = record_of(client, u)
    if not r then error(err, 0) end
    return r
  end
end

-- ---- comparing ---------------------------------------------------------------

local function set_key(v)
  if type(v) ~= "table" then return tostring(v) end
  local t = {}
  for i, x in ipairs(v) do t[i] = tostring(x) end
  sort(t)
  return concat(t, "\0")
end

local SAME = {
  string = function(a, b) return a == b end,
  email = function(a, b) return lower(a) == lower(b) end,
  set = function(a, b) return set_key(a or {}) == set_key(b) end,
}

-- The fields of spec the vendor manages, checked; unknown ones raise.
local function check_spec(p, spec)
  for k, v in pairs(spec) do
    local how = p.fields[k]
    if not how and not (p.create_only and p.create_only[k]) and k ~= "id" and k ~= "username" and k ~= "email" then
      local known = {}
      for f in pairs(p.fields) do known[#known + 1] = f end
      for f in pairs(p.create_only or {}) do known[#known + 1] = f end
      sort(known)
      error("bad argument #1 to 'ensure_user' (unknown field '" .. tostring(k) .. "'; "
        .. (#known > 0 and ("known: " .. concat(known, ", ")) or "this vendor manages no field") .. ")", 3)
    end
    local want = how == "set" and "table" or "string"
    if how and type(v) ~= want then
      error("bad argument #1 to 'ensure_user' (" .. k .. ": " .. want .. " expected, got " .. type(v) .. ")", 3)
    end
  end
end

-- what would change: { field = { before, after } } over the fields spec gives
local function diff_of(p, spec, current)
  local d, n = {}, 0
  for k, how in pairs(p.fields) do
    local want = spec[k]
    if want ~= nil and not SAME[how](current and current[k], want) then
      d[k] = { before = current and current[k], after = want }
      n = n + 1
    end
  end
  return d, n
end

local function apply(record, d)
  local r = {}
  for k, v in pairs(record or {}) do r[k] = v end
  for k, change in pairs(d) do r[k] = change.after end
  return r
end

local function refused(client, op, message, kind)
  return nil, errors.new{ vendor = client.vendor.name, operation = op, kind = kind, message = message,
                          secrets = client.secrets }
end

-- ---- ensure ------------------------------------------------------------------

-- the first way to create that the spec allows (Arthur: a password creates, else invite)
local function way_to_create(p, spec)
  for _, way in ipairs(p.create or {}) do
    local ready = true
    for _, f in ipairs(way.needs or {}) do if spec[f] == nil then ready = false end end
    if ready then return way end
  end
end

local function create(client, p, spec, check)
  local way = way_to_create(p, spec)
  if not way then
    return refused(client, "ensure_user", p.cannot_create or "cannot create accounts with the fields given",
                   "unsupported")
  end
  local d = diff_of(p, spec, nil)
  local planned = apply({ vendor = client.vendor.name, email = lower(spec.email),
                          pending = way.action == "invited" or nil }, d)
  local res = { changed = true, action = way.action, after = planned, diff = d }
  if check then
    res.note = way.unseen -- what a plan cannot know
    return res
  end
  local answer, err = client[way.op](client, way.body(spec))
  if answer and way.result then
    local raw, message = way.result(answer)
    if message then return refused(client, way.op, message) end
    answer = raw
  end
  if not answer then
    -- the vendor says the invitation is already out: a pending invitation is present
    if way.already and err.status == 400 and tostring(err.message):find(way.already) then
      return { changed = false, action = "none", before = planned, after = planned, diff = {} }
    end
    return nil, err
  end
  if type(answer) == "table" and answer ~= true and next(answer) ~= nil then
    -- the write is done: an answer that cannot be read leaves the plan as the result
    local r = record_of(client, answer)
    for k, v in pairs(r or {}) do if v ~= nil then planned[k] = v end end
  end
  return res
end

local function update(client, p, spec, current, check)
  local d, n = diff_of(p, spec, current)
  if n == 0 then return { changed = false, action = "none", before = current, after = current, diff = d } end
  if not p.update then
    return refused(client, "ensure_user", p.cannot_update or "cannot update accounts", "unsupported")
  end
  local res = { changed = true, action = "updated", before = current, after = apply(current, d), diff = d }
  if check then return res end
  local changes = {}
  for k, change in pairs(d) do changes[k] = change.after end
  local answer, err = client[p.update.op](client, current.id, p.update.body(changes, current))
  if not answer then return nil, err end
  if type(answer) == "table" then res.after = record_of(client, answer) or res.after end
  return res
end

-- `check` is the one option, and a boolean: `check = "true"`, `check = 1` or
-- `dry_run = true` silently taken as "no" would send the writes a plan avoids
local function check_opts(fname, opts)
  if opts == nil then return false end
  if type(opts) ~= "table" then error("bad argument #2 to '" .. fname .. "' (table expected)", 3) end
  for k in pairs(opts) do
    if k ~= "check" then
      error("bad argument #2 to '" .. fname .. "' (unknown option '" .. tostring(k) .. "'; the only one is check)", 3)
    end
  end
  if opts.check ~= nil and type(opts.check) ~= "boolean" then
    error("bad argument #2 to '" .. fname .. "' (check: boolean expected, got " .. type(opts.check) .. ")", 3)
  end
  return opts.check == true
end

--- Makes one person present in the client's vendor: created or invited when
-- absent (a pending invitation counts as present), updated when a field given
-- differs, left alone otherwise.
-- @tparam userapi.client.Client client
-- @tparam table spec the selector (`email`, or `id` / `username` of an existing
-- account) and the fields to hold (see the vendor's `people.fields`)
-- @tparam[opt] table opts `check = true`: plan only, send no write
-- @treturn[1] table `{ changed, action, before, after, diff }`, and `note` when
-- the plan may be wrong (check mode: an Arthur invitation already pending cannot be seen)
-- @treturn[2] nil
-- @treturn[2] userapi.errors.Error the vendor's refusal, a failed read, or
-- `kind = "unsupported"` (Kandji cannot create or update; several accounts match)
-- @raise on an unknown field or a bad selector
-- @usage local res = assert(sigfox:ensure_user({ email = "ada@example.com", timezone = "UTC",
--   group_id = GROUP, profile_ids = { PROFILE } }, { check = true }))
function _M.ensure_user(client, spec, opts)
  local p = people_of(client, "ensure_user")
  local check = check_opts("ensure_user", opts)
  if type(spec) ~= "table" then error("bad argument #1 to 'ensure_user' (table expected)", 2) end
  selector_of("ensure_user", spec)
  check_spec(p, spec)
  local found, err = _M.find(client, spec)
  if not found then return nil, err end
  if #found > 1 then
    return refused(client, "ensure_user", #found .. " accounts match; select one by id", "unsupported")
  end
  if #found == 0 then
    if spec.email == nil then return refused(client, "ensure_user", "no account with this id", "not_found") end
    return create(client, p, spec, check)
  end
  return update(client, p, spec, found[1], check)
end

--- Makes one person absent from the client's vendor: every account the
-- selector matches is deleted; none is already success.
-- @tparam userapi.client.Client client
-- @tparam string|table selector an email, or `{ email = }`, `{ id = }`, `{ username = }`
-- @tparam[opt] table opts `check = true`: plan only, send no write
-- @treturn[1] table `{ changed, action, before, after = nil, diff, removed }`:
-- `before` the first account, `removed` all of them
-- @treturn[2] nil
-- @treturn[2] userapi.errors.Error the vendor's refusal (a Kandji user holding
-- devices) or a failed read
-- @usage local res = assert(kandji:ensure_absent("ada@example.com"))
function _M.ensure_absent(client, selector, opts)
  local p = people_of(client, "ensure_absent")
  local check = check_opts("ensure_absent", opts)
  selector_of("ensure_absent", selector)
  local found, err = _M.find(client, selector)
  if not found then return nil, err end
  if #found == 0 then return { changed = false, action = "none", diff = {}, removed = {} } end
  local res = { changed = true, action = "deleted", before = found[1], diff = {}, removed = found }
  for k, v in pairs(found[1]) do res.diff[k] = { before = v } end
  if check then return res end
  local gone = {}
  for _, r in ipairs(found) do
    local ok, derr = client[p.delete.op](client, r.id)
    -- gone between the read and the delete: the state asked for holds
    if not ok and derr.status ~= 404 then
      -- accounts deleted before this one: the failure says so (Ansible: changed and failed)
      if #gone > 0 then derr.changed, derr.removed = true, gone end
      return nil, derr
    end
    gone[#gone + 1] = r
  end
  return res
end

-- ---- the vendor's part -----------------------------------------------------------

local PART = { lookup = "table", all = "table", normalize = "function", fields = "table", create_only = "table",
               create = "table", cannot_create = "string", cannot_update = "string", update = "table",
               delete = "table" }
local LOOKUP = { email = "table", id = "table" }
local HOW = { op = "string", params = "function" }
local WAY = { op = "string", action = "string", needs = "table", body = "function", result = "function",
              already = "string", unseen = "string" }
local FIELD_KINDS = {}
for kind in pairs(SAME) do FIELD_KINDS[#FIELD_KINDS + 1] = kind end
sort(FIELD_KINDS)

-- an operation the part names: one of the vendor's
local function check_op(vname, where, opname, vendor)
  if not vendor.ops[opname] then
    part.part_error(vname, where, "no operation '" .. tostring(opname) .. "'"
      .. part.did_you_mean(opname, vendor.ops))
  end
end

--- Checks a vendor table's `people` part whole, when the vendor is
-- registered (@{userapi.vendor.compile}): its fields, the operations it
-- names, the kinds of the fields it manages.
-- @tparam table p the vendor's `people`
-- @tparam string vname the vendor's name
-- @tparam table vendor the compiled vendor (its `ops`)
-- @raise `userapi: vendor 'x': people: unknown field 'lookpu' (did you mean 'lookup'?)`
function _M.check_part(p, vname, vendor)
  part.fields(vname, "people: ", p, PART)
  for _, k in ipairs({ "lookup", "normalize", "fields" }) do
    if p[k] == nil then part.part_error(vname, "people." .. k .. ": ", "required") end
  end
  part.fields(vname, "people.lookup: ", p.lookup, LOOKUP)
  if not p.lookup.email then part.part_error(vname, "people.lookup.email: ", "required") end
  for key, how in pairs(p.lookup) do
    part.fields(vname, "people.lookup." .. key .. ": ", how, HOW)
    check_op(vname, "people.lookup." .. key .. ".op: ", how.op, vendor)
  end
  for f, kind in pairs(p.fields) do part.one_of(vname, "people.fields." .. tostring(f) .. ": ", kind, FIELD_KINDS) end
  for i, way in ipairs(p.create or {}) do
    local where = "people.create[" .. i .. "]"
    if type(way) ~= "table" then part.part_error(vname, where .. ": ", "table expected") end
    part.fields(vname, where .. ": ", way, WAY)
    check_op(vname, where .. ".op: ", way.op, vendor)
    if type(way.body) ~= "function" then part.part_error(vname, where .. ".body: ", "function expected") end
  end
  for _, k in ipairs({ "update", "delete" }) do
    if p[k] then
      part.fields(vname, "people." .. k .. ": ", p[k], { op = "string", body = "function" })
      check_op(vname, "people." .. k .. ".op: ", p[k].op, vendor)
    end
  end
end

return _M
