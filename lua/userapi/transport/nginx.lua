--- The nginx transport: HTTP/1.1 over cosockets (`ngx.socket.tcp`), so a
-- request yields to other requests of the worker instead of blocking it.
-- Keep-alive through `setkeepalive` pools (sized by `pool_size`,
-- `keepalive_timeout_ms`, `backlog`), TLS through `sslhandshake` with
-- verification on, http:// proxies (absolute-form requests, CONNECT tunnels
-- for https), and one deadline (`timeout_ms`) for the whole exchange.
-- The same interface as a session of the C core: request, multi, set_auth, close.
local core = require "userapi.core"
local http1 = require "userapi.transport.http1"
local proxy = require "userapi.transport.proxy"
local request_head = require "userapi.transport.request_head"
local phase = require "userapi.phase"

local ngx = ngx
local type, tostring, setmetatable, error, next = type, tostring, setmetatable, error, next
local concat, find = table.concat, string.find
local min, floor = math.min, math.floor
local fail, arm, framing, fields = http1.fail, http1.arm, http1.framing, http1.fields
local tcp, ngx_now = ngx.socket.tcp, ngx.now

local need_cosockets = phase.need_cosockets

local _M = { name = "nginx" }

local CA_FILE_REFUSED = "userapi: option 'ca_file' cannot be honoured by nginx cosockets (the Lua module takes"
  .. " its trusted CAs from nginx.conf): remove it and set 'lua_ssl_trusted_certificate <file>;'"
  .. " (and lua_ssl_verify_depth) in the http block"

-- socket error strings of the lua-nginx-module, as userapi error kinds
local function connect_kind(err)
  if err == "timeout" then return "timeout" end
  if find(err, "resolve", 1, true) or find(err, "resolver", 1, true) then return "resolve" end
  return "connect"
end

local function positive_int(opts, name, default, allow_zero)
  local v = opts[name]
  if v == nil then return default end
  if type(v) ~= "number" or floor(v) ~= v or v < (allow_zero and 0 or 1) then
    error("bad option '" .. name .. "' (" .. (allow_zero and "non-negative" or "positive") .. " integer expected)", 0)
  end
  return v
end

local T = {}
T.__index = T

--- A transport with the session options of the C core (timeouts, verify_tls,
-- user_agent, max_body_bytes, proxy, auth) and the pool's (`pool_size`,
-- `keepalive_timeout_ms`, `backlog`). Raises on what cosockets cannot
-- honour: `ca_file`, a proxy other than http://.
function _M.new(opts)
  opts = opts or {}
  if opts.ca_file ~= nil then error(CA_FILE_REFUSED, 0) end
  local p = proxy.parse(opts.proxy)
  if p and p.scheme ~= "http" then
    error("userapi: the nginx transport speaks to http:// proxies only, not " .. p.scheme .. "://;"
      .. " the call is refused rather than sent direct", 0)
  end
  local pool_size = positive_int(opts, "pool_size", 64)
  local self = setmetatable({
    timeout = opts.timeout_ms or 30000,
    connect_timeout = opts.connect_timeout_ms or 10000,
    idle_timeout = opts.idle_timeout_ms,
    verify = opts.verify_tls ~= false,
    ua_line = "\r\nUser-Agent: " .. (opts.user_agent or ("userapi/" .. core._VERSION .. " lua-nginx-module")),
    max_body = opts.max_body_bytes or 64 * 1024 * 1024,
    pool_size = pool_size,
    keepalive = positive_int(opts, "keepalive_timeout_ms", 60000, true),
    -- read by connect before it yields: one table serves every call
    connect_opts = { pool_size = pool_size, backlog = positive_int(opts, "backlog", nil, true) },
    proxy = p,
    origins = {}, origin_count = 0,
  }, T)
  -- nginx sizes a pool when it makes it: a pool per size keeps each client's options
  self.pool_tag = "#" .. pool_size .. (self.connect_opts.backlog and ("/" .. self.connect_opts.backlog) or "")
    .. (self.verify and "" or ":unverified")
  if find(self.ua_line, "[\r\n%z]", 3) then error("bad option 'user_agent' (contains CR, LF or NUL)", 0) end
  if p then
    self.proxy_line = p.authorization and ("\r\nProxy-Authorization: " .. p.authorization) or ""
    -- pools are named by a fingerprint of the credentials, never the credentials
    self.proxy_id = p.host .. ":" .. p.port .. (p.authorization and (":" .. ngx.crc32_long(p.authorization)) or "")
  end
  self:set_auth(opts.auth)
  return self
end

