--- The `proxy` option read as libcurl reads it, for the nginx transport
-- (which speaks to the proxy itself) and for redaction (the proxy's
-- password, in every encoding it travels in, is one of the client's secrets).
-- Pure functions: they work in plain Lua as under nginx.
local type, tonumber = type, tonumber
local lower, match = string.lower, string.match
local sub = string.sub

local _M = {}

local base64 = require("userapi.errors").base64

local unescape = require("userapi.util").unescape

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
    p.authorization = "Basic " .. base64(p.user .. ":" .. p.password)
  end
  return p
end

--- The strings that would reveal the proxy's password: as given, as
-- written in the URL, and inside the Basic credentials (the client hides
-- each in every encoding, @{userapi.errors.secret_forms}).
function _M.secrets(url)
  local ok, p = pcall(_M.parse, url)
  if not ok or not p or not p.password or p.password == "" then return {} end
  local list = { p.password, p.user .. ":" .. p.password, sub(p.authorization, 7) }
  local raw = match(url, "^[^@]*:([^@:/]*)@")
  if raw and raw ~= p.password then list[#list + 1] = raw end
  return list
end

return _M
