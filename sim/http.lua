-- Single-threaded HTTP/1.1 server: one coroutine per connection, driven by
-- socket.select over non-blocking sockets, plus a timer list for sleeps.
--
-- handler(req) -> resp runs inside the connection's coroutine and may call
-- http.sleep(ms).  req = {method, target, path, query, version, headers
-- (lower-cased names), body, remote}.  resp = {status, headers = {name=value},
-- body = string} plus optional transport effects:
--   delay_ms      sleep before sending
--   drop          "before": close without answering; "mid": send the head and
--                 half the body, then close
--   raw           send these bytes instead of a formatted response
--   huge_bytes    body of this many bytes (streamed, JSON-looking padding)
--   drip_ms       send drip_bytes (default 1) at a time, sleeping drip_ms between
--   close         close the connection after this response
--   after         function called after the response was sent
local socket = require "socket"

local M = { stats = { connections_accepted = 0, requests = 0 } }

local IDLE_TIMEOUT = 120         -- seconds a keep-alive connection may idle
local MAX_HEAD = 64 * 1024
local MAX_BODY = 256 * 1024 * 1024

local REASON = {
  [100] = "Continue", [200] = "OK", [201] = "Created", [202] = "Accepted", [204] = "No Content",
  [301] = "Moved Permanently", [302] = "Found", [304] = "Not Modified", [307] = "Temporary Redirect",
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
  [405] = "Method Not Allowed", [408] = "Request Timeout", [409] = "Conflict", [411] = "Length Required",
  [412] = "Precondition Failed", [413] = "Payload Too Large", [415] = "Unsupported Media Type",
  [422] = "Unprocessable Entity", [429] = "Too Many Requests", [431] = "Request Header Fields Too Large",
  [500] = "Internal Server Error", [501] = "Not Implemented", [502] = "Bad Gateway",
  [503] = "Service Unavailable", [504] = "Gateway Timeout",
}
M.REASON = REASON

------------------------------------------------------------------------------
-- scheduler
------------------------------------------------------------------------------
local running = false
local rlist, rpos, rwait, rdeadline = {}, {}, {}, {}   -- sockets waiting to read
local wlist, wpos, wwait = {}, {}, {}                    -- sockets waiting to write
local timers = {}                                        -- sorted by .at