--- Sets or clears the auth applied to every request (the same table as the C core's).
function T:set_auth(a)
  self.auth_line, self.auth_query = "", nil
  if a == nil then return end
  local value
  if a.scheme == "basic" then
    value = "Basic " .. ngx.encode_base64(a.user .. ":" .. a.password)
  elseif a.scheme == "bearer" then
    value = "Bearer " .. a.token
  elseif a.scheme == "apikey" and (a["in"] or "header") == "header" then
    value = "Apikey " .. a.key
  elseif a.scheme == "apikey" and a["in"] == "query" then
    self.auth_query = "apikey=" .. core.escape(a.key)
    return
  else
    error("bad auth scheme '" .. tostring(a.scheme) .. "'", 2)
  end
  if find(value, "[\r\n%z]") then error("bad auth (contains CR, LF or NUL)", 2) end
  self.auth_line = "\r\nAuthorization: " .. value
end

--- Nothing to free: pooled connections belong to nginx.
function T:close() end

-- Asks the proxy for a tunnel to host:port on a new connection.
local function tunnel(self, r, host, port)
  local authority = host .. ":" .. port
  if not arm(r) then return fail("timeout", "deadline reached before CONNECT") end
  local ok, err = r.sock:send("CONNECT " .. authority .. " HTTP/1.1\r\nHost: " .. authority
    .. self.proxy_line .. "\r\n\r\n")
  if not ok then return fail(err == "timeout" and "timeout" or "send", "sending CONNECT to the proxy: " .. err) end
  local status
  status, err = http1.head(r, "reading the proxy's answer to CONNECT")
  if not status then return nil, err end
  if status < 200 or status > 299 then
    return fail("proxy", "the proxy " .. self.proxy.host .. ":" .. self.proxy.port .. " answered "
      .. status .. " to CONNECT " .. authority)
  end
  if http1.leftover(r) then return fail("protocol", "bytes after the proxy's answer to CONNECT") end
  return true
end


-- Connects r's socket to host:port (directly, through the proxy or its
-- tunnel), TLS done for https; true, or nil and an error.
local function connect(self, r, o)
  local now = ngx_now()
  local left = r.deadline - now * 1000
  if left < 1 then return fail("timeout", "deadline reached before connecting") end
  local sock = tcp()
  r.sock, r.armed = sock, now
  sock:settimeouts(min(self.connect_timeout, left), left, r.idle and min(left, r.idle) or left)
  local copts, p = self.connect_opts, self.proxy
  local scheme, host, port = o.scheme, o.host, o.port
  copts.pool = o.pool
  local ok, err
  if not p then
    ok, err = sock:connect(host, port, copts)
    if not ok then return fail(connect_kind(err), "connect to " .. host .. ":" .. port .. ": " .. err) end
  else
    ok, err = sock:connect(p.host, p.port, copts)
    if not ok then
      return fail(connect_kind(err), "connect to the proxy " .. p.host .. ":" .. p.port .. ": " .. err)
    end
    if scheme == "https" and sock:getreusedtimes() == 0 then
      ok, err = tunnel(self, r, host, port)
      if not ok then sock:close() return nil, err end
    end
  end
  if scheme == "https" and sock:getreusedtimes() == 0 then
    left = r.deadline - ngx_now() * 1000
    if left < 1 then sock:close() return fail("timeout", "deadline reached before the TLS handshake") end
    -- the handshake runs under the connect timeout
    sock:settimeouts(left, left, left)
    r.armed = nil
    -- No session object is asked for (false): with one, lua-resty-core 0.1.25
    -- raises an assertion when a handshake it finished at once failed its
    -- verification. Without one, that failure reads as success on a socket
    -- nginx has closed: a closed socket after the handshake is a refusal.
    ok, err = sock:sslhandshake(false, host, self.verify)
    if ok and not sock:getreusedtimes() then
      ok, err = nil, "the certificate was refused (nginx's error log says why)"
    end
    if not ok then
      sock:close()
      return fail(err == "timeout" and "timeout" or "tls", "TLS handshake with " .. host .. ": " .. err)
    end
  end
  return true
end

local STALE = {}  -- a pooled connection the server had closed
local KNOWN_METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true, HEAD = true }

-- Connects and sends; nil and STALE when a pooled connection turned out dead.
local function send(self, r, o, bytes)
  local ok, err = connect(self, r, o)
  if not ok then return nil, err end
  local sock = r.sock
  if not arm(r) then sock:close() return fail("timeout", "deadline reached before sending") end
  ok, err = sock:send(bytes)
  if ok then return true end
  local reused = sock:getreusedtimes() > 0
  sock:close()
  if reused and err ~= "timeout" then return nil, STALE end
  return fail(err == "timeout" and "timeout" or "send", "send: " .. err)
end

