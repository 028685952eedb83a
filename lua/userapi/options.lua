--- The options of a client's constructor: which exist, which reach the
-- transport, and the checks that refuse a bad one before anything is sent.
-- @module userapi.options
local type, error = type, error

local _M = {}

--- The options that reach the transport's session (timeouts, TLS, limits).
-- @table SESSION
_M.SESSION = { "timeout_ms", "connect_timeout_ms", "verify_tls", "ca_file", "proxy",
               "user_agent", "max_body_bytes", "pool_size", "keepalive_timeout_ms", "backlog" }

-- loopback as a whole host name: "127.0.0.1.example.com" is not
local function is_loopback(host)
  host = host:lower()
  return host == "localhost" or host == "[::1]" or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

--- Checks a base URL and returns it without trailing slashes: http(s), no
-- userinfo, plain http only to loopback unless `allow_insecure`.
-- @tparam string name the vendor's name, for messages
-- @param url the URL
-- @tparam ?boolean allow_insecure allow plain http to another host
-- @treturn string the URL
-- @raise `userapi.<name>: base_url ...`
function _M.base_url(name, url, allow_insecure)
  if type(url) ~= "string" then error("userapi." .. name .. ": base_url (or the vendor's host options) required", 3) end
  local scheme, authority = url:match("^(https?)://([^/?#]*)")
  if not scheme or authority == "" then
    error("userapi." .. name .. ": base_url must be an http(s) URL, got '" .. url .. "'", 3)
  end
  -- userinfo would hide the real host ("http://127.0.0.1:80@elsewhere") and
  -- put a password in every logged URL; the URL is not echoed for that reason
  if authority:find("@", 1, true) then
    error("userapi." .. name .. ": base_url must not contain user:password@ (give credentials as options)", 3)
  end
  local host = authority:match("^%[[^%]]*%]") or authority:match("^[^:]*")
  if scheme == "http" and not allow_insecure and not is_loopback(host) then
    error("userapi." .. name .. ": refusing plain http to " .. host .. " (set allow_insecure = true)", 3)
  end
  return (url:gsub("/+$", ""))
end

return _M
