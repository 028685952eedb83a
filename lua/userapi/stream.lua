--- Streaming a response body through the transport's multi interface, so a
-- large answer (Opendatasoft's CSV export) is read in constant memory.
-- A stream has bounds a server cannot stretch: `idle_timeout_ms` (no byte for
-- that long), `stream_timeout_ms` (the whole transfer), `max_body_bytes` (an
-- error body) and `max_row_bytes` (one CSV row).
-- @module userapi.stream
local errors = require "userapi.errors"
local csv = require "userapi.csv"
local oidc = require "userapi.oidc"
local paging = require "userapi.paging"

local error, pcall, pairs, ipairs = error, pcall, pairs, ipairs
local min, floor, concat = math.min, math.floor, table.concat
local _M = {}

--- The defaults of the stream options, client-wide or per call (the call's wins).
-- @table defaults
-- @field idle_timeout_ms 30000: no byte for this long ends the stream (`kind = "timeout"`)
-- @field stream_timeout_ms 1800000 (30 minutes): the whole export, however fast it
-- arrives, ends then (`kind = "timeout"`)
-- @field max_row_bytes 1 MiB: a longer CSV row ends the stream (`kind = "too_large"`)
-- @field max_body_bytes 64 MiB, the client's option: a longer error body ends the
-- stream (`kind = "too_large"`)
_M.defaults = { idle_timeout_ms = 30000, stream_timeout_ms = 1800000, max_row_bytes = 1024 * 1024,
                max_body_bytes = 64 * 1024 * 1024 }

-- options of a stream, never sent as query parameters
local LOCAL = { "idle_timeout_ms", "stream_timeout_ms", "max_row_bytes" }

-- A time-out or size error of the stream, status included when one came.
local function fail(base, kind, message, status)
  return errors.new{ vendor = base.vendor, operation = base.operation, secrets = base.secrets,
                     kind = kind, status = status, message = message }
end

-- Which bound a stream passed, for the message: the one it was nearer to
-- (the transport's clock and ours differ by a little, and it checks idleness
-- about once a second).
local function timed_out(limits, elapsed, idle)
  if limits.stream_timeout_ms - elapsed <= limits.idle_timeout_ms - idle then
    return "the stream outlasted stream_timeout_ms (" .. limits.stream_timeout_ms .. " ms)"
  end
  return "no byte for idle_timeout_ms (" .. limits.idle_timeout_ms .. " ms)"
end

-- Reads the body of one request chunk by chunk: calls on_chunk(chunk) for a
-- 2xx body, returns true, or nil and the structured error. `limits` holds the
-- stream options; the time the caller spends in on_chunk counts towards the
-- total deadline but not as idle time.
local function pull(client, opname, req, limits, on_chunk)
  local base = { vendor = client.vendor.name, operation = opname, secrets = client.secrets }
  if client.token_provider then
    local ok, err = oidc.refresh(client, false)
    if not ok then return nil, err end
  end
  local waited, late = client.limiter:acquire(opname)
  if not waited then return nil, late end
  -- the transport bounds the transfer too, where it can: the total and the idle time
  req.stream, req.timeout_ms, req.idle_timeout_ms = true, limits.stream_timeout_ms, limits.idle_timeout_ms
  local now = client.now
  local m = client.transport:multi()
  local id = m:add(req)
  local started = now()
  local last_byte = started
  local failed, failed_bytes = {}, 0
  local function stop(...)
    m:close()
    return ...
  end
  while true do
    local chunk, done, status, headers = m:read(id)
    local t = now()
    if chunk == nil then
      -- the transport's own deadline: say which bound it was
      if done.kind == "timeout" then
        return stop(nil, fail(base, "timeout", timed_out(limits, t - started, t - last_byte) .. ": " .. done.message))
      end
      return stop(nil, errors.from_transport(base, done))
    end
    if chunk ~= "" then last_byte = t end
    if status >= 300 or (status > 0 and status < 200) then
      -- an error body: kept whole for the error, up to max_body_bytes
      failed[#failed + 1] = chunk
      failed_bytes = failed_bytes + #chunk
      if failed_bytes > limits.max_body_bytes then
        return stop(nil, fail(base, "too_large", "error body larger than max_body_bytes ("
          .. limits.max_body_bytes .. ")", status))
      end
    elseif chunk ~= "" then
      local ok, err = pcall(on_chunk, chunk)
      if not ok then
        m:close() -- the transfer ends with the reader
        error(err, 0)
      end
      t = now()
      last_byte = t
    end
    if done then
      m:close()
      if #failed > 0 or status >= 300 then
        return client:result(opname, nil, status, concat(failed), headers)
      end
      return true
    end
    if t - started >= limits.stream_timeout_ms or (chunk == "" and t - last_byte >= limits.idle_timeout_ms) then
      return stop(nil, fail(base, "timeout", timed_out(limits, t - started, t - last_byte)))
    end
    if chunk == "" then
      local left = min(100, limits.idle_timeout_ms - (t - last_byte), limits.stream_timeout_ms - (t - started))
      m:wait(floor(left) + 1)
    end
  end
end

-- The stream options of a call (the call's, else the client's, else the
-- default) and its query parameters without them.
local function split(client, params, fname)
  local limits, query = {}, {}
  for k, v in pairs(params or {}) do query[k] = v end
  for _, name in ipairs(LOCAL) do
    limits[name] = paging.option(client, params, name, _M.defaults[name], fname)
    query[name] = nil
  end
  limits.max_body_bytes = paging.option(client, nil, "max_body_bytes", _M.defaults.max_body_bytes, fname)
  return limits, query
end

--- Iterates the rows of a CSV export as records keyed by its header, while
-- the body arrives; raises the structured error if the export fails.
-- @tparam userapi.client.Client client
-- @tparam string opname the export operation
-- @tparam[opt] table params its query parameters (`delimiter`), and the stream
-- options of this call (see @{defaults}), which win over the client's
-- @treturn function the iterator of rows
-- @raise the export's @{userapi.errors.Error}: `kind = "timeout"` past
-- `idle_timeout_ms` or `stream_timeout_ms`, `kind = "too_large"` past
-- `max_row_bytes` or, for an error body, `max_body_bytes`; `bad argument` for a
-- stream option that is not a positive integer
function _M.csv_rows(client, opname, params)
  local limits, query = split(client, params, "each_export_row")
  local req = client:build(opname, query)
  local queue, head, tail = {}, 1, 0
  local header
  local parser = csv.parser(query.delimiter, function(fields)
    if not header then
      header = fields
    else
      tail = tail + 1
      queue[tail] = csv.record(header, fields)
    end
  end, limits.max_row_bytes)
  local function parsed(ok, why)
    if not ok then
      error(fail({ vendor = client.vendor.name, operation = opname }, "too_large", why), 0)
    end
  end
  local co = coroutine.wrap(function()
    local ok, err = pull(client, opname, req, limits, function(chunk)
      parsed(parser.feed(chunk))
      -- hand the rows of this chunk out before reading the next one
      coroutine.yield()
    end)
    if not ok then error(err, 0) end
    parsed(parser.finish())
    return "end"
  end)
  local finished, failure = false, nil
  return function()
    while true do
      if head <= tail then
        local row = queue[head]
        queue[head] = nil
        head = head + 1
        return row
      end
      -- the rows read before a failure come out first, then the error
      if failure then
        local err = failure
        failure = nil
        error(err, 0)
      end
      if finished then return nil end
      local ok, res = pcall(co)
      if not ok then
        finished, failure = true, res
      elseif res == "end" then
        finished = true
      end
    end
  end
end

return _M