local function set_add(list, pos, sock)
  if not pos[sock] then list[#list + 1] = sock; pos[sock] = #list end
end
local function set_del(list, pos, sock)
  local i = pos[sock]
  if not i then return end
  local n = #list
  local last = list[n]
  list[i] = last; pos[last] = i
  list[n] = nil; pos[sock] = nil
end

local function resume(co, ...)
  local ok, err = coroutine.resume(co, ...)
  if not ok then io.stderr:write("sim: connection error: ", tostring(err), "\n") end
end

-- Yield until sock is readable; false if the idle deadline passed first.
local function wait_read(sock, deadline)
  rwait[sock] = coroutine.running()
  rdeadline[sock] = deadline
  set_add(rlist, rpos, sock)
  return coroutine.yield()
end

local function wait_write(sock)
  wwait[sock] = coroutine.running()
  set_add(wlist, wpos, sock)
  return coroutine.yield()
end

function M.sleep(ms)
  if not ms or ms <= 0 then return end
  local t = { at = socket.gettime() + ms / 1000, co = coroutine.running() }
  local lo, hi = 1, #timers
  while lo <= hi do
    local mid = (lo + hi) // 2
    if timers[mid].at <= t.at then lo = mid + 1 else hi = mid - 1 end
  end
  table.insert(timers, lo, t)
  coroutine.yield()
end

function M.stop() running = false end

------------------------------------------------------------------------------
-- connection I/O
------------------------------------------------------------------------------
-- Append available bytes to c.buf; false when the peer closed or idled out.
local function fill(c, deadline)
  while true do
    local data, err, partial = c.sock:receive(65536)
    local got = data or partial
    if got and #got > 0 then
      -- a request's arrival: when the loop saw its first bytes, not when its
      -- turn to be handled came (a burst is handled one request after another)
      if c.buf == "" then c.arrived = M.select_at or socket.gettime() end
      c.buf = c.buf .. got
      return true
    end
    if err ~= "timeout" then return false end
    if not wait_read(c.sock, deadline or socket.gettime() + IDLE_TIMEOUT) then return false end
  end
end

local function send_all(c, data)
  local i, n = 1, #data
  while i <= n do
    local last, err, plast = c.sock:send(data, i)
    if last then i = last + 1
    elseif err == "timeout" then
      i = plast + 1
      if i <= n and not wait_write(c.sock) then return false end
    else return false end
  end
  return true
end

local function read_line(c)
  while true do
    local s, e = c.buf:find("\r\n", 1, true)
    if s then
      local line = c.buf:sub(1, s - 1)
      c.buf = c.buf:sub(e + 1)
      return line
    end
    if #c.buf > MAX_HEAD or not fill(c) then return nil end
  end
end

local function read_exact(c, n)
  if #c.buf >= n then
    local s = c.buf:sub(1, n)
    c.buf = c.buf:sub(n + 1)
    return s
  end
  local parts, have = { c.buf }, #c.buf
  c.buf = ""
  while have < n do
    if not fill(c) then return nil end
    parts[#parts + 1] = c.buf; have = have + #c.buf
    c.buf = ""
  end
  local all = table.concat(parts)
  c.buf = all:sub(n + 1)
  return all:sub(1, n)
end

-- Parse one request off the connection; nil on EOF/idle, or false, status on
-- a protocol error.
local function read_request(c)
  local s, e
  while true do
    s, e = c.buf:find("\r\n\r\n", 1, true)
    if s then break end
    if #c.buf > MAX_HEAD then return false, 431 end
    if not fill(c, socket.gettime() + IDLE_TIMEOUT) then return nil end
    if c.buf:sub(1, 2) == "\r\n" then c.buf = c.buf:sub(3) end  -- stray CRLF between requests
  end
  local head = c.buf:sub(1, s - 1)
  c.buf = c.buf:sub(e + 1)
  local line, rest = head:match("^([^\r\n]*)\r?\n?(.*)$")
  local method, target, version = line:match("^(%u+) (%S+) HTTP/(%d%.%d)$")
  if not method then return false, 400 end
  local headers = {}
  for name, value in rest:gmatch("([^:\r\n]+):[ \t]*([^\r\n]*)") do
    name = name:lower()
    value = value:gsub("[ \t]+$", "")
    if headers[name] then headers[name] = headers[name] .. ", " .. value else headers[name] = value end
  end
  local path, query = target:match("^([^?]*)%??(.*)$")
  if path:match("^https?://") then path = path:gsub("^https?://[^/]*", "") end
  if path == "" then path = "/" end
  local req = { method = method, target = target, path = path, query = query or "",
                version = version, headers = headers, body = "", remote = c.remote, arrived = c.arrived }

  if headers.expect and headers.expect:lower() == "100-continue" then
    if not send_all(c, "HTTP/1.1 100 Continue\r\n\r\n") then return nil end
  end
  local te = headers["transfer-encoding"]
  if te and te:lower():find("chunked", 1, true) then
    local parts, total = {}, 0
    while true do
      local l = read_line(c)
      if not l then return nil end
      local size = tonumber(l:match("^%s*(%x+)"), 16)
      if not size then return false, 400 end
      if size == 0 then
        repeat l = read_line(c); if not l then return nil end until l == ""
        break
      end
      total = total + size
      if total > MAX_BODY then return false, 413 end
      local chunk = read_exact(c, size)
      if not chunk or read_exact(c, 2) == nil then return nil end
      parts[#parts + 1] = chunk
    end
    req.body = table.concat(parts)
  elseif headers["content-length"] then
    local n = tonumber(headers["content-length"]:match("^%s*(%d+)%s*$"))
    if not n then return false, 400 end
    if n > MAX_BODY then return false, 413 end
    if n > 0 then
      req.body = read_exact(c, n)
      if not req.body then return nil end
    end
  end
  local conn = (headers.connection or ""):lower()
  if version == "1.0" then req.keep_alive = conn:find("keep-alive", 1, true) ~= nil
  else req.keep_alive = conn:find("close", 1, true) == nil end
  return req
end

local date_cache, date_sec = "", -1
local function http_date()
  local now = os.time()
  if now ~= date_sec then date_sec = now; date_cache = os.date("!%a, %d %b %Y %H:%M:%S GMT", now) end
  return date_cache
end

local PAD = string.rep("x", 65536)

-- Send `resp`; returns true if the connection may be kept open.
local function write_response(c, req, resp)
  if resp.delay_ms then M.sleep(resp.delay_ms) end
  if resp.drop == "before" then return false end
  local keep = req.keep_alive and not resp.close and not resp.drop
  local status = resp.status or 200
  local body = resp.body or ""
  local nobody = status == 204 or status == 304 or status < 200
  local blen = nobody and 0 or (resp.huge_bytes or #body)
  local h = { "HTTP/1.1 ", tostring(status), " ", REASON[status] or "Unknown", "\r\n",
              "Date: ", http_date(), "\r\nServer: userapi-sim\r\n" }
  local has_ct = false
  for k, v in pairs(resp.headers or {}) do
    if k:lower() == "content-type" then has_ct = true end
    -- an array value is sent as one header line per item
    for _, item in ipairs(type(v) == "table" and v or { v }) do
      h[#h + 1] = k; h[#h + 1] = ": "; h[#h + 1] = tostring(item); h[#h + 1] = "\r\n"
    end
  end
  if not nobody then
    if not has_ct and blen > 0 then h[#h + 1] = "Content-Type: application/json\r\n" end
    h[#h + 1] = "Content-Length: " .. blen .. "\r\n"
  end
  h[#h + 1] = keep and "Connection: keep-alive\r\n\r\n" or "Connection: close\r\n\r\n"
  local headstr = table.concat(h)
  if req.method == "HEAD" or nobody then body = "" end

  local data
  if resp.raw then data = resp.raw
  elseif resp.huge_bytes and not nobody and req.method ~= "HEAD" then
    -- stream {"pad":"xxxx...."} of exactly huge_bytes bytes
    if not send_all(c, headstr) then return false end
    local n = resp.huge_bytes
    local pre, post = '{"pad":"', '"}'
    if n < #pre + #post then pre, post = string.rep(" ", n), "" ; n = 0 else n = n - #pre - #post end
    if not send_all(c, pre) then return false end
    while n > 0 do
      local k = math.min(n, #PAD)
      if not send_all(c, k == #PAD and PAD or PAD:sub(1, k)) then return false end
      n = n - k
    end
    return send_all(c, post) and keep
  else
    data = headstr .. body
  end
  if resp.drop == "mid" then
    data = headstr .. body:sub(1, #body // 2)
  end
  if resp.drip_ms then
    local step = resp.drip_bytes or 1
    for i = 1, #data, step do
      if not send_all(c, data:sub(i, i + step - 1)) then return false end
      if i + step <= #data then M.sleep(resp.drip_ms) end
    end
  elseif not send_all(c, data) then
    return false
  end
  if resp.raw then return false end
  return keep
end

local function close_conn(c)
  local s = c.sock
  set_del(rlist, rpos, s); rwait[s] = nil; rdeadline[s] = nil
  set_del(wlist, wpos, s); wwait[s] = nil
  s:close()
end

local function serve_conn(c, handler)
  while running do
    local req, err = read_request(c)
    if req == nil then break end
    if req == false then
      local body = '{"error":"bad http request"}'
      send_all(c, string.format("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n" ..
        "Content-Length: %d\r\nConnection: close\r\n\r\n%s", err, REASON[err] or "Error", #body, body))
      break
    end
    M.stats.requests = M.stats.requests + 1
    local ok, resp = xpcall(handler, debug.traceback, req)
    if not ok then
      io.stderr:write("sim: handler error: ", tostring(resp), "\n")
      resp = { status = 500, body = '{"error":"simulator internal error"}' }
    end
    local keep = write_response(c, req, resp)
    if resp.after then resp.after() end
    if not keep then break end
  end
  close_conn(c)
end

------------------------------------------------------------------------------
-- main loop
------------------------------------------------------------------------------
-- opts: host, port, handler, on_listen(port), on_second() (called about once a second)
function M.serve(opts)
  local server = assert(socket.bind(opts.host or "127.0.0.1", opts.port or 0, 1024))
  server:settimeout(0)
  local _, port = server:getsockname()
  running = true
  if opts.on_listen then opts.on_listen(tonumber(port)) end
  set_add(rlist, rpos, server)
  local last_sweep = socket.gettime()

  while running do
    local timeout = 1
    if timers[1] then timeout = math.max(0, math.min(timeout, timers[1].at - socket.gettime())) end
    local readable, writable = socket.select(rlist, wlist, timeout)
    M.select_at = socket.gettime()
    for _, s in ipairs(readable) do
      if s == server then
        while true do
          local cs = server:accept()
          if not cs then break end
          cs:settimeout(0)
          cs:setoption("tcp-nodelay", true)
          M.stats.connections_accepted = M.stats.connections_accepted + 1
          local c = { sock = cs, buf = "", remote = cs:getpeername() }
          resume(coroutine.create(serve_conn), c, opts.handler)
        end
      else
        local co = rwait[s]
        if co then
          set_del(rlist, rpos, s); rwait[s] = nil; rdeadline[s] = nil
          resume(co, true)
        end
      end
    end
    for _, s in ipairs(writable) do
      local co = wwait[s]
      if co then
        set_del(wlist, wpos, s); wwait[s] = nil
        resume(co, true)
      end
    end
    local now = socket.gettime()
    while timers[1] and timers[1].at <= now do
      local t = table.remove(timers, 1)
      resume(t.co)
    end
    if now - last_sweep >= 1 then
      last_sweep = now
      if opts.on_second then opts.on_second() end
      local expired = {}
      for s, dl in pairs(rdeadline) do if dl and now > dl then expired[#expired + 1] = s end end
      for _, s in ipairs(expired) do
        local co = rwait[s]
        set_del(rlist, rpos, s); rwait[s] = nil; rdeadline[s] = nil
        if co then resume(co, false) end
      end
    end
  end
  server:close()
end

return M
