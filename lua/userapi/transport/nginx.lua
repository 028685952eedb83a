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

local ngx = ngx
local type, pairs, tostring, tonumber, setmetatable, error = type, pairs, tostring, tonumber, setmetatable, error
local concat, find, sub, match = table.concat, string.find, string.sub, string.match
local min, floor = math.min, math.floor
local fail = http1.fail
local tcp = ngx.socket.tcp

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
    pools = { http = {}, https = {} },
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

local function parse_url(url)
  local scheme, host, port, path = match(url, "^(https?)://([^/:?#]+):?(%d*)([^#]*)$")
  if not scheme then
    scheme, host, port, path = match(url, "^(https?)://(%[[^%]]+%]):?(%d*)([^#]*)$")
  end
  if not scheme then return nil end
  if path == "" then path = "/" elseif sub(path, 1, 1) == "?" then path = "/" .. path end
  return scheme, host, tonumber(port) or (scheme == "https" and 443 or 80), path
end

local NO_HEADERS = {}
local HAS_BODY = { POST = true, PUT = true, PATCH = true }

-- The request's bytes; raises on bytes that would split the head.
local function request_bytes(self, req, scheme, host, port, target)
  local authority = host
  if port ~= (scheme == "https" and 443 or 80) then authority = host .. ":" .. port end
  -- a proxy is asked for http:// targets in absolute form; https ones go through a tunnel
  if self.proxy and scheme == "http" then target = "http://" .. authority .. target end
  local parts, n = { req.method, " ", target, " HTTP/1.1\r\nHost: ", authority, self.ua_line }, 6
  for k, v in pairs(req.headers or NO_HEADERS) do
    v = tostring(v)
    if find(k, "[^%w!#$&'*+%-.^_`|~]") then error("bad header name (a token expected)", 3) end
    if find(v, "[\r\n%z]") then error("header '" .. k .. "' contains CR, LF or NUL", 3) end
    parts[n + 1] = "\r\n"
    parts[n + 2] = k
    parts[n + 3] = ": "
    parts[n + 4] = v
    n = n + 4
  end
  if req.auth ~= false then
    n = n + 1
    parts[n] = self.auth_line
  end
  if self.proxy and scheme == "http" then
    n = n + 1
    parts[n] = self.proxy_line
  end
  local body = req.body
  if body or HAS_BODY[req.method] then
    n = n + 1
    parts[n] = "\r\nContent-Length: " .. #(body or "")
  end
  parts[n + 1] = "\r\n\r\n"
  if body then parts[n + 2] = body end
  return concat(parts)
end

local function remaining(deadline) return deadline - ngx.now() * 1000 end

-- Asks the proxy for a tunnel to host:port on a new connection.
local function tunnel(self, sock, host, port, deadline)
  local authority = host .. ":" .. port
  local r = http1.reader(sock, deadline)
  if not http1.arm(r) then return fail("timeout", "deadline reached before CONNECT") end
  local ok, err = sock:send("CONNECT " .. authority .. " HTTP/1.1\r\nHost: " .. authority
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

-- A connected socket to host:port (directly, through the proxy or its
-- tunnel), TLS done for https; or nil and an error.
-- The name of the pool of connections to host:port: by way of the proxy,
-- with the pool's size and (a connection made without verification must
-- never serve a transport that verifies) the TLS verification.
local function pool_name(self, scheme, host, port)
  local p = self.proxy
  if p and scheme == "http" then return "proxy:" .. self.proxy_id .. self.pool_tag end
  local key = scheme .. "://" .. host .. ":" .. port
  if p then key = "tunnel:" .. self.proxy_id .. ":" .. key end
  return key .. self.pool_tag
end

local function connect(self, scheme, host, port, deadline)
  local left = remaining(deadline)
  if left < 1 then return fail("timeout", "deadline reached before connecting") end
  local sock = tcp()
  sock:settimeouts(min(self.connect_timeout, left), left, left)
  local copts, p = self.connect_opts, self.proxy
  -- names made once per host: a string built per call would cost more than the lookups
  local by_host = self.pools[scheme][host]
  if not by_host then by_host = {} self.pools[scheme][host] = by_host end
  local pool = by_host[port]
  if not pool then
    pool = pool_name(self, scheme, host, port)
    by_host[port] = pool
  end
  copts.pool = pool
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
      ok, err = tunnel(self, sock, host, port, deadline)
      if not ok then sock:close() return nil, err end
    end
  end
  if scheme == "https" and sock:getreusedtimes() == 0 then
    left = remaining(deadline)
    if left < 1 then sock:close() return fail("timeout", "deadline reached before the TLS handshake") end
    sock:settimeouts(left, left, left)
    ok, err = sock:sslhandshake(nil, host, self.verify)
    if not ok then
      sock:close()
      return fail(err == "timeout" and "timeout" or "tls", "TLS handshake with " .. host .. ": " .. err)
    end
  end
  return sock
