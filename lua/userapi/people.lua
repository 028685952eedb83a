--- People: one person's accounts in one vendor, read as records, and made
-- present or absent ("make it so", and say whether anything changed).
-- `client:ensure_user(spec)` and `client:ensure_absent(selector)` land here;
-- what each vendor can do (look up, create or invite, update, delete, what
-- counts as pending, what blocks a delete) is the `people` table of its vendor file.
--
-- A result reads `{ changed, action, before, after, diff, warnings }`: `action` is
-- `"created"`, `"invited"`, `"updated"`, `"deleted"` or `"none"`; `before` and
-- `after` are normalized records (see @{record}) or nil when there is no
-- account; `diff` maps each changed field to `{ before = old, after = new }`;
-- `warnings` (nil when none) says what the vendor leaves undone or cannot show.
-- With `check = true` the same result is planned from reads alone: no write
-- is sent.
-- @module userapi.people
-- @usage local res = assert(ods:ensure_user{ email = "marie@example.com", first_name = "Marie" })
-- print(res.action, res.changed)        -- invited  true   (then: none  false)
local errors = require "userapi.errors"
local check = require "userapi.check"
local compare = require "userapi.people.compare"
local record = require "userapi.people.record"

local type, pairs, ipairs, next, tostring, error, pcall = type, pairs, ipairs, next, tostring, error, pcall
local concat = table.concat

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

