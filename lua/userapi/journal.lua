--- Resumable bulk: `client:bulk(op, items, { journal = "path" })` records each
-- finished item (its key and outcome) in a journal file, one JSON line each;
-- running again with the same journal skips the items already done and
-- returns their recorded outcomes, merged with the new ones in input order.
--
-- How it holds up when the process dies (SIGKILL, a crash, a reboot):
--
-- - Items go out in windows (4 x `concurrency`, at least 32). Before a window
--   is sent, its keys are written as one "begin" line; each item's outcome is
--   written as it finishes; at the end of the window the file is fsynced
--   (with Debian's lua-posix; without it, lines are flushed, which survives
--   the death of the process but not of the machine).
-- - On the next run, items begun but not finished are in doubt. When the
--   operation is the vendor's delete (its `people.delete`), an in-doubt item
--   is read back first: already gone means the delete was applied, and it is
--   recorded as done without sending it again; one still there is sent (and
--   marked `in_doubt`). Other operations send an
--   in-doubt item again (at most one window's worth), marked `in_doubt`.
-- - A last line cut short by the kill is dropped (the file is rewritten
--   without it); any other unreadable line is an error.
-- - Failures worth another try (`err.retryable`: 429, 5xx, timeouts) are not
--   done: the next run sends them again. Other failures are recorded as final.
-- @module userapi.journal
local json = require "userapi.json"
local errors = require "userapi.errors"
local core = require "userapi.core"

local type, pairs, ipairs, tostring, error, max = type, pairs, ipairs, tostring, error, math.max
local unpack = table.unpack or unpack

local _M = {}

-- Every write is checked: a journal that silently stopped growing would
-- send the same writes again on the next run. fsync comes from the C core
-- (Debian's lua-posix has no Lua 5.4 build).
-- Each line is flushed at once, so a killed process loses none; the flush is
-- what reports a failed write (with line buffering the C library drops it).
local function put(f, path, ...)
  local ok, err = f:write(...)
  if ok then ok, err = f:flush() end
  if not ok then error("userapi journal: cannot write " .. path .. ": " .. tostring(err), 0) end
end

local function sync(f, path)
  local ok, err = core.fsync(f)
  if not ok then error("userapi journal: cannot sync " .. path .. ": " .. tostring(err), 0) end
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

-- ---- reading and writing the file ----------------------------------------------

local function outcome_line(key, r)
  local rec = { key = key, ok = r.ok }
  if r.ok then
    rec.value = r.value
  else
    local e = r.err
    rec.error = { vendor = e.vendor, operation = e.operation, status = e.status, kind = e.kind,
                  message = e.message, code = e.code, retryable = e.retryable, attempts = e.attempts }
  end
  return json.encode(rec)
end

-- JSON numbers come back as floats on Lua 5.3+: a status read back must print
-- as it did when it was recorded ("404", not "404.0")
local tointeger = math.tointeger or function(n) return n end
local function outcome_of(rec)
  if rec.ok then return { ok = true, value = rec.value, resumed = true } end
  local e = type(rec.error) == "table" and rec.error or { kind = "journal", message = "no error recorded" }
  for _, k in ipairs({ "status", "attempts", "code" }) do
    if type(e[k]) == "number" then e[k] = tointeger(e[k]) or e[k] end
  end
  return { ok = false, err = errors.new(e), resumed = true }
end

-- A journal holds what bulk sent and got back (a new user's password, a
-- renewed credential): a file it creates is the user's alone (0600).
local function open(path, mode)
  local old = core.umask(tonumber("077", 8))
  local f, err = io.open(path, mode)
  core.umask(old)
  if not f then error("userapi journal: cannot open " .. tostring(err), 0) end
  return f
end

-- The file as it is now, read up to its size: a device or a pipe named as
-- the journal (/dev/zero, /dev/stdin) is refused, not read without end.
local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local size = f:seek("end")
  local s
  if size and size > 0 then
    f:seek("set")
    s = f:read(size)
  elseif size then
    -- an empty file has no byte to read; /dev/zero has
    if f:read(1) == nil then s = "" end
  end
  f:close()
  if not s or #s ~= size then error("userapi journal: " .. path .. " is not a regular file", 0) end
  return s
end

local function write_file(path, text)
  local tmp = path .. ".tmp"
  local f = open(tmp, "wb")
  put(f, tmp, text)
  sync(f, tmp)
  f:close()
  local ok, err = os.rename(tmp, path)
  if not ok then error("userapi journal: cannot write " .. tostring(err), 0) end
end

-- The journal as { header, done = { key -> outcome }, begun = { key -> true } }.
local function load(path, header)
  local text = slurp(path) or ""
  local good = text:match("^(.*\n)") or ""
  if good == "" then -- new, or killed while writing its header: written in place
    local f = open(path, "wb")
    put(f, path, json.encode(header), "\n")
    sync(f, path)
    f:close()
    return { done = {}, begun = {} }
  end
  if #good < #text then write_file(path, good) end -- a line torn by the kill
  local state, n = { done = {}, begun = {} }, 0
  for line in good:gmatch("([^\n]*)\n") do
    n = n + 1
    local rec = json.decode(line)
    if type(rec) ~= "table" then error("journal " .. path .. ": line " .. n .. " is not a journal record", 0) end
    if n == 1 then
      if rec.vendor ~= header.vendor or rec.operation ~= header.operation then
        error(("journal %s: written for %s %s, not %s %s"):format(path, tostring(rec.vendor),
          tostring(rec.operation), header.vendor, header.operation), 0)
      end
    elseif rec.begin then
      for _, k in ipairs(rec.begin) do state.begun[k] = true end
    elseif rec.key then
      state.begun[rec.key] = nil
      -- a failure worth another try is sent again
      if rec.ok or not (rec.error and rec.error.retryable) then state.done[rec.key] = outcome_of(rec) end
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
  local found = require("userapi.state").find(client, { id = tostring(id) })
  return found ~= nil and #found == 0
end

-- ---- the run -----------------------------------------------------------------

local function check_opts(opts)
  if type(opts.journal) ~= "string" or opts.journal == "" then
    error("bad argument #3 to 'bulk' (journal: file name expected)", 3)
  end
  local inner = {}
  for k, v in pairs(opts) do if k ~= "journal" then inner[k] = v end end
  return inner
end

local function count(results, r)
  if r.ok then results.ok = results.ok + 1
  elseif r.skipped then results.skipped = results.skipped + 1
  else results.failed = results.failed + 1 end
end

--- Runs a bulk operation with a journal; called by @{userapi.bulk.run} when
-- `opts.journal` is given. Results as `bulk.run`'s, each recorded one marked
-- `resumed = true`, with the counts plus `resumed`.
-- @tparam userapi.client.Client client
-- @tparam string opname the operation
-- @tparam table items the calls' arguments (as `bulk.run`)
-- @tparam table opts `bulk.run`'s options with `journal` (a file name)
-- @treturn table the results in input order and the counts
-- @raise `bad argument ...` as `bulk.run`; `journal FILE: ...` when the file
-- belongs to another operation or is damaged before its last line
-- @usage local res = kandji:bulk("delete_user", ids, { journal = "offboard.journal" })
-- print(res.ok, "deleted,", res.resumed, "from an earlier run")
function _M.run(client, opname, items, opts)
  local inner = check_opts(opts)
  if type(items) ~= "table" then error("bad argument #2 to 'bulk' (array of items expected)", 2) end
  local n = 0
  for _, item in ipairs(items) do
    local args = type(item) == "table" and item or { item }
    client:build(opname, unpack(args, 1, args.n or #args)) -- every item checked before the first is sent
    n = n + 1
  end
  require("userapi.bulk").no_holes(items, n, 2)
  local path = opts.journal
  local header = { userapi_journal = 1, vendor = client.vendor.name, operation = opname }
  local state = load(path, header)
  local results = { ok = 0, failed = 0, skipped = 0, retried = 0, throttled = 0, resumed = 0 }
  local todo = {}
  for i, item in ipairs(items) do
    local key = _M.key(item)
    local done = state.done[key]
    if not done and state.begun[key] and confirm_deleted(client, opname, item) then
      done = { ok = true, value = true, confirmed = true }
    end
    if done then
      results[i] = done
      results.resumed = results.resumed + 1
      count(results, done)
    else
      todo[#todo + 1] = i
    end
  end
  local f = open(path, "ab")
  local ok, err = pcall(function()
    local window = max(32, 4 * (inner.concurrency or 8))
    for first = 1, #todo, window do
      local idx, batch, keys = {}, {}, {}
      for j = first, math.min(#todo, first + window - 1) do
        local i = todo[j]
        idx[#idx + 1], batch[#batch + 1], keys[#keys + 1] = i, items[i], _M.key(items[i])
      end
      put(f, path, json.encode({ begin = keys }), "\n")
      local before = results.ok + results.failed + results.skipped
      local sub = require("userapi.bulk").run(client, opname, batch, setmetatable({
        on_result = function(k, r)
          if not r.skipped then put(f, path, outcome_line(keys[k], r), "\n") end
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
