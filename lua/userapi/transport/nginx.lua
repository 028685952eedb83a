--- The nginx transport: HTTP/1.1 over cosockets (`ngx.socket.tcp`), so a
-- request yields to other requests of the worker instead of blocking it.
-- Keep-alive through `setkeepalive` pools, TLS through `sslhandshake` with
-- verification on, Content-Length, chunked and close-delimited bodies.
-- The same interface as a session of the C core: request, multi, set_auth, close.
local core = require "userapi.core"

local ngx = ngx
local type, pairs, tostring, tonumber, setmetatable = type, pairs, tostring, tonumber, setmetatable
local concat, lower, find, sub, match = table.concat, string.lower, string.find, string.sub, string.match
local min = math.min

local _M = { name = "nginx" }

local error_mt = { __tostring = function(e) return e.kind .. ": " .. e.message end }

local function fail(kind, message)
  return nil, setmetatable({ kind = kind, code = 0, message = message }, error_mt)
end

-- socket error strings of the lua-nginx-module, as userapi error kinds
local function kind_of(err, phase)
  if err == "timeout" then return "timeout" end
  if phase == "connect" then
    if find(err, "resolve", 1, true) or find(err, "resolver", 1, true) then return "resolve" end
    return "connect"
  end
  if phase == "tls" then return "tls" end
  if phase == "send" then return "send" end
  return "recv"
end

local T = {}
T.__index = T

--- A transport with the session options of the C core (timeouts, verify_tls,
-- user_agent, max_body_bytes, auth).
function _M.new(opts)
  opts = opts or {}
  local self = setmetatable({
    timeout = opts.timeout_ms or 30000,
    connect_timeout = opts.connect_timeout_ms or 10000,
    verify = opts.verify_tls ~= false,
    user_agent = opts.user_agent or ("userapi/" .. core._VERSION .. " lua-nginx-module"),
    max_body = opts.max_body_bytes or 64 * 1024 * 1024,
    pool_size = 64, idle_ms = 60000,
  }, T)
  self:set_auth(opts.auth)
  return self
end

