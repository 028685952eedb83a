--- Streaming a response body through the transport's multi interface, so a
-- large answer (Opendatasoft's CSV export) is read in constant memory.
-- @module userapi.stream
local errors = require "userapi.errors"
local csv = require "userapi.csv"
local oidc = require "userapi.oidc"

local error = error
local _M = {}

-- Reads the body of one request chunk by chunk: calls on_chunk(chunk) for a
-- 2xx body, returns true, or nil and the structured error.
local function pull(client, opname, req, on_chunk)
  local base = { vendor = client.vendor.name, operation = opname, secrets = client.secrets }
  if client.token_provider then
    local ok, err = oidc.refresh(client, false)
    if not ok then return nil, err end
  end
  client.limiter:acquire(opname)
  req.stream = true
  local m = client.transport:multi()
  local id = m:add(req)
  local failed = {}
  while true do
    local chunk, done, status, headers = m:read(id)
    if chunk == nil then
      m:close()
      return nil, errors.from_transport(base, done)
    end
    if status >= 300 or (status > 0 and status < 200) then
      failed[#failed + 1] = chunk -- an error body: small, kept whole
    elseif chunk ~= "" then
      local ok, err = pcall(on_chunk, chunk)
      if not ok then
        m:close() -- the transfer ends with the reader
        error(err, 0)
      end
    end
    if done then
      m:close()
      if #failed > 0 or status >= 300 then
        return client:result(opname, nil, status, table.concat(failed), headers)
      end
      return true
    end
    if chunk == "" then m:wait(100) end
  end
end

--- Iterates the rows of a CSV export as records keyed by its header, while
-- the body arrives; raises the structured error if the export fails.
-- @tparam userapi.client.Client client
-- @tparam string opname the export operation
-- @tparam[opt] table params its query parameters (`delimiter`)
-- @treturn function the iterator of rows
-- @raise the export's @{userapi.errors.Error}
function _M.csv_rows(client, opname, params)
  local req = client:build(opname, params)
  local delimiter = params and params.delimiter
  local queue, head, tail = {}, 1, 0
  local header
  local parser = csv.parser(delimiter, function(fields)
    if not header then
      header = fields
    else
      tail = tail + 1
      queue[tail] = csv.record(header, fields)
    end
  end)
  local co = coroutine.wrap(function()
    local ok, err = pull(client, opname, req, function(chunk)
      parser.feed(chunk)
      -- hand the rows of this chunk out before reading the next one
      coroutine.yield()
    end)
    if not ok then error(err, 0) end
    parser.finish()
    return "end"
  end)
  local finished = false
  return function()
    while true do
      if head <= tail then
        local row = queue[head]
        queue[head] = nil
        head = head + 1
        return row
      end
      if finished then return nil end
      if co() == "end" then finished = true end
    end
  end
end

return _M