end

local STALE = {}  -- a pooled connection the server had closed

-- Connects and sends; nil and STALE when a pooled connection turned out dead.
local function send(self, scheme, host, port, bytes, deadline)
  local sock, err = connect(self, scheme, host, port, deadline)
  if not sock then return nil, err end
  local left = remaining(deadline)
  if left < 1 then sock:close() return fail("timeout", "deadline reached before sending") end
  sock:settimeout(left)
  local ok
  ok, err = sock:send(bytes)
  if ok then return sock end
  local reused = sock:getreusedtimes() > 0
  sock:close()
  if reused and err ~= "timeout" then return nil, STALE end
  return fail(err == "timeout" and "timeout" or "send", "send: " .. err)
end

--- Sends a request and reads the response head: the socket, its reader,
-- status, headers, HTTP/1.0-ness; or nil and an error. Raises on a bad request.
function _M.start(self, req)
  if type(req) ~= "table" then error("bad argument #1 to 'request' (table expected, got " .. type(req) .. ")", 3) end
  if type(req.method) ~= "string" or not find(req.method, "^%u+$") then
    error("bad field 'method' (HTTP method expected)", 3)
  end
  local url = req.url
  if type(url) ~= "string" then error("bad field 'url' (string expected, got " .. type(url) .. ")", 3) end
  if find(url, "[%c ]") then error("bad field 'url' (contains a space, CR, LF, NUL or control byte)", 3) end
  if req.query and next(req.query) then url = core.url(url, req.query) end
  if self.auth_query and req.auth ~= false then
    url = url .. (find(url, "?", 1, true) and "&" or "?") .. self.auth_query
  end
  local scheme, host, port, target = parse_url(url)
  if not scheme then return fail("url", "unsupported URL") end
  local bytes = request_bytes(self, req, scheme, host, port, target)
  local deadline = ngx.now() * 1000 + (req.timeout_ms or self.timeout)
  local idle = req.idle_timeout_ms or ((req.sink or req.stream) and self.idle_timeout) or nil
  for attempt = 1, 2 do
    local sock, err = send(self, scheme, host, port, bytes, deadline)
    if sock then
      local r = http1.reader(sock, deadline, idle)
      local status, headers, http10 = http1.head(r, "reading the response head")
      if status then return sock, r, status, headers, http10 end
      -- closed before answering on a pooled connection: nothing was processed
      local stale = sock:getreusedtimes() > 0 and r.buf == "" and headers.kind == "recv"
      sock:close()
      if not stale or attempt == 2 then return nil, headers end
    elseif err ~= STALE or attempt == 2 then
      return nil, err ~= STALE and err or fail("send", "the pooled connection was closed")
    end
  end
end
local start = _M.start

--- Returns the socket to its pool when the response allows it, else closes it.
function _M.release(self, sock, r, keep)
  if not (keep and not http1.leftover(r) and sock:setkeepalive(self.keepalive, self.pool_size)) then
    sock:close()
  end
end
local release = _M.release

--- Sends one request: status, body, headers, or nil and an error table.
function T:request(req)
  local sock, r, status, headers, http10 = start(self, req)
  if not sock then return nil, r end
  local next_chunk, state = http1.body_reader(r, req.method, status, headers, http10)
  local sink = req.sink and status >= 200 and status < 300 and req.sink
  local body, parts, size = "", nil, 0
  while true do
    local chunk, err = next_chunk()
    if not chunk then sock:close() return nil, err end
    if chunk == "" then break end
    if sink then
      if sink(chunk) == false then sock:close() return fail("aborted", "the sink stopped the transfer") end
    else
      size = size + #chunk
      if size > self.max_body then sock:close() return fail("too_large", "response body larger than max_body_bytes") end
      -- the common answer is one chunk: no table for it
      if size == #chunk then body = chunk
      else
        parts = parts or { body }
        parts[#parts + 1] = chunk
      end
    end
  end
  if parts then body = concat(parts) end
  release(self, sock, r, state.keep)
  return status, body, headers
end

--- Many requests at once on light threads (see `userapi.transport.nginx_multi`).
function T:multi() return require("userapi.transport.nginx_multi").new(self) end

--- Waits without blocking the worker.
function _M.sleep(ms) ngx.sleep(ms / 1000) end

--- Milliseconds, from nginx's clock.
function _M.now()
  ngx.update_time()
  return ngx.now() * 1000
end

--- Writes a line to nginx's error log at WARN (retries, throttling waits).
function _M.warn(msg) ngx.log(ngx.WARN, msg) end

return _M