--- Sets or clears the auth applied to every request (the same table as the C core's).
function T:set_auth(a)
  self.auth_header, self.auth_query = nil, nil
  if a == nil then return end
  if a.scheme == "basic" then
    self.auth_header = "Basic " .. ngx.encode_base64(a.user .. ":" .. a.password)
  elseif a.scheme == "bearer" then
    self.auth_header = "Bearer " .. a.token
  elseif a.scheme == "apikey" and (a["in"] or "header") == "header" then
    self.auth_header = "Apikey " .. a.key
  elseif a.scheme == "apikey" and a["in"] == "query" then
    self.auth_query = "apikey=" .. core.escape(a.key)
  else
    error("bad auth scheme '" .. tostring(a.scheme) .. "'", 2)
  end
  local v = self.auth_header or ""
  if find(v, "[\r\n%z]") then error("bad auth (contains CR, LF or NUL)", 2) end
end

--- Nothing to free: pooled connections belong to nginx.
function T:close() end

local function parse_url(url)
  local scheme, host, port, path = match(url, "^(https?)://([^/:?#]+):?(%d*)([^#]*)$")
  if not scheme then
    scheme, host, port, path = match(url, "^(https?)://(%[[^%]]+%]):?(%d*)([^#]*)$")
  end
  if not scheme then return nil end
  if path == "" then path = "/" elseif sub(path, 1, 1) == "?" then path = "/" .. path end
  return scheme, host, tonumber(port) or (scheme == "https" and 443 or 80), path
end

-- The request head, as bytes; raises on bytes that would split it.
local function head(self, req, host, port, scheme, target, body)
  local default_port = (scheme == "https" and port == 443) or (scheme == "http" and port == 80)
  local lines = { req.method .. " " .. target .. " HTTP/1.1",
                  "Host: " .. host .. (default_port and "" or (":" .. port)),
                  "User-Agent: " .. self.user_agent }
  for k, v in pairs(req.headers or {}) do
    v = tostring(v)
    if find(k, "[^%w!#$&'*+%-.^_`|~]") then error("bad header name (a token expected)", 3) end
    if find(v, "[\r\n%z]") then error("header '" .. k .. "' contains CR, LF or NUL", 3) end
    lines[#lines + 1] = k .. ": " .. v
  end
  if self.auth_header and req.auth ~= false then lines[#lines + 1] = "Authorization: " .. self.auth_header end
  if body or req.method == "POST" or req.method == "PUT" or req.method == "PATCH" then
    lines[#lines + 1] = "Content-Length: " .. #(body or "")
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = ""
  return concat(lines, "\r\n")
end

-- Connects (or reuses a pooled connection) and sends the request; returns
-- the socket, or nil and an error.
local function open(self, req, retry)
  if type(req) ~= "table" then error("bad argument #1 to 'request' (table expected, got " .. type(req) .. ")", 3) end
  if type(req.method) ~= "string" or not find(req.method, "^%u+$") then
    error("bad field 'method' (HTTP method expected)", 3)
  end
  if type(req.url) ~= "string" then error("bad field 'url' (string expected, got " .. type(req.url) .. ")", 3) end
  local url = req.url
  if find(url, "[%c ]") then error("bad field 'url' (contains a space, CR, LF, NUL or control byte)", 3) end
  if req.query and next(req.query) then url = core.url(url, req.query) end
  if self.auth_query and req.auth ~= false then
    url = url .. (find(url, "?", 1, true) and "&" or "?") .. self.auth_query
  end
  local scheme, host, port, target = parse_url(url)
  if not scheme then return fail("url", "unsupported URL") end
  local body = req.body
  local request = head(self, req, host, port, scheme, target, body) .. (body or "")
  local sock = ngx.socket.tcp()
  local timeout = req.timeout_ms or self.timeout
  sock:settimeouts(min(self.connect_timeout, timeout), timeout, timeout)
  -- a connection made without verification must never serve a transport that verifies
  local pool = scheme .. ":" .. host .. ":" .. port .. (self.verify and "" or ":unverified")
  local ok, err = sock:connect(host, port, { pool = pool, pool_size = self.pool_size })
  if not ok then return fail(kind_of(err, "connect"), "connect to " .. host .. ":" .. port .. ": " .. err) end
  if scheme == "https" and sock:getreusedtimes() == 0 then
    ok, err = sock:sslhandshake(nil, host, self.verify)
    if not ok then sock:close() return fail("tls", "TLS handshake with " .. host .. ": " .. err) end
  end
  ok, err = sock:send(request)
  if not ok then
    local reused = sock:getreusedtimes() > 0
    sock:close()
    -- a pooled connection the server had closed: nothing was sent, try a new one
    if reused and not retry then return open(self, req, true) end
    return fail(kind_of(err, "send"), "send: " .. err)
  end
  return sock
end

-- Reads the status line and headers: status, headers (lower-cased names,
-- repeated ones as arrays), or nil and an error.
local function read_head(sock)
  local line, err = sock:receive("*l")
  if not line then return fail(kind_of(err, "recv"), "reading the status line: " .. err) end
  local minor, code = match(line, "^HTTP/1%.(%d) (%d%d%d)")
  local status = tonumber(code)
  if not status then return fail("protocol", "not an HTTP/1.x response") end
  local headers = {}
  while true do
    line, err = sock:receive("*l")
    if not line then return fail(kind_of(err, "recv"), "reading headers: " .. err) end
    if line == "" then break end
    local k, v = match(line, "^([^:]+):%s*(.-)%s*$")
    if k then
      k = lower(k)
      local old = headers[k]
      if old == nil then headers[k] = v
      elseif type(old) == "table" then old[#old + 1] = v
      else headers[k] = { old, v } end
    end
  end
  if status < 200 and status >= 100 then return read_head(sock) end
  return status, headers, minor == "0"
end

local function first(v) return type(v) == "table" and v[1] or v end

-- A body reader: returns a function giving the next chunk, "" at the end,
-- or nil and an error; and whether the connection can be kept.
-- Whether the server keeps the connection: HTTP/1.1 unless it says close,
-- HTTP/1.0 only if it says keep-alive (Connection is a list of tokens).
local function keeps_alive(headers, http10)
  local conn = headers.connection
  conn = lower(type(conn) == "table" and concat(conn, ",") or conn or "")
  local has = function(token) return find("," .. conn:gsub("%s", "") .. ",", "," .. token .. ",", 1, true) end
  if http10 then return has("keep-alive") ~= nil end
  return not has("close")
end

local function body_reader(sock, method, status, headers, http10)
  -- state.keep may turn false while reading (a trailer cut short)
  local state = { keep = keeps_alive(headers, http10) }
  if method == "HEAD" or status == 204 or status == 304 then
    return function() return "" end, state
  end
  local te = lower(first(headers["transfer-encoding"]) or "")
  if find(te, "chunked", 1, true) then
    local size_left, finished = 0, false
    return function()
      if finished then return "" end
      if size_left == 0 then
        local line, err = sock:receive("*l")
        if not line then return fail(kind_of(err, "recv"), "reading a chunk size: " .. err) end
        local hex = match(line, "^%x+")
        if not hex then return fail("protocol", "bad chunk size") end
        size_left = tonumber(hex, 16)
        if size_left == 0 then
          repeat line = sock:receive("*l") until not line or line == ""
          if not line then state.keep = false end -- the trailer did not end cleanly
          finished = true
          return ""
        end
      end
      local n = min(size_left, 65536)
      local data, err = sock:receive(n)
      if not data then return fail(kind_of(err, "recv"), "reading a chunk: " .. err) end
      size_left = size_left - n
      if size_left == 0 and sock:receive(2) ~= "\r\n" then
        return fail("protocol", "a chunk does not end with CRLF")
      end
      return data
    end, state
  end
  local cl = headers["content-length"]
  if type(cl) == "table" then
    for i = 2, #cl do
      if cl[i] ~= cl[1] then return function() return fail("protocol", "conflicting Content-Length") end, state end
    end
    cl = cl[1]
  end
  if cl and not match(cl, "^%d+$") then
    return function() return fail("protocol", "bad Content-Length") end, state
  end
  local length = tonumber(cl)
  if length then
    local left = length
    return function()
      if left == 0 then return "" end
      local n = min(left, 65536)
      local data, err = sock:receive(n)
      if not data then return fail(kind_of(err, "recv"), "reading the body: " .. err) end
      left = left - n
      return data
    end, state
  end
  -- no length: the body ends when the server closes
  state.keep = false
  local finished = false
  return function()
    if finished then return "" end
    local data, err, partial = sock:receive(65536)
    if data then return data end
    if err == "closed" then finished = true return partial or "" end
    return fail(kind_of(err, "recv"), "reading the body: " .. err)
  end, state
end

local function release(self, sock, keep)
  if not (keep and sock:setkeepalive(self.idle_ms, self.pool_size)) then sock:close() end
end

--- Sends one request: status, body, headers, or nil and an error table.
function T:request(req)
  local sock, err = open(self, req)
  if not sock then return nil, err end
  local status, headers, http10 = read_head(sock)
  if not status and sock:getreusedtimes() > 0 then
    -- the server closed a pooled connection before reading this request:
    -- nothing was processed, so once more on a new connection, as curl does
    sock:close()
    sock, err = open(self, req)
    if not sock then return nil, err end
    status, headers, http10 = read_head(sock)
  end
  if not status then sock:close() return nil, headers end
  local next_chunk, state = body_reader(sock, req.method, status, headers, http10)
  local parts, size = {}, 0
  local sink = req.sink and status >= 200 and status < 300 and req.sink
  while true do
    local chunk, cerr = next_chunk()
    if not chunk then sock:close() return nil, cerr end
    if chunk == "" then break end
    if sink then
      if sink(chunk) == false then sock:close() return fail("aborted", "the sink stopped the transfer") end
    else
      size = size + #chunk
      if size > self.max_body then sock:close() return fail("too_large", "response body larger than max_body_bytes") end
      parts[#parts + 1] = chunk
    end
  end
  release(self, sock, state.keep)
  return status, concat(parts), headers
end

-- Many requests at once on light threads, with the C core multi's interface.
local M = {}
M.__index = M

--- A multi: add(req) -> id, wait(timeout_ms) -> finished, read(id), pending(), close().
function T:multi()
  return setmetatable({ transport = self, threads = {}, streams = {}, next_id = 1, count = 0 }, M)
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
  local t = self.transport
  -- the thread answers with its id; a raise becomes an error result
  local th = ngx.thread.spawn(function() return id, pcall(t.request, t, req) end)
  self.threads[id] = th
  return id
end

--- How many requests are running or unread.
function M:pending() return self.count end

--- Waits for the next finished request: an array of at most one
-- `{ id, status, body, headers }` or `{ id, err }`.
function M:wait(timeout_ms)
  local out, list = {}, {}
  for _, th in pairs(self.threads) do list[#list + 1] = th end
  if #list == 0 then
    if next(self.streams) == nil then ngx.sleep((timeout_ms or 0) / 1000) end
    return out
  end
  local _, id, ok, status, body, headers = ngx.thread.wait(unpack(list))
  self.threads[id] = nil
  self.count = self.count - 1
  if not ok then
    out[1] = { id = id, err = setmetatable({ kind = "aborted", code = 0, message = tostring(status) }, error_mt) }
  elseif status then
    out[1] = { id = id, status = status, body = body, headers = headers }
  else
    out[1] = { id = id, err = body }
  end
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
  if not s.sock then
    local sock, err = open(self.transport, s.req)
    if not sock then return done_with(nil, err) end
    local status, headers, http10 = read_head(sock)
    if not status then sock:close() return done_with(nil, headers) end
    s.sock, s.status, s.headers = sock, status, headers
    s.next_chunk, s.state = body_reader(sock, s.req.method, status, headers, http10)
  end
  local chunk, err = s.next_chunk()
  if not chunk then s.sock:close() return done_with(nil, err) end
  if chunk == "" then
    release(self.transport, s.sock, s.state.keep)
    return done_with("", true, s.status, s.headers)
  end
  return chunk, false, s.status, s.headers
end

--- Kills the running threads and closes streamed sockets.
function M:close()
  for _, th in pairs(self.threads) do ngx.thread.kill(th) end
  for _, s in pairs(self.streams) do if s.sock then s.sock:close() end end
  self.threads, self.streams, self.count = {}, {}, 0
end

--- Waits without blocking the worker.
function _M.sleep(ms) ngx.sleep(ms / 1000) end

--- Milliseconds, from nginx's clock.
function _M.now()
  ngx.update_time()
  return ngx.now() * 1000
end

return _M