--- Sends a request and reads the response head: the reader (`r.sock` its
-- socket), status, head block, HTTP/1.0-ness; or nil and an error.
-- Raises on a bad request.
function _M.start(self, req)
  if type(req) ~= "table" then error("bad argument #1 to 'request' (table expected, got " .. type(req) .. ")", 3) end
  local method, url = req.method, req.url
  if type(method) ~= "string" or not (KNOWN_METHODS[method] or find(method, "^%u+$")) then
    error("bad field 'method' (HTTP method expected)", 3)
  end
  if type(url) ~= "string" then error("bad field 'url' (string expected, got " .. type(url) .. ")", 3) end
  -- the bytes that would split the request line (the C core refuses the same)
  if find(url, " ", 1, true) or find(url, "\r", 1, true) or find(url, "\n", 1, true) or find(url, "\0", 1, true) then
    error("bad field 'url' (contains a space, CR, LF or NUL)", 3)
  end
  if req.query and next(req.query) then url = core.url(url, req.query) end
  if self.auth_query and req.auth ~= false then
    url = url .. (find(url, "?", 1, true) and "&" or "?") .. self.auth_query
  end
  local o, target = request_head.split_url(self, url)
  if not o then return fail("url", "unsupported URL") end
  local bytes = request_head.bytes(self, req, o, target)
  local deadline = ngx_now() * 1000 + (req.timeout_ms or self.timeout)
  local idle = req.idle_timeout_ms or ((req.sink or req.stream) and self.idle_timeout) or nil
  for attempt = 1, 2 do
    local r = http1.reader(nil, deadline, idle)
    local ok, err = send(self, r, o, bytes)
    if ok then
      local status, block, http10 = http1.head(r, "reading the response head")
      if status then return r, status, block, http10 end
      -- closed before answering on a pooled connection: nothing was processed
      local stale = r.sock:getreusedtimes() > 0 and r.buf == "" and block.kind == "recv"
      r.sock:close()
      if not stale or attempt == 2 then return nil, block end
    elseif err ~= STALE or attempt == 2 then
      return nil, err ~= STALE and err or fail("send", "the pooled connection was closed")
    end
  end
end
local start = _M.start

--- Returns the socket to its pool when the response allows it, else closes it.
function _M.release(self, r, keep)
  local sock = r.sock
  if not (keep and not http1.leftover(r) and sock:setkeepalive(self.keepalive, self.pool_size)) then
    sock:close()
  end
end
local release = _M.release

local NO_BODY = { HEAD = true }

--- Sends one request: status, body, headers (a table; the head block as
-- received with `raw_headers = true`), or nil and an error table.
function T:request(req)
  -- a forced transport = "nginx" where there are no cosockets: the documented refusal
  need_cosockets()
  local r, status, block, http10 = start(self, req)
  if not r then return nil, status end
  local sock, method = r.sock, req.method
  local frame, keep = framing(block, http10)
  local bodiless = NO_BODY[method] or status == 204 or status == 304
  if not frame then
    if not bodiless then sock:close() return fail("protocol", keep) end
    keep = false
  end
  local headers = req.raw_headers and block or fields(block)
  local sink = req.sink and status >= 200 and status < 300 and req.sink
  if not sink then
    if type(frame) == "number" and frame > self.max_body and not bodiless then
      sock:close()
      return fail("too_large", "response body larger than max_body_bytes")
    end
    -- the common answer: all of it came with the head
    local body = http1.buffered_body(r, method, status, frame)
    if body then
      release(self, r, keep)
      return status, body, headers
    end
  end
  local next_chunk, state = http1.body_reader(r, method, status, frame, keep)
  local body, parts, size = "", nil, 0
  while true do
    local chunk, err = next_chunk()
    if not chunk then sock:close() return nil, err end
    if chunk == "" then break end
    if sink then
      if sink(chunk) == false then sock:close() return fail("aborted", "the sink stopped the transfer") end
    else
      size = size + #chunk
      if size > self.max_body then
        sock:close()
        return fail("too_large", "response body larger than max_body_bytes")
      end
      -- one chunk needs no table
      if size == #chunk then body = chunk
      else
        parts = parts or { body }
        parts[#parts + 1] = chunk
      end
    end
  end
  if parts then body = concat(parts) end
  release(self, r, state.keep)
  return status, body, headers
end

--- Many requests at once on light threads (see `userapi.transport.nginx_multi`).
function T:multi()
  need_cosockets()
  return require("userapi.transport.nginx_multi").new(self)
end

--- Waits without blocking the worker (where cosockets work; else the refusal).
_M.sleep = phase.cosocket_sleep

--- Milliseconds, from nginx's clock.
function _M.now()
  ngx.update_time()
  return ngx.now() * 1000
end

--- Writes a line to nginx's error log at WARN (retries, throttling waits).
function _M.warn(msg) ngx.log(ngx.WARN, msg) end

return _M
