--- The request side of the nginx transport: the origins a transport has
-- seen, parsed once (with the name of their connection pool), and the bytes
-- of a request, its header lines serialized once per headers table. Used by
-- `userapi.transport.nginx`.
local type, pairs, tostring, tonumber, next = type, pairs, tostring, tonumber, next
local setmetatable, error = setmetatable, error
local concat, find, sub, match = table.concat, string.find, string.sub, string.match

local _M = {}

-- The origins (scheme://authority) a transport has seen, parsed once:
-- scheme, host, port, the Host header's value and the pool's name.
local MAX_ORIGINS = 64

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

local function origin_of(self, origin)
  local o = self.origins[origin]
  if o then return o end
  local scheme, host, port = match(origin, "^(https?)://([^/:?#%[%]]+):?(%d*)$")
  if not scheme then scheme, host, port = match(origin, "^(https?)://(%[[^%]]+%]):?(%d*)$") end
  if not scheme then return nil end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  o = { scheme = scheme, host = host, port = port, pool = pool_name(self, scheme, host, port),
        authority = port == (scheme == "https" and 443 or 80) and host or (host .. ":" .. port) }
  if self.origin_count < MAX_ORIGINS then
    self.origins[origin], self.origin_count = o, self.origin_count + 1
  end
  return o
end

--- The origin of a URL (`scheme`, `host`, `port`, `authority`, `pool`) and
-- its request target; nil for a URL that is not http(s).
function _M.split_url(self, url)
  -- the authority ends at the first / ? or # after "scheme://x" (plain finds: LuaJIT compiles those)
  local e = find(url, "/", 9, true)
  local q = find(url, "?", 9, true)
  if q and (not e or q < e) then e = q end
  q = find(url, "#", 9, true)
  if q and (not e or q < e) then e = q end
  local o = origin_of(self, e and sub(url, 1, e - 1) or url)
  if not o then return nil end
  local target = e and sub(url, e) or "/"
  local hash = find(target, "#", 1, true)
  if hash then target = sub(target, 1, hash - 1) end
  if sub(target, 1, 1) ~= "/" then target = "/" .. target end
  return o, target
end

local NO_HEADERS = {}
local HAS_BODY = { POST = true, PUT = true, PATCH = true }

-- header names and values found clean, remembered (up to a bound): the
-- same few travel on every request
local clean = { n = 0 }
local function checked(s, bad_pattern)
  if clean[s] then return true end
  if find(s, bad_pattern) then return false end
  if clean.n < 512 then clean[s], clean.n = true, clean.n + 1 end
  return true
end

-- "\r\nName: value" for each header; raises on bytes that would split the head.
local function serialize(headers)
  local lines = {}
  for k, v in pairs(headers) do
    if type(v) ~= "string" then v = tostring(v) end
    if type(k) ~= "string" or not checked(k, "[^%w!#$&'*+%-.^_`|~]") then
      error("bad header name (a token expected)", 4)
    end
    if not checked(v, "[\r\n%z]") then error("header '" .. k .. "' contains CR, LF or NUL", 4) end
    lines[#lines + 1] = "\r\n" .. k .. ": " .. v
  end
  return concat(lines)
end

-- The header lines of a headers table, serialized once per table (a
-- client's operation sends the same table on every call). A table of up to
-- three headers is checked against the copy kept with its lines, key by key
-- in next() order, so any change to it is seen; this check has no loop, as
-- a loop here would keep LuaJIT from compiling every caller.
local header_cache = setmetatable({}, { __mode = "k" })

local function header_lines(hs)
  local c = header_cache[hs]
  if c then
    local k1, k2, k3 = c[1], c[3], c[5]
    if next(hs) == k1 and (k1 == nil or (hs[k1] == c[2] and next(hs, k1) == k2
        and (k2 == nil or (hs[k2] == c[4] and next(hs, k2) == k3
        and (k3 == nil or (hs[k3] == c[6] and next(hs, k3) == nil)))))) then
      return c.lines
    end
  end
  local lines = serialize(hs)
  local k1 = next(hs)
  local k2 = k1 ~= nil and next(hs, k1) or nil
  local k3 = k2 ~= nil and next(hs, k2) or nil
  if k3 == nil or next(hs, k3) == nil then
    header_cache[hs] = { k1, k1 ~= nil and hs[k1], k2, k2 ~= nil and hs[k2], k3, k3 ~= nil and hs[k3],
                         lines = lines }
  end
  return lines
end

--- The request's bytes: head and body; raises on bytes that would split the head.
function _M.bytes(self, req, o, target)
  local authority = o.authority
  -- a proxy is asked for http:// targets in absolute form; https ones go through a tunnel
  if self.proxy and o.scheme == "http" then target = "http://" .. authority .. target end
  local parts, n = { req.method, " ", target, " HTTP/1.1\r\nHost: ", authority, self.ua_line,
                     header_lines(req.headers or NO_HEADERS) }, 7
  if req.auth ~= false then
    n = n + 1
    parts[n] = self.auth_line
  end
  if self.proxy and o.scheme == "http" then
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

return _M
