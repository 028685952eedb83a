--- Resumable bulk: `client:bulk(op, items, { journal = "path" })` records each
-- finished item (its key and outcome) in a journal file, one JSON line each;
-- running again with the same journal skips the items already done and
-- returns their recorded outcomes, merged with the new ones in input order.
-- The journal wraps bulk: `client:bulk` hands a call with `journal` here,
-- and this module runs `bulk.run` window by window.
--
-- One journal, one job: its header names the tenant (vendor, base URL and
-- the credential's fingerprint, the key the shared budget uses) and the
-- operation; a journal of another tenant or operation is refused before
-- anything is sent. It is opened without following a symbolic link and
-- checked on the opened descriptor (a regular file, the user's own, no
-- access for group or others), and locked (flock) for the whole run: a
-- second run on the same journal fails at once.
--
-- How it holds up when the process dies (SIGKILL, a crash, a reboot):
--
-- - Items go out in windows (4 x `concurrency`, at least 32). Before a window
--   is sent, its keys are written as one "begin" line; each item's outcome is
--   written as it finishes (one write to the kernel); at the end of the
--   window the file is fsynced.
-- - On the next run, items begun but not finished are in doubt. When the
--   operation is the vendor's delete (its `people.delete`), an in-doubt item
--   is read back first: already gone means the delete was applied, and it is
--   recorded as done without sending it again; one still there is sent (and
--   marked `in_doubt`). Other operations send an
--   in-doubt item again (at most one window's worth), marked `in_doubt`.
-- - A last line cut short by the kill is cut off the file (on the locked
--   descriptor, no temporary file); any other unreadable line is an error
--   naming it.
-- - Failures worth another try (429, every 5xx, timeouts and connection
--   failures: `err.retryable`) are not done: the next run sends them again.
--   Other failures are recorded as final.
-- @module userapi.journal
local json = require "userapi.json"
local errors = require "userapi.errors"
local core = require "userapi.core"
local store = require "userapi.store"
local bulk = require "userapi.bulk"

local type, pairs, ipairs, tostring, error, max, pcall = type, pairs, ipairs, tostring, error, math.max, pcall
local unpack, format = table.unpack or unpack, string.format

local _M = {}

-- The header's version: 2 names the tenant (a version 1 journal did not).
local VERSION = 2

-- Every write is checked: a journal that silently stopped growing would
-- send the same writes again on the next run. Each line is one write(2):
-- a killed process loses none.
local function put(f, path, line)
  local ok, err = f:write(line)
  if not ok then error("userapi journal: cannot write " .. path .. ": " .. tostring(err), 0) end
end

local function sync(f, path)
  local ok, err = f:sync()
  if not ok then error("userapi journal: cannot sync " .. path .. ": " .. tostring(err), 0) end
end

-- The caller named a journal this run cannot use: nothing was sent.
local function refuse(path, why)
  error(format("bad argument #3 to 'bulk' (journal %s %s)", path, why), 0)
end

--- The tenant a client acts for: vendor, base URL and the key of its
-- credential in a shared store (@{userapi.store.tenant_key}).
-- @tparam userapi.client.Client client
-- @treturn table `{ vendor, base_url, key }`
local function tenant_of(client)
  return { vendor = client.vendor.name, base_url = client.base_url, key = (store.tenant_key(client, client.opts)) }
end

-- ---- keys --------------------------------------------------------------------

-- The same text for the same value on every run: keys sorted (userapi.json's one way)
local canonical = json.encode_sorted

--- The key of an item in the journal: a bare id stays as it is, an argument
-- list becomes canonical JSON (the same on every run).
-- @param item a bulk item (`"id"`, `{ "id" }`, `{ "id", body }`)
-- @treturn string
function _M.key(item)
  if type(item) == "string" then return item end
  if type(item) == "table" and #item == 1 and type(item[1]) == "string" then return item[1] end
  return canonical(item)
end

-- ---- outcomes, as written and as read back ---------------------------------------

local function outcome_line(key, r)
  local rec = { key = key, ok = r.ok }
  if r.ok then
    rec.value = r.value
  else
    local e = r.err
    rec.error = { vendor = e.vendor, operation = e.operation, status = e.status, kind = e.kind,
                  message = e.message, code = e.code, retryable = e.retryable, attempts = e.attempts }
  end
  return json.encode(rec) .. "\n"
end

-- JSON numbers come back as floats on Lua 5.3+: a status read back must print
-- as it did when it was recorded ("404", not "404.0")
local tointeger = math.tointeger or function(n) return n end

-- A recorded field as the error type prints it: text stays text, a number or
-- a table (a tampered line) becomes its JSON, null and the rest nothing.
local function text(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" or t == "boolean" or (t == "table" and v ~= json.null) then return json.encode(v) end
end

local function whole(v)
  if type(v) == "number" and v % 1 == 0 and v >= 0 and v < 2 ^ 31 then return tointeger(v) or v end
end

-- The error of a failed record, rebuilt from its fields alone: whatever the
-- file holds, it prints.
local function recorded_error(e)
  if type(e) ~= "table" then e = {} end
  local status = whole(e.status)
  return errors.new{ vendor = text(e.vendor), operation = text(e.operation), status = status,
    kind = text(e.kind) or (status == nil and "journal" or nil), code = whole(e.code) or text(e.code),
    message = text(e.message) or "no message recorded", retryable = e.retryable == true,
    attempts = whole(e.attempts) }
end

-- Worth another run (the README's promise): 429, every 5xx (a 500 too,
-- which bulk does not retry within a run), and what the error says is
-- retryable (timeouts, connection failures, 408).
local function final(err)
  local s = err.status
  return not (err.retryable or s == 429 or (s and s >= 500 and s <= 599))
end

-- ---- the file ----------------------------------------------------------------

-- Opened without following a link, checked on the descriptor, locked. A
-- journal holds what bulk sent and got back (a new user's password, a
-- renewed credential): made 0600, and refused when another user owns it or
-- group or others may read or change it (the config file's rule).
local function open(path)
  local f, st, why = core.open_private(path, "rw")
  if not f then
    if why == "open" then error("userapi journal: cannot open " .. st, 0) end
    refuse(path, why == "link" and "is a symbolic link: name the file itself" or
      "is not a regular file (a pipe, a device or a directory)")
  end
  local me = core.geteuid()
  if st.uid ~= me then
    f:close()
    refuse(path, format("belongs to uid %d, not to you (uid %d)", st.uid, me))
  end
  if st.mode % 64 ~= 0 then
    f:close()
    refuse(path, format("may be read or changed by group or others (mode %03o): run chmod 600 %s", st.mode, path))
  end
  local locked, err = f:lock()
  if not locked then
    f:close()
    if locked == false then
      error("userapi journal: " .. path .. " is in use by another run (it holds the lock); nothing was sent", 0)
    end
    error("userapi journal: cannot lock " .. path .. ": " .. tostring(err), 0)
  end
  return f
end

local function describe(h)
  return format("%s %s at %s (credential %s)", text(h.vendor) or "?", text(h.operation) or "?",
    text(h.base_url) or "?", (text(h.tenant) or "?"):match("([^:]*)$"):sub(1, 8))
end

-- The first line: this tenant's and this operation's journal, or refused.
local function check_header(path, rec, header)
  if rec.userapi_journal ~= VERSION then
    refuse(path, rec.userapi_journal == 1 and
      "was written by an older userapi that did not record the tenant: finish it with that version or remove it"
      or "does not start with a journal header")
  end
  if rec.tenant ~= header.tenant or rec.base_url ~= header.base_url or rec.vendor ~= header.vendor
      or rec.operation ~= header.operation then
    refuse(path, "belongs to another tenant or job: written for " .. describe(rec) .. ", not " .. describe(header))
  end
end

-- One line after the header: a "begin" list of keys, or an item's outcome.
local function read_line(state, rec, where)
  if type(rec.begin) == "table" then
    for _, k in ipairs(rec.begin) do
      if type(k) ~= "string" then error(where .. ": a begin line with a key that is not a string", 0) end
      state.begun[k] = true
    end
  elseif type(rec.key) == "string" and type(rec.ok) == "boolean" then
    state.begun[rec.key] = nil
    if rec.ok then
      state.done[rec.key] = { ok = true, value = rec.value, resumed = true }
    else
      local err = recorded_error(rec.error)
      -- a failure worth another try is sent again
      if final(err) then state.done[rec.key] = { ok = false, err = err, resumed = true } end
    end
  else
    error(where .. " is not a journal record", 0)
  end
end

-- The journal as { done = { key -> outcome }, begun = { key -> true } };
-- a new one (or one killed while writing its header) gets the header.
local function load(f, path, header)
  local content, err = f:read()
  if not content then error("userapi journal: cannot read " .. path .. ": " .. tostring(err), 0) end
  local good = content:match("^(.*\n)") or ""
  local state = { done = {}, begun = {} }
  if good == "" then
    if content ~= "" and not f:truncate(0) then error("userapi journal: cannot write " .. path, 0) end
    put(f, path, json.encode(header) .. "\n")
    sync(f, path)
    return state
  end
  if #good < #content then -- a line torn by the kill
    local ok, terr = f:truncate(#good)
    if not ok then error("userapi journal: cannot write " .. path .. ": " .. tostring(terr), 0) end
    sync(f, path)
  end
  local n = 0
  for line in good:gmatch("([^\n]*)\n") do
    n = n + 1
    local decoded, rec = pcall(json.decode, line)
    if not decoded or type(rec) ~= "table" then
      if n == 1 then refuse(path, "does not start with a journal header") end
      error(format("userapi journal: %s: line %d is not a journal record", path, n), 0)
    end
    if n == 1 then
      check_header(path, rec, header)
    else
      read_line(state, rec, format("userapi journal: %s: line %d", path, n))
    end
  end
  return state
end

-- ---- in-doubt items ----------------------------------------------------------

-- A delete found already applied: read back by id, absent means done.
local function confirm_deleted(client, opname, item)
  local p = client.vendor.people
  if not (p and p.delete and p.delete.op == opname) then return false end
  local id = type(item) == "table" and item[1] or item
  local found = require("userapi.people").find(client, { id = tostring(id) })
  return found ~= nil and #found == 0
end

-- ---- the run -----------------------------------------------------------------

local function check_opts(opts)
  if type(opts.journal) ~= "string" or opts.journal == "" then
    error("bad argument #3 to 'bulk' (journal: file name expected)", 0)
  end
  local inner = {}
  for k, v in pairs(opts) do if k ~= "journal" then inner[k] = v end end
  bulk.check_options(inner)
  return inner
end

local function count(results, r)
  if r.ok then results.ok = results.ok + 1
  elseif r.skipped then results.skipped = results.skipped + 1
  else results.failed = results.failed + 1 end
end

-- Every item checked before the journal is touched or anything is sent.
local function check_items(client, opname, items)
  if type(items) ~= "table" then error("bad argument #2 to 'bulk' (array of items expected)", 0) end
  local n = 0
  for _, item in ipairs(items) do
    local args = type(item) == "table" and item or { item }
    client:build(opname, unpack(args, 1, args.n or #args))
    n = n + 1
  end
  bulk.no_holes(items, n, 1)
end

-- The outcomes the journal holds (or a delete found applied), reported at
-- once through on_result; the indexes of the items left to send.
local function resume(client, opname, items, state, results, on_result)
  local todo = {}
  for i, item in ipairs(items) do
    local key = _M.key(item)
    local done = state.done[key]
    if not done and state.begun[key] and confirm_deleted(client, opname, item) then
      done = { ok = true, value = true, confirmed = true, resumed = true }
    end
    if done then
      results[i] = done
      results.resumed = results.resumed + 1
      count(results, done)
      if on_result then on_result(i, done) end
    else
      todo[#todo + 1] = i
    end
  end
  return todo
end

-- The items left, window by window: each window's keys written before it
-- is sent, each outcome as it finishes (then handed to the caller's
-- on_result), the file synced after each window.
local function send(client, opname, items, todo, inner, f, path, state, results)
  local window = max(32, 4 * (inner.concurrency or 8))
  for first = 1, #todo, window do
    local idx, batch, keys = {}, {}, {}
    for j = first, math.min(#todo, first + window - 1) do
      local i = todo[j]
      idx[#idx + 1], batch[#batch + 1], keys[#keys + 1] = i, items[i], _M.key(items[i])
    end
    put(f, path, json.encode({ begin = keys }) .. "\n")
    local before = results.ok + results.failed + results.skipped
    local sub = bulk.run(client, opname, batch, setmetatable({
      on_result = function(k, r)
        if r.skipped then return end
        if state.begun[keys[k]] then r.in_doubt = true end
        put(f, path, outcome_line(keys[k], r))
        if inner.on_result then inner.on_result(idx[k], r) end
      end,
      on_progress = inner.on_progress and function(d) inner.on_progress(before + d, #items) end,
    }, { __index = inner }))
    sync(f, path)
    for k, r in ipairs(sub) do
      if state.begun[keys[k]] then r.in_doubt = true end
      results[idx[k]] = r
      count(results, r)
    end
    results.retried = results.retried + sub.retried
    results.throttled = results.throttled + sub.throttled
    if inner.stop_on_error and sub.failed > 0 then break end
  end
end

--- Runs a bulk operation with a journal; `client:bulk` calls it when
-- `opts.journal` is given. Results as `bulk.run`'s, each recorded one marked
-- `resumed = true`, with the counts plus `resumed`. `on_result(i, r)` is
-- called for each recorded outcome first, then for each item as it finishes
-- (after its line is written).
-- @tparam userapi.client.Client client
-- @tparam string opname the operation
-- @tparam table items the calls' arguments (as `bulk.run`)
-- @tparam table opts `bulk.run`'s options with `journal` (a file name)
-- @treturn table the results in input order and the counts
-- @raise `bad argument ...` as `bulk.run`, and when the journal is another
-- tenant's or operation's, a symbolic link, not a regular file, another
-- user's or open to others (nothing sent); `userapi journal: ...` when
-- another run holds it, a line is damaged, or it cannot be written
-- @usage local res = kandji:bulk("delete_user", ids, { journal = "offboard.journal" })
-- print(res.ok, "deleted,", res.resumed, "from an earlier run")
function _M.run(client, opname, items, opts)
  local inner = check_opts(opts)
  check_items(client, opname, items)
  local path = opts.journal
  local t = tenant_of(client)
  local header = { userapi_journal = VERSION, vendor = t.vendor, base_url = t.base_url, tenant = t.key,
                   operation = opname }
  local f = open(path)
  local results = { ok = 0, failed = 0, skipped = 0, retried = 0, throttled = 0, resumed = 0 }
  local ok, err = pcall(function()
    local state = load(f, path, header)
    local todo = resume(client, opname, items, state, results, inner.on_result)
    send(client, opname, items, todo, inner, f, path, state, results)
  end)
  f:close()
  if not ok then error(err, 0) end
  for i = 1, #items do
    if not results[i] then
      results[i] = { ok = false, skipped = true, err = errors.new{ vendor = client.vendor.name, operation = opname,
        kind = "skipped", message = "not sent: an earlier item failed (stop_on_error)" } }
      results.skipped = results.skipped + 1
    end
  end
  return results
end

return _M
