--- The `proxy` option read as libcurl reads it, for the nginx transport
-- (which speaks to the proxy itself) and for redaction (the proxy's
-- password, in every encoding it travels in, is one of the client's secrets).
-- Pure functions: they work in plain Lua as under nginx.
local type, tonumber, char, byte, concat = type, tonumber, string.char, string.byte, table.concat
local floor, lower, find, match = math.floor, string.lower, string.find, string.match
local sub, gsub = string.sub, string.gsub

local _M = {}

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

--- Base64 of a string (RFC 4648, padded): the encoding of Basic credentials.
function _M.base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = byte(s, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local d1, d2, d3, d4 = floor(n / 262144), floor(n / 4096) % 64, floor(n / 64) % 64, n % 64
    out[#out + 1] = sub(B64, d1 + 1, d1 + 1) .. sub(B64, d2 + 1, d2 + 1)
      .. (b and sub(B64, d3 + 1, d3 + 1) or "=") .. (c and sub(B64, d4 + 1, d4 + 1) or "=")
  end
  return concat(out)
end

local function unescape(s)
  return (gsub(s, "%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

--- Reads a proxy URL: `[scheme://][user[:password]@]host[:port][/]`, the
-- scheme `http` and the port 1080 when absent (libcurl's defaults), user and
-- password percent-decoded. Nil for no proxy (nil or ""); raises on a URL
-- that names no host. The fields: `scheme`, `host`, `port`, `user`,
-- `password`, `authorization` (the Proxy-Authorization value, or nil).
function _M.parse(url)
  if url == nil or url == "" then return nil end
  if type(url) ~= "string" then error("bad option 'proxy' (string expected, got " .. type(url) .. ")", 0) end
  local scheme, rest = match(url, "^(%a[%w+.-]*)://(.*)$")
  if not scheme then scheme, rest = "http", url end
  local authority = match(rest, "^[^/?#]*")
  local userinfo, hostport = match(authority, "^(.*)@(.-)$")
  hostport = hostport or authority
  local host, port = match(hostport, "^(%[[^%]]+%]):?(%d*)$")
  if not host then host, port = match(hostport, "^([^:%[%]]+):?(%d*)$") end
  -- the URL is not echoed: it may hold the password
  if not host then error("bad option 'proxy' (a URL with a host expected)", 0) end
  local p = { scheme = lower(scheme), host = host, port = tonumber(port) or 1080 }
  if userinfo then
    local user, password = match(userinfo, "^([^:]*):?(.*)$")
    p.user, p.password = unescape(user), unescape(password)
    p.authorization = "Basic " .. _M.base64(p.user .. ":" .. p.password)
  end
  return p
end

--- The strings that would reveal the proxy's password: as given, as
-- written in the URL, and inside the Basic credentials.
function _M.secrets(url)
  local ok, p = pcall(_M.parse, url)
  if not ok or not p or not p.password or p.password == "" then return {} end
  local list = { p.password, p.user .. ":" .. p.password, sub(p.authorization, 7) }
  local raw = match(url, "^[^@]*:([^@:/]*)@")
  if raw and raw ~= p.password then list[#list + 1] = raw end
  if find(p.password, "[^%w]") then
    list[#list + 1] = (gsub(p.password, "[^%w%-._~]", function(c) return ("%%%02X"):format(byte(c)) end))
  end
  return list
end

return _M
