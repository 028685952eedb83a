--- Many calls of one operation at once, on the transport's multi interface
-- (curl multi, or nginx light threads): results in input order, retries and
-- rate limits shared by the whole batch. Each item is an @{userapi.attempt}:
-- bulk keeps only the scheduling (slots, pauses, retries due).
-- @module userapi.bulk
local errors = require "userapi.errors"
local attempt = require "userapi.attempt"

local type, ipairs, pairs, error, max, min, tostring = type, ipairs, pairs, error, math.max, math.min, tostring
local unpack = table.unpack or unpack

local _M = {}

local function check_opts(opts, n)
  if opts ~= nil and type(opts) ~= "table" then error("bad argument #3 to 'bulk' (table expected)", 3) end
  opts = opts or {}
  local c = opts.concurrency or 8
  if type(c) ~= "number" or c < 1 or c > 64 or c % 1 ~= 0 then
    error("bad argument #3 to 'bulk' (concurrency: integer 1..64 expected)", 0)
  end
  for _, hook in ipairs({ "on_progress", "on_result" }) do
    if opts[hook] ~= nil and type(opts[hook]) ~= "function" then
      error("bad argument #3 to 'bulk' (" .. hook .. ": function expected)", 0)
    end
  end
  return opts, min(c, max(n, 1))
end

-- the options of bulk; another (`check = true`, `dry_run = true`) would be
-- ignored while every write goes out
local KNOWN = { concurrency = true, on_progress = true, on_result = true, stop_on_error = true, journal = true }

local function known(opts)
  if type(opts) ~= "table" then return end
  for k in pairs(opts) do
    if not KNOWN[k] then
      error("bad argument #3 to 'bulk' (unknown option '" .. tostring(k) .. "'; known: concurrency, journal, "
        .. "on_progress, on_result, stop_on_error)", 0)
    end
  end
end

--- Raises on an option bulk does not know or a bad value, as `run` would,
-- before anything is sent (the journal checks its call with it first).
-- @tparam table opts
function _M.check_options(opts)
  known(opts)
  check_opts(opts, 1)
end

--- Raises when `items` has an index past its first `n`: a hole ({ "a", nil, "b" })
-- would otherwise end the list there, the items after it never sent nor reported.
-- @tparam table items
-- @tparam int n the items before the first nil
-- @tparam int level for `error`
function _M.no_holes(items, n, level)
  for k in pairs(items) do
    if type(k) == "number" and k > n then
      error("bad argument #2 to 'bulk' (item " .. (n + 1) .. " is nil)", level + 1)
    end
  end
end

