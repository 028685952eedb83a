--- The options of a client's constructor: which exist, their types, and the
-- checks that refuse a bad one before anything is sent. Programmer errors
-- raise `bad argument #1 to 'userapi.<vendor>' (option: why)`, with no file
-- position; an unknown option names the nearest valid one.
-- @module userapi.options
local check = require "userapi.check"
local refusal = require "userapi.refusal"

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local floor, tointeger = math.floor, math.tointeger

local _M = {}

--- The options that reach the transport's session (timeouts, TLS, limits).
-- @table SESSION
_M.SESSION = { "timeout_ms", "connect_timeout_ms", "verify_tls", "ca_file", "proxy",
               "user_agent", "max_body_bytes", "pool_size", "keepalive_timeout_ms", "backlog" }

-- Every constructor's options and their kinds: "count" (an integer > 0; an
-- integral float such as 5e3 is taken as that integer), a Lua type name, or
-- "any" (checked where the option is used).
local COMMON = {
  base_url = "string", allow_insecure = "boolean", verify_tls = "boolean", ca_file = "line",
  proxy = "proxy", user_agent = "line", on_request = "function", transport = "transport",
  timeout_ms = "count", connect_timeout_ms = "count", max_body_bytes = "count",
  retries = "any", rate_limit = "any",                 -- userapi.retry
  log = "log", clock = "clock",                        -- reporting and time
  pool_size = "count", keepalive_timeout_ms = "count", backlog = "count",   -- cosocket pool
  shared_dict = "any", store = "any",                  -- shared budget
  idle_timeout_ms = "count", stream_timeout_ms = "count",                   -- streams
  max_pages = "count", max_row_bytes = "count",        -- paging, CSV export
}
--- The options every constructor takes, by name, and their kinds (see @{options}).
-- @table COMMON
_M.COMMON = COMMON

