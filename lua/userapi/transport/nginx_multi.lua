--- Many requests at once for the nginx transport, with the C core multi's
-- interface: each request runs on a light thread (`ngx.thread`), which
-- queues its answer and posts a semaphore; `wait(timeout_ms)` waits on that
-- semaphore, so it returns when an answer is in or the time is up.
local nginx = require "userapi.transport.nginx"
local http1 = require "userapi.transport.http1"
local semaphore = require "ngx.semaphore"

local ngx = ngx
local pairs, pcall, tostring, setmetatable = pairs, pcall, tostring, setmetatable
local error, select, next = error, select, next
local remove = table.remove

local _M = {}

local M = {}
M.__index = M

--- A multi on `transport`: add(req) -> id, wait(timeout_ms) -> finished,
-- read(id), pending(), close().
function _M.new(transport)
  return setmetatable({ transport = transport, threads = {}, streams = {}, done = {}, next_id = 1, count = 0,
                        posted = semaphore.new(0) }, M)
end

--- Starts a request on a light thread (or, with `stream = true`, readies it
-- for `read`); returns its id.
function M:add(req)
  local id = self.next_id
  self.next_id = id + 1
  self.count = self.count + 1
  if req.stream then
    self.streams[id] = { req = req }
    return id
  end
  local t, done, posted = self.transport, self.done, self.posted
  self.threads[id] = ngx.thread.spawn(function()
    -- a raise becomes an error result
    local ok, status, body, headers = pcall(t.request, t, req)
    if not ok then
      done[#done + 1] = { id = id, err = select(2, http1.fail("aborted", tostring(status))) }
    elseif status then
      done[#done + 1] = { id = id, status = status, body = body, headers = headers }
    else
      done[#done + 1] = { id = id, err = body }
    end
    posted:post(1)
  end)
  return id
end

--- How many requests are running or unread.
function M:pending() return self.count end

--- Waits up to `timeout_ms` (0: do not wait; nil: until one finishes) for
-- the next finished request: an array of at most one
-- `{ id, status, body, headers }` or `{ id, err }`.
function M:wait(timeout_ms)
  local out = {}
  if next(self.threads) == nil then
    if next(self.streams) == nil and timeout_ms and timeout_ms > 0 then ngx.sleep(timeout_ms / 1000) end
    return out
  end
  -- one post per queued answer: taking one is taking an answer
  local ok = self.posted:wait(timeout_ms and timeout_ms / 1000 or 1e9)
  if not ok then return out end
  local r = remove(self.done, 1)
  local th = self.threads[r.id]
  self.threads[r.id] = nil
  self.count = self.count - 1
  ngx.thread.wait(th) -- reaps the finished thread: a long bulk keeps no dead coroutines
  out[1] = r
  return out
end

--- Streams a response: chunk, done, status, headers, or nil and an error.
function M:read(id)
  local s = self.streams[id]
  if not s then error("bad argument #2 to 'read' (no streamed transfer with this id)", 2) end
  local function done_with(...)
    self.streams[id] = nil
    self.count = self.count - 1
    return ...
  end
  local t = self.transport
  if not s.r then
    local r, status, block, http10 = nginx.start(t, s.req)
    if not r then return done_with(nil, status) end
    local frame, keep = http1.framing(block, http10)
    if not frame then
      if not (s.req.method == "HEAD" or status == 204 or status == 304) then
        r.sock:close()
        return done_with(http1.fail("protocol", keep))
      end
      keep = false
    end
    s.r, s.status, s.headers = r, status, s.req.raw_headers and block or http1.fields(block)
    s.next_chunk, s.state = http1.body_reader(r, s.req.method, status, frame, keep)
  end
  local chunk, err = s.next_chunk()
  if not chunk then s.r.sock:close() return done_with(nil, err) end
  if chunk == "" then
    nginx.release(t, s.r, s.state.keep)
    return done_with("", true, s.status, s.headers)
  end
  return chunk, false, s.status, s.headers
end

--- Kills the running threads and closes streamed sockets.
function M:close()
  for _, th in pairs(self.threads) do ngx.thread.kill(th) end
  for _, s in pairs(self.streams) do if s.r then s.r.sock:close() end end
  self.threads, self.streams, self.done, self.count = {}, {}, {}, 0
  self.posted = semaphore.new(0)
end

return _M