-- Every item is checked and built before the first request goes out.
local function build_all(client, opname, items)
  if type(items) ~= "table" then error("bad argument #2 to 'bulk' (array of items expected)", 3) end
  local reqs, locals = {}, {}
  for i, item in ipairs(items) do
    local args = type(item) == "table" and item or { item }
    reqs[i], locals[i] = client:build(opname, unpack(args, 1, args.n or #args))
  end
  -- a hole ({ "a", nil, "b" }) would end the list there: the items after it never sent, unreported
  _M.no_holes(items, #reqs, 3)
  return reqs, locals
end

--- Runs `opname` once per item, `concurrency` at a time. Each item is the
-- argument list of one call (`{ "id1" }`, `{ "id2", body }`) or a bare
-- string or number. Returns an array of `{ ok = true, value }` or
-- `{ ok = false, err }` in input order, with the summary fields `ok`,
-- `failed`, `skipped`, `retried` and `throttled` (waits asked by the server).
-- Every item is checked and built before the first request goes out.
-- @tparam userapi.client.Client client
-- @tparam string opname the operation
-- @tparam {table|string|number,...} items the calls' arguments
-- @tparam[opt] table opts
-- @tparam[opt=8] int opts.concurrency requests in flight, 1..64
-- @tparam[opt] function opts.on_progress `on_progress(done, n)` after each item
-- @tparam[opt] function opts.on_result `on_result(i, result)` as item i finishes
-- @tparam[opt] string opts.journal (through `client:bulk`) a file that makes the run resumable: see @{userapi.journal}
-- @tparam[opt] boolean opts.stop_on_error send no more after a failure (the rest are `skipped`)
-- @treturn table the results and the counts
-- @raise `bad argument ...` on an unknown operation, a bad item or bad options
-- @usage local res = bulk.run(kandji, "get_user", { id1, id2 }, { concurrency = 2 })
-- for i, r in ipairs(res) do print(i, r.ok and r.value.email or tostring(r.err)) end
function _M.run(client, opname, items, opts)
  known(opts)
  -- the journal wraps bulk (client:bulk hands it the call), not the reverse
  if type(opts) == "table" and opts.journal then
    error("bad argument #3 to 'bulk' (journal: through client:bulk, which keeps the journal)", 0)
  end
  if not client.vendor.ops[opname] then
    error("bad argument #1 to 'bulk' (unknown operation '" .. tostring(opname) .. "')", 2)
  end
  local reqs, locals = build_all(client, opname, items)
  local n = #reqs
  local concurrency
  opts, concurrency = check_opts(opts, n)
  local results = { ok = 0, failed = 0, skipped = 0, retried = 0, throttled = 0 }
  local now, sleep = client.now, client.sleep
  local m = client.transport:multi()
  local inflight, waiting = {}, {}   -- id -> job; jobs waiting to be retried
  local next_item, done, pause_until, stop = 1, 0, 0, false
  local closed

  local function ready_job(t, fresh_ok)
    for k, job in ipairs(waiting) do
      if job.not_before <= t then return table.remove(waiting, k) end
    end
    if fresh_ok and next_item <= n then
      next_item = next_item + 1
      local job = attempt.new(client, opname, reqs[next_item - 1], locals[next_item - 1])
      job.index = next_item - 1
      return job
    end
  end

  local function finish(job, value, err)
    results[job.index] = err and { ok = false, err = err } or { ok = true, value = value }
    results[err and "failed" or "ok"] = results[err and "failed" or "ok"] + 1
    done = done + 1
    if opts.on_result then opts.on_result(job.index, results[job.index]) end
    if opts.on_progress then opts.on_progress(done, n) end
    if err and opts.stop_on_error then stop = true end
  end

  local function settle(job, r)
    local final, value, err = job:settle(r.status, r.status and r.body or r.err, r.headers, r.rate_limit_headers)
    if final then return finish(job, value, err) end
    local wait, why = value, err
    if why ~= "renew" then results.retried = results.retried + 1 end
    if why == "throttled" then
      -- the server speaks for the whole batch: everyone waits
      results.throttled = results.throttled + 1
      pause_until = max(pause_until, now() + wait)
    end
    job.not_before = now() + wait
    waiting[#waiting + 1] = job
  end

  -- the loop as a function: whatever it raises (on_progress, a token
  -- provider, a sleep), the multi is closed and no transfer is left behind
  -- a transfer starts in the multi's wait, not at add: each one reserves its
  -- rate-limit slot and is added only when the slot comes (scheduled till then)
  local scheduled = 0
  local function schedule(job)
    local delay, slot_at = attempt.reserve(client, opname)
    -- a slot farther than the item may wait is not taken: the item fails at once
    if not delay then finish(job, nil, slot_at) return true end
    job.slot_at = slot_at
    if delay <= 0 and attempt.on_time(client, slot_at) then return false end
    job.slot, job.not_before = true, now() + delay
    scheduled = scheduled + 1
    waiting[#waiting + 1] = job
    return true
  end

  local function next_due()
    local due = math.huge
    for _, job in ipairs(waiting) do due = min(due, job.not_before) end
    return due
  end

  -- a token that cannot be had fails the items, as from a call (never a raise);
  -- the items after it fail with the same error, without asking again each
  local token_failed
  local function start(job)
    if not token_failed then
      local ok, err = job:begin(false) -- the slot was this loop's to schedule
      if not ok then token_failed = err end
    end
    if token_failed then return finish(job, nil, token_failed) end
    inflight[m:add(job.req)] = job
  end

  -- closed under the run: what is not done fails with kind = "closed"
  local closings = client:closings()
  local function drive()
    while true do
      if client:closings() ~= closings then
        closed = attempt.closed(client, opname)
        break
      end
      local t = now()
      while not stop and m:pending() < concurrency and t >= pause_until do
        local job = ready_job(t, m:pending() + scheduled < concurrency)
        if not job then break end
        if job.slot then
          job.slot, scheduled = nil, scheduled - 1
          -- woken later than the margin after its slot: that window may be full by now
          if attempt.on_time(client, job.slot_at) then
            start(job)
          elseif (job.late or 0) >= 8 then
            finish(job, nil, attempt.too_late(client, opname))
          else
            job.late = (job.late or 0) + 1
            if not schedule(job) then start(job) end
          end
        elseif not schedule(job) then
          start(job)
        end
      end
      if m:pending() == 0 then
        if stop or (next_item > n and #waiting == 0) then break end
        -- only retries, slots to come or a server-asked pause are left: sleep until the first is due
        local due = next_due()
        if next_item <= n and scheduled < concurrency then due = t end
        sleep(max(0, max(due, pause_until) - now()))
      else
        for _, r in ipairs(m:wait(max(1, math.ceil(min(250, next_due() - now()))))) do
          local job = inflight[r.id]
          inflight[r.id] = nil
          settle(job, r)
        end
      end
    end
  end
  local ok, err = pcall(drive)
  m:close()
  if not ok then error(err, 0) end
  for i = 1, n do
    if not results[i] and closed then
      results[i] = { ok = false, err = closed }
      results.failed = results.failed + 1
    elseif not results[i] then
      results[i] = { ok = false, skipped = true, err = errors.new{ vendor = client.vendor.name,
        operation = opname, kind = "skipped", message = "not sent: an earlier item failed (stop_on_error)" } }
      results.skipped = results.skipped + 1
    end
  end
  return results
end

--- The per-item results of a batch operation's 2xx answer: see @{userapi.attempt.items}.
-- @function items
_M.items = attempt.items

--- Sends a batch operation's array body in requests of `op.chunk` items and
-- merges the per-item results in input order. A request that fails as a
-- whole fails each of its items with its error.
-- @tparam userapi.client.Client client
-- @tparam string opname an operation with `chunk` (Opendatasoft invite, provision)
-- @tparam {table,...} list the array body
-- @treturn table the results as `items` gives them, for the whole list
function _M.chunked(client, opname, list)
  local op = client.vendor.ops[opname]
  local merged = { ok = 0, failed = 0 }
  for first = 1, #list, op.chunk do
    local part = { unpack(list, first, min(#list, first + op.chunk - 1)) }
    local req, opts = client:build(opname, part)
    local res, err = attempt.run(client, opname, req, opts)
    for k = 1, #part do
      local r = res and res[k] or { ok = false, err = err }
      if res and not r.ok then r.err.item = first - 1 + k end
      merged[first - 1 + k] = r
      merged[r.ok and "ok" or "failed"] = merged[r.ok and "ok" or "failed"] + 1
    end
  end
  return merged
end

return _M