--- The options every constructor takes (besides the vendor's own: see @{userapi}).
-- Others are refused, naming the nearest valid one.
-- @table options
-- @field base_url where the API lives (a self-hosted install, a proxy, the
-- simulator); plain `http://` only to loopback unless `allow_insecure = true`
-- @field allow_insecure allow plain `http://` to another host
-- @field timeout_ms per request, 30000 by default
-- @field connect_timeout_ms 10000 by default
-- @field verify_tls `true` by default
-- @field ca_file a CA bundle instead of the system's
-- @field proxy a proxy URL
-- @field user_agent `userapi/<version> libcurl/<version>` by default
-- @field max_body_bytes 64 MiB by default: a larger answer fails with `kind = "too_large"`
-- @field retries `{ max = 3, base_ms = 200, max_ms = 20000, unsafe = false }` merged
-- over these defaults, or `false`; see @{userapi.retry.policy}
-- @field rate_limit `{ per_second = N, per_hour = N }` to stay under, client side
-- (Kandji's by default), or `false`
-- @field on_request `function(event)` after each exchange: `vendor`, `operation`,
-- `method`, `url` (API key masked), `attempt`, `status` or `error`, `ms`
-- @field transport `"curl"`, `"nginx"` or nil (chosen per call: nginx cosockets where
-- they work, libcurl elsewhere)
-- @field clock `{ now = function() -> ms, sleep = function(ms) }`: the client's one
-- clock (retry waits, rate limits, token expiry) instead of the transport's; for tests
-- @field log `false` (silent) or `function(msg)`: retry waits are reported through it
-- (default: nginx's error log at WARN under nginx, nothing in plain Lua)

-- `bad argument #1 to 'userapi.<vendor>' (option: why)`, as a refusal naming the option
local function bad(vname, what, msg)
  refusal.raise{ kind = "options", vendor = vname, option = what, reason = "invalid",
                 message = ("bad argument #1 to 'userapi.%s' (%s: %s)"):format(vname, what, msg) }
end

--- The URL with any `user:password@` replaced, for messages.
-- @tparam string url
-- @treturn string
function _M.hide_userinfo(url)
  local shown = url:gsub("^(%a[%w+.-]*:/*)[^/?#]*@", "%1[REDACTED]@")
  -- anything odder ("http:/u:p@h", a leading space): all up to the last '@'
  if shown:gsub("%[REDACTED%]@", ""):find("@", 1, true) then shown = shown:gsub("^.*@", "[REDACTED]@") end
  return shown
end

--- Whether a URL's host is loopback, as a whole host name
-- ("127.0.0.1.example.com" is not): where plain http may go.
-- @tparam string host
-- @treturn boolean
function _M.is_loopback(host)
  host = host:lower()
  return host == "localhost" or host == "[::1]" or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end
local is_loopback = _M.is_loopback

--- Why a URL is refused as a place to send requests (a base URL, a token
-- endpoint), or nil: the one rule for both. http(s) only; no control byte
-- (CR, LF, TAB, DEL, ...) or space; no `user:password@` (it would hide the
-- real host, "http://127.0.0.1:80@elsewhere", and put a password in every
-- logged URL); plain http only to loopback unless `allow_insecure`.
-- The URL is never quoted: it may carry a password.
-- @param url the URL
-- @tparam ?boolean allow_insecure allow plain http to another host
-- @treturn ?string why not, for a message
-- @treturn ?string which rule: `"scheme"`, `"control"`, `"userinfo"`, `"insecure"`
-- @treturn ?string the host (for `"insecure"`)
-- @usage options.url_problem("http://example.com/")  --> "plain http to example.com ...", "insecure", "example.com"
function _M.url_problem(url, allow_insecure)
  if type(url) ~= "string" then return "not a string", "scheme" end
  local scheme, authority = url:match("^(https?)://([^/?#]*)")
  if not scheme or authority == "" then return "not an http(s) URL", "scheme" end
  if url:find("[%c ]") then return "contains control bytes or spaces", "control" end
  if authority:find("@", 1, true) then return "contains user:password@", "userinfo" end
  local host = authority:match("^%[[^%]]*%]") or authority:match("^[^:]*")
  if scheme == "http" and not allow_insecure and not is_loopback(host) then
    return "plain http to " .. host .. " (only loopback, unless allow_insecure = true)", "insecure", host
  end
end

--- Raises a constructor's refusal (@{userapi.refusal}, `kind = "options"`).
-- @tparam string vname the vendor's name
-- @tparam ?string option the option refused
-- @tparam string reason `"invalid"`, `"base_url"` (none given), `"credentials"`
-- @tparam string message what users read, after `userapi.<vendor>: `
-- @raise always
function _M.refuse(vname, option, reason, message)
  refusal.raise{ kind = "options", vendor = vname, option = option, reason = reason,
                 message = "userapi." .. vname .. ": " .. message }
end
local refuse = _M.refuse

-- how each rule of url_problem reads for base_url
local BASE_URL_MESSAGES = {
  scheme = function(url) return "base_url must be an http(s) URL, got '" .. _M.hide_userinfo(url) .. "'" end,
  control = function() return "base_url contains a control byte or a space (CR, LF, TAB, DEL, ...)" end,
  userinfo = function() return "base_url must not contain user:password@ (give credentials as options)" end,
  insecure = function(_, host) return "refusing plain http to " .. host .. " (set allow_insecure = true)" end,
}

--- Checks a base URL (@{url_problem}) and returns it without trailing
-- slashes. A refused URL is quoted without its userinfo.
-- @tparam string name the vendor's name, for messages
-- @param url the URL
-- @tparam ?boolean allow_insecure allow plain http to another host
-- @treturn string the URL
-- @raise a @{userapi.refusal} (`option = "base_url"`): `userapi.<name>: base_url ...`
function _M.base_url(name, url, allow_insecure)
  if type(url) ~= "string" then
    refuse(name, "base_url", "base_url", "base_url (or the vendor's host options) required")
  end
  local problem, rule, host = _M.url_problem(url, allow_insecure)
  if problem then refuse(name, "base_url", "invalid", BASE_URL_MESSAGES[rule](url, host)) end
  return (url:gsub("/+$", ""))
end

local AUTH_FIELDS = { apikey = { "key" }, bearer = { "token" }, basic = { "user", "password" } }

--- Refuses a client whose vendor needs credentials that were not given: no
-- auth from a vendor that needs one is refused here, not sent bare (a
-- vendor with token discovery gets its token later).
-- @tparam table vendor a compiled vendor table
-- @tparam ?table auth the transport's auth table (`vendor.auth(opts)`)
-- @raise a @{userapi.refusal} (`reason = "credentials"`, `missing`: what to give):
-- `userapi.<name>: credentials missing (token)`
function _M.credentials(vendor, auth)
  local complete = auth ~= nil or #vendor.credentials == 0 or vendor.discovery ~= nil
  for _, k in ipairs(auth and AUTH_FIELDS[auth.scheme] or {}) do
    if auth[k] == nil then complete = false end
  end
  if not complete then
    local missing = table.concat(vendor.credentials, ", ")
    refusal.raise{ kind = "options", vendor = vendor.name, reason = "credentials", missing = missing,
                   message = "userapi." .. vendor.name .. ": credentials missing (" .. missing .. ")" }
  end
end

local function count(vname, k, v)
  if type(v) ~= "number" or v ~= v or floor(v) ~= v or v > 2 ^ 53 then
    bad(vname, k, "positive integer expected, got " .. (type(v) == "number" and tostring(v) or type(v)))
  end
  if v <= 0 then
    bad(vname, k, "positive integer expected, got " .. tostring(v) .. " (leave it out for the default)")
  end
  return tointeger and tointeger(v) or v
end

local PROXY_SCHEMES = { http = true, https = true, socks4 = true, socks4a = true, socks5 = true, socks5h = true }

-- one checker per kind; returns the value to keep
local KIND = {
  count = count,
  host = function(vname, k, v)
    if type(v) ~= "string" then bad(vname, k, "host name expected, got " .. type(v)) end
    -- a host name only: anything else would change the URL it is put into
    if not v:match("^[%w][%w%-%.]*$") or #v > 253 then
      bad(vname, k, "host name expected (letters, digits, '-' and '.')")
    end
    return v
  end,
  -- a credential goes into a header line or a form: a control byte (TAB, DEL,
  -- CR, ...) would split or corrupt it; the value is never quoted
  secret = function(vname, k, v)
    if type(v) ~= "string" then bad(vname, k, "string expected, got " .. type(v)) end
    if v:find("%c") then bad(vname, k, "contains a control byte (TAB, CR, LF, DEL, ...)") end
    return v
  end,
  -- a login, a header value, a file name: one line of text
  line = function(vname, k, v)
    if type(v) ~= "string" then bad(vname, k, "string expected, got " .. type(v)) end
    if v:find("%c") then bad(vname, k, "contains a control byte (TAB, CR, LF, DEL, ...)") end
    return v
  end,
  -- a proxy URL that names no host would reach libcurl, whose message quotes
  -- it with its password; the URL is never quoted here
  proxy = function(vname, k, v)
    if type(v) ~= "string" then bad(vname, k, "string expected, got " .. type(v)) end
    if v:find("[%c ]") then bad(vname, k, "contains a control byte or a space") end
    local ok, p = pcall(require("userapi.transport.proxy").parse, v)
    if not ok then bad(vname, k, (tostring(p):gsub("^bad option 'proxy' %((.*)%)$", "%1"))) end
    -- libcurl quotes a proxy URL it cannot use, password and all, in its message
    if p and not PROXY_SCHEMES[p.scheme] then
      bad(vname, k, "scheme http, https, socks4, socks4a, socks5 or socks5h expected")
    end
    if p and (p.port < 1 or p.port > 65535) then bad(vname, k, "port 1..65535 expected") end
    -- %0D%0A in the userinfo decodes into the Proxy-Authorization line or the CONNECT request
    if p and ((p.user and p.user:find("%c")) or (p.password and p.password:find("%c"))) then
      bad(vname, k, "the user or password decodes to a control byte (CR, LF, TAB, DEL, ...)")
    end
    return v
  end,
  log = function(vname, k, v)
    if v ~= false and type(v) ~= "function" then bad(vname, k, "false or a function expected, got " .. type(v)) end
    return v
  end,
  clock = function(vname, k, v)
    if type(v) ~= "table" or type(v.now) ~= "function" or type(v.sleep) ~= "function" then
      bad(vname, k, "{ now = function, sleep = function } expected")
    end
    return v
  end,
  -- a name would otherwise be required as userapi.transport.<name>, any module of it
  transport = function(vname, k, v)
    if v == "curl" or v == "nginx" or v == "auto" or (type(v) == "table" and type(v.new) == "function") then
      return v
    end
    bad(vname, k, "\"curl\", \"nginx\" or a transport module expected, got "
      .. (type(v) == "string" and ("'" .. v .. "'") or type(v)))
  end,
  any = function(_, _, v) return v end,
}
KIND.login = KIND.line

local function check_one(vname, k, kind, v)
  if type(kind) == "table" then -- an enum
    for _, e in ipairs(kind) do if v == e then return v end end
    local shown = type(v) == "string" and ("'" .. v .. "'") or type(v)
    bad(vname, k, "one of " .. table.concat(kind, ", ") .. " expected, got " .. shown)
  end
  local f = KIND[kind]
  if f then return f(vname, k, v) end
  if type(v) ~= kind then bad(vname, k, kind .. " expected, got " .. type(v)) end
  return v
end

--- Checks a constructor's options against the common ones and the vendor's
-- own (`vendor.options`); returns a checked copy (counts as integers).
-- @tparam table vendor a compiled vendor table
-- @param opts the options given
-- @treturn table the checked copy
-- @raise `bad argument #1 to 'userapi.<vendor>' (...)` on an unknown option
-- (naming the nearest valid one), a value of the wrong type, a count that is
-- not a positive integer, a host option that is not a host name
function _M.check(vendor, opts)
  local vname = vendor.name
  if type(opts) ~= "table" then refuse(vname, nil, "invalid", "options table expected") end
  local own = vendor.options or {}
  local copy = {}
  for k, v in pairs(opts) do
    local kind = own[k] or COMMON[k]
    if not kind then
      local names = {}
      for n in pairs(COMMON) do names[#names + 1] = n end
      for n in pairs(own) do names[#names + 1] = n end
      bad(vname, tostring(k), "unknown option" .. check.did_you_mean(k, names))
    end
    copy[k] = check_one(vname, k, kind, v)
  end
  return copy
end

-- the kinds a vendor's own option may have (an enum is a list of values)
local OPTION_KINDS = { "boolean", "function", "host", "login", "secret", "string" }

--- Checks a vendor table's `options` part whole, when the vendor is
-- registered (@{userapi.vendor.compile}): each option's name and kind.
-- @tparam table own the vendor's `options`: name -> kind, or a list of values (an enum)
-- @tparam string vname the vendor's name
-- @raise `userapi: vendor 'x': options.token: 'secert' is not one of boolean, ... (did you mean 'secret'?)`
function _M.check_part(own, vname)
  for k, kind in pairs(own) do
    if type(k) ~= "string" then check.part_error(vname, "options: ", "option names expected") end
    if COMMON[k] then check.part_error(vname, "options." .. k .. ": ", "a common option (userapi.options)") end
    if type(kind) == "table" then
      if #kind == 0 then check.part_error(vname, "options." .. k .. ": ", "an enum needs its values") end
    else
      check.one_of(vname, "options." .. k .. ": ", kind, OPTION_KINDS)
    end
  end
end

--- Every form of every secret of a client, to redact (@{userapi.errors.secret_forms}):
-- the vendor's secret options, the proxy's password, and the Basic blob
-- `base64(login:password)`.
-- @tparam table vendor a compiled vendor table
-- @tparam table opts the checked options
-- @tparam ?table auth the transport's auth table
-- @treturn {string,...}
function _M.secrets(vendor, opts, auth)
  local errors = require "userapi.errors"
  local list = {}
  local function hide(v) for _, f in ipairs(errors.secret_forms(v)) do list[#list + 1] = f end end
  for k, kind in pairs(vendor.options or {}) do
    -- in every form it travels in, should a vendor echo it back
    if kind == "secret" and opts[k] ~= nil then hide(opts[k]) end
  end
  -- the proxy's password travels in the proxy URL and in Proxy-Authorization
  for _, s in ipairs(require("userapi.transport.proxy").secrets(opts.proxy)) do hide(s) end
  if auth and auth.scheme == "basic" and type(auth.user) == "string" and type(auth.password) == "string" then
    hide(errors.base64(auth.user .. ":" .. auth.password))
  end
  return list
end

return _M