--- A vendor record (as the vendor's operations return it) as a @{record}.
-- @tparam userapi.client.Client client the vendor's client
-- @tparam table raw the vendor's record
-- @treturn table the @{record}
function _M.normalize(client, raw)
  people_of(client, "normalize")
  return record.normalize(client, raw)
end

local record_of, usable, shown = record.read, record.usable, record.shown

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

-- every page of a list operation, as usable records matching `keep`, each
-- account once (a record repeated across pages is one account); raises nothing
local function walk(client, how, arg, keep)
  local found, seen = {}, {}
  local ok, err = pcall(function()
    for u in client:each_user(how.params and how.params(arg) or nil) do
      local r, err = record_of(client, u)
      if r and keep(r) then r, err = usable(client, r) else r = r and false end
      if r == nil then error(err, 0) end
      if r and not seen[tostring(r.id)] then
        seen[tostring(r.id)] = true
        found[#found + 1] = r
      end
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
    if r then r, rerr = usable(client, r) end
    if not r then return nil, rerr end
    return { r }
  end
  if err.status == 404 then return {} end
  return nil, err
end

--- The accounts a selector matches in one vendor (reads only), each once.
-- @tparam userapi.client.Client client
-- @tparam string|table selector an email, or `{ email = }`, `{ id = }`, `{ username = }`
-- @treturn[1] {table,...} the @{record}s, empty when there are none
-- @treturn[2] nil
-- @treturn[2] userapi.errors.Error a failed read, or `kind = "protocol"`: a
-- matching record without an id the client can use (`../../admin`)
-- @raise on a bad selector, or a vendor without desired-state support
-- @usage local found = assert(people.find(kandji, "ada@example.com"))
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
-- @usage for r in people.accounts(arthur) do print(r.id, r.kind, r.email) end
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

-- ---- results -------------------------------------------------------------------

local function refused(client, op, message, kind, extra)
  local err = errors.new{ vendor = client.vendor.name, operation = op, kind = kind, message = message,
                          secrets = client.secrets }
  for k, v in pairs(extra or {}) do err[k] = v end
  return nil, err
end

local function warn(res, text)
  if text then
    res.warnings = res.warnings or {}
    res.warnings[#res.warnings + 1] = text
  end
  return res
end

-- several accounts where one was meant: an error naming each, as the vendor stores it
local function ambiguous(client, fname, found, hint)
  local names = {}
  for i, r in ipairs(found) do names[i] = tostring(r.id) .. " <" .. tostring(record.stored(r).email) .. ">" end
  return refused(client, fname, #found .. " accounts match: " .. concat(names, ", ") .. "; " .. hint,
                 "ambiguous", { matches = found })
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

-- The account the vendor made, as it holds it: its answer, or (`reread`: an
-- answer that is only an id) a read of it. nil when the answer shows no account.
local function made_by(client, p, way, answer)
  if type(answer) ~= "table" or next(answer) == nil then return nil end
  local r = record_of(client, answer)
  if not (r and way.reread and r.id ~= nil) then return r end
  local found, err = by_id(client, p.lookup.id, tostring(r.id))
  if found and found[1] then return found[1] end
  return nil, "the new account " .. shown(r.id) .. " could not be read back: "
    .. (err and tostring(err) or "not found")
end

local function create(client, p, spec, check_only)
  local way = way_to_create(p, spec)
  if not way then
    return refused(client, "ensure_user", p.cannot_create or "cannot create accounts with the fields given",
                   "unsupported")
  end
  local d = compare.diff(p, spec, nil)
  local planned = compare.apply({ vendor = client.vendor.name, email = lower(spec.email),
                                  pending = way.action == "invited" or nil }, d)
  local res = { changed = true, action = way.action, after = planned, diff = d }
  if check_only then
    res.note = way.unseen -- what a plan cannot know
    return warn(res, way.unseen)
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
  -- the write is done: what the vendor holds is the result; an answer that
  -- shows nothing (an invitation) leaves the plan
  local made, why = made_by(client, p, way, answer)
  if made then res.after, res.diff = made, compare.diff(p, made, nil) end
  return warn(res, why)
end

local function update(client, p, spec, current, check_only)
  local d, n = compare.diff(p, spec, current)
  if n == 0 then return { changed = false, action = "none", before = current, after = current, diff = d } end
  if not p.update then
    return refused(client, "ensure_user", p.cannot_update or "cannot update accounts", "unsupported")
  end
  local res = { changed = true, action = "updated", before = current, after = compare.apply(current, d), diff = d }
  if check_only then return res end
  local changes = {}
  for k, change in pairs(d) do changes[k] = change.after end
  local answer, err = client[p.update.op](client, current.id, p.update.body(changes, record.stored(current).record))
  if not answer then return nil, err end
  if type(answer) == "table" then res.after = record_of(client, answer) or res.after end
  return res
end

-- `check` and `all` are the options, and booleans: `check = "true"`, `check = 1`
-- or `dry_run = true` silently taken as "no" would send the writes a plan avoids
local function options(fname, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error("bad argument #2 to '" .. fname .. "' (table expected)", 3) end
  for k, v in pairs(opts) do
    if not allowed[k] then
      error("bad argument #2 to '" .. fname .. "' (unknown option '" .. tostring(k) .. "'"
        .. check.did_you_mean(tostring(k), allowed) .. ")", 3)
    end
    if type(v) ~= "boolean" then
      error("bad argument #2 to '" .. fname .. "' (" .. k .. ": boolean expected, got " .. type(v) .. ")", 3)
    end
  end
  return opts
end

--- Makes one person present in the client's vendor: created or invited when
-- absent (a pending invitation counts as present), updated when a field given
-- differs, left alone otherwise. An update sends only the fields that differ
-- (and what the vendor requires, as it stored it); after a create, `after`
-- and `diff` are the account as the vendor holds it.
-- @tparam userapi.client.Client client
-- @tparam table spec the selector (`email`, or `id` / `username` of an existing
-- account) and the fields to hold (see the vendor's `people.fields`)
-- @tparam[opt] table opts `check = true`: plan only, send no write
-- @treturn[1] table `{ changed, action, before, after, diff, warnings }`, and `note` when
-- the plan may be wrong (check mode: an Arthur invitation already pending cannot be seen)
-- @treturn[2] nil
-- @treturn[2] userapi.errors.Error the vendor's refusal, a failed read,
-- `kind = "unsupported"` (Kandji cannot create or update), `kind = "ambiguous"`
-- (several accounts match: `err.matches`) or `kind = "protocol"` (a record without a usable id)
-- @raise on an unknown field or a bad selector
-- @usage local res = assert(sigfox:ensure_user({ email = "ada@example.com", timezone = "UTC",
--   group_id = GROUP, profile_ids = { PROFILE } }, { check = true }))
function _M.ensure_user(client, spec, opts)
  local p = people_of(client, "ensure_user")
  opts = options("ensure_user", opts, { check = true })
  if type(spec) ~= "table" then error("bad argument #1 to 'ensure_user' (table expected)", 2) end
  selector_of("ensure_user", spec)
  compare.check_spec(p, spec)
  local found, err = _M.find(client, spec)
  if not found then return nil, err end
  if #found > 1 then return ambiguous(client, "ensure_user", found, "select one by id") end
  if #found == 0 then
    if spec.email == nil then return refused(client, "ensure_user", "no account with this id", "not_found") end
    return create(client, p, spec, opts.check)
  end
  return update(client, p, spec, found[1], opts.check)
end

-- what the vendor leaves undone when the person goes (an Arthur invitation
-- cannot be seen or withdrawn)
local function unseen_when_absent(p, selector, found)
  local email = type(selector) == "string" and selector or selector.email or (found[1] and found[1].email)
  if p.absent_unseen and email then return p.absent_unseen:format(lower(email)) end
end

-- the deletes, one per account; a delete the record shows the vendor will refuse
-- (Kandji: devices) fails the plan as it would fail the run
local function delete_all(client, p, found, res, check_only)
  local gone = {}
  for _, r in ipairs(found) do
    local blocked = p.blocks_delete and p.blocks_delete(r)
    local ok, derr = true, nil
    if check_only then
      if blocked then ok, derr = refused(client, p.delete.op, blocked, "refused") end
    else
      ok, derr = client[p.delete.op](client, r.id)
    end
    -- gone between the read and the delete: the state asked for holds
    if not ok and derr.status ~= 404 then
      -- accounts deleted before this one: the failure says so (Ansible: changed and failed)
      if #gone > 0 then derr.changed, derr.removed = true, gone end
      derr.account, derr.warnings = r, blocked and { blocked } or nil
      return nil, derr
    end
    gone[#gone + 1] = r
  end
  return res
end

--- Makes one person absent from the client's vendor: the account the
-- selector matches is deleted; none is already success. Several accounts
-- (`Ada@` and `ada@`) are an error unless `all = true`; the same account seen
-- twice is deleted once.
-- @tparam userapi.client.Client client
-- @tparam string|table selector an email, or `{ email = }`, `{ id = }`, `{ username = }`
-- @tparam[opt] table opts `check = true`: plan only, send no write; `all = true`:
-- delete every account that matches
-- @treturn[1] table `{ changed, action, before, after = nil, diff, removed, warnings }`:
-- `before` the first account, `removed` all of them; `warnings` what the vendor cannot
-- show or undo (Arthur: a pending invitation)
-- @treturn[2] nil
-- @treturn[2] userapi.errors.Error the vendor's refusal of the delete of `err.account` (a Kandji
-- user holding devices: `err.warnings` says so, and check mode predicts it), a failed read,
-- `kind = "ambiguous"` or `kind = "protocol"` (a record without a usable id)
-- @usage local res = assert(kandji:ensure_absent("ada@example.com"))
function _M.ensure_absent(client, selector, opts)
  local p = people_of(client, "ensure_absent")
  opts = options("ensure_absent", opts, { check = true, all = true })
  selector_of("ensure_absent", selector)
  local found, err = _M.find(client, selector)
  if not found then return nil, err end
  if #found > 1 and not opts.all then
    return ambiguous(client, "ensure_absent", found, "select one by id, or all = true to delete each")
  end
  local unseen = unseen_when_absent(p, selector, found)
  if #found == 0 then return warn({ changed = false, action = "none", diff = {}, removed = {} }, unseen) end
  local res = { changed = true, action = "deleted", before = found[1], diff = {}, removed = found }
  for k, v in pairs(found[1]) do res.diff[k] = { before = v } end
  local ok, derr = delete_all(client, p, found, res, opts.check)
  if not ok then
    if unseen then derr.warnings = derr.warnings or {}; derr.warnings[#derr.warnings + 1] = unseen end
    return nil, derr
  end
  return warn(res, unseen)
end

--- Checks a vendor's `people` part at `register` (@{userapi.people.shape}).
-- @tparam table p the part
-- @tparam string vname the vendor's name
-- @tparam table vendor the vendor table, compiled so far (its `ops`)
-- @raise on a wrong or unknown key, with did-you-mean
function _M.check_part(p, vname, vendor) require("userapi.people.shape").check(vname, p, vendor.ops) end

return _M
