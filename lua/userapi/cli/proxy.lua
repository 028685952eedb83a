--- The `userapi` command's route to a vendor, from the environment as curl,
-- gh and the aws CLI read it: `https_proxy`/`HTTPS_PROXY` for https
-- URLs, `http_proxy`/`HTTP_PROXY` for http ones, `all_proxy`/`ALL_PROXY`
-- for both, `no_proxy`/`NO_PROXY` for the hosts to reach directly, and
-- `USERAPI_CA_BUNDLE` for the CA bundle. The lower-case form wins, as in curl.
-- `HTTP_PROXY` is not read when `REQUEST_METHOD` is set: under CGI it is a
-- request header (httpoxy), as curl and Go decide.
--
-- The library reads no environment (its `proxy` and `ca_file` options are
-- the only route): the command does it here, and a `proxy` or `ca_file` of
-- the config section wins over the environment (`proxy =` empty: no proxy).
-- @module userapi.cli.proxy
local hide_userinfo = require("userapi.options").hide_userinfo

local ipairs, pcall, type = ipairs, pcall, type

local _M = {}

-- the first variable set (not empty), and its name
local function first_set(getenv, names)
  for _, name in ipairs(names) do
    local v = getenv(name)
    if v and v ~= "" then return v, name end
  end
end

--- The host of a URL, lower-cased, without user, port or IPv6 brackets.
-- @tparam string url
-- @treturn ?string
function _M.host_of(url)
  local authority = url:match("^%a[%w+.-]*://([^/?#]*)")
  if not authority then return nil end
  authority = authority:gsub("^.*@", "")
  local host = authority:match("^%[([^%]]*)%]") or authority:gsub(":%d*$", "")
  return host:lower()
end

--- Whether `NO_PROXY` (or `no_proxy`) sends the host directly, as curl reads
-- it: comma-separated names, `*` for all; a name matches itself and its
-- subdomains (`example.com`, `.example.com`); an entry's port is ignored.
-- @tparam function getenv
-- @tparam string host
-- @treturn ?string the entry that matched
function _M.no_proxy(getenv, host)
  local list = first_set(getenv, { "no_proxy", "NO_PROXY" })
  for entry in (list or ""):gmatch("[^,%s]+") do
    if entry == "*" then return entry end
    local name = entry:lower():gsub("^%[(.*)%]:?%d*$", "%1")
    if not name:find(":.*:") then name = name:gsub(":%d*$", "") end
    name = name:gsub("^%.", ""):gsub("%.$", "")
    if name ~= "" and (host == name or host:sub(-#name - 1) == "." .. name) then return entry end
  end
end

--- The proxy of the environment for a URL: its value (with `http://` added
-- when it names none, as curl does) and the variable it came from.
-- @tparam function getenv
-- @tparam string url the vendor's base URL
-- @treturn ?string the proxy URL
-- @treturn ?string the variable
function _M.from_env(getenv, url)
  local scheme = (url:match("^(%a[%w+.-]*):") or ""):lower()
  local names
  if scheme == "https" then
    names = { "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" }
  elseif getenv("REQUEST_METHOD") then
    names = { "http_proxy", "all_proxy", "ALL_PROXY" }
  else
    names = { "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY" }
  end
  local v, name = first_set(getenv, names)
  if v and not v:find("^%a[%w+.-]*://") then v = "http://" .. v end
  return v, name
end

--- Sets the client options' `proxy` and `ca_file` from the environment,
-- unless the config gave them.
-- @tparam table copts the constructor options so far (changed)
-- @tparam table vendor the vendor table (its `default_base` names the URL)
-- @tparam function getenv
-- @treturn string what was decided, for `-v`: the proxy (its password
-- hidden) and where it came from, or why none
function _M.apply(copts, vendor, getenv)
  if not copts.ca_file then copts.ca_file = first_set(getenv, { "USERAPI_CA_BUNDLE" }) end
  if copts.proxy == "" then
    copts.proxy = nil
    return "no proxy (the config's proxy is empty)"
  end
  if copts.proxy then return "proxy " .. hide_userinfo(copts.proxy) .. " (from the config)" end
  local ok, url = pcall(function() return copts.base_url or vendor.default_base(copts) end)
  if not ok or type(url) ~= "string" then return "no proxy" end
  local proxy, name = _M.from_env(getenv, url)
  if not proxy then return "no proxy" end
  local host = _M.host_of(url)
  local entry = host and _M.no_proxy(getenv, host)
  if entry then return ("no proxy (%s matches NO_PROXY's %s)"):format(host, entry) end
  copts.proxy = proxy
  return "proxy " .. hide_userinfo(proxy) .. " (from " .. name .. ")"
end

return _M
