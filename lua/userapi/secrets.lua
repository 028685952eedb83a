--- One home for a client's secrets and every form they take: the
-- credentials, the proxy's password, the Basic blob, the tokens renewed on
-- the way, and the secret fields of request bodies (a password the caller
-- sends). Errors, logs, `on_request`, dry runs, diffs and the Ansible output
-- redact through it, with one algorithm (`redact`).
--
-- A secrets object is an array of the forms to hide (so `errors.new{ secrets = s }`
-- and `record.describe(e, s)` take it as a list) with methods.
-- @module userapi.secrets
local type, pairs, ipairs, setmetatable, getmetatable, tostring, tonumber = type, pairs, ipairs, setmetatable,
  getmetatable, tostring, tonumber
local find, gsub, byte, sub, format, floor, concat = string.find, string.gsub, string.byte, string.sub,
  string.format, math.floor, table.concat
local remove = table.remove

local _M = {}

-- shorter strings would mangle ordinary words and hide nothing real
local MIN_LENGTH = 4
-- tokens and body secrets kept besides the credentials: old errors may quote them
local KEEP = 16

--- The names of request-body fields whose values are secrets wherever a
-- vendor uses them (a vendor's body field may also say `secret = true`).
-- @table SECRET_FIELDS
_M.SECRET_FIELDS = { password = true, client_secret = true, secret = true, access_token = true,
                     refresh_token = true, api_key = true, apikey = true, token = true }

--- s with every form in `list` replaced by `[REDACTED]`: the one algorithm.
-- @param s a string (anything else is returned as it is)
-- @tparam ?{string,...} list the forms to hide
-- @return s redacted
function _M.redact(s, list)
  if type(s) ~= "string" or not list then return s end
  for i = 1, #list do
    local secret = list[i]
    if #secret >= MIN_LENGTH and find(s, secret, 1, true) then
      s = gsub(s, gsub(secret, "%W", "%%%0"), "[REDACTED]")
    end
  end
  return s
end
local redact = _M.redact

--- A table of header values (strings, or arrays of them) redacted, as a copy.
-- @param h headers (a table or a raw block)
-- @tparam ?{string,...} list the forms to hide
-- @return the copy
function _M.redact_headers(h, list)
  if type(h) == "string" then return redact(h, list) end
  if type(h) ~= "table" or not list then return h end
  local copy = {}
  for k, v in pairs(h) do
    if type(v) == "table" then
      local vs = {}
      for i, x in ipairs(v) do vs[i] = redact(x, list) end
      v = vs
    end
    copy[k] = redact(v, list)
  end
  return copy
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

--- Standard base64 (RFC 4648, padded): the form of HTTP Basic credentials.
-- @tparam string s bytes
-- @treturn string
function _M.base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = byte(s, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = { floor(n / 262144) % 64, floor(n / 4096) % 64, floor(n / 64) % 64, n % 64 }
    local quad = {}
    for k = 1, 4 do quad[k] = sub(B64, q[k] + 1, q[k] + 1) end
    if not b then quad[3] = "=" end
    if not c then quad[4] = "=" end
    out[#out + 1] = concat(quad)
  end
  return concat(out)
end

local function percent(s, fmt)
  return (gsub(s, "[^%w%-%._~]", function(c) return format(fmt, byte(c)) end))
end

--- Every form in which a secret may come back from a server: as given,
-- percent-encoded (upper- and lower-case hex), form-encoded (`+` for a
-- space), and JSON-escaped (as lua-cjson, Python and Go write it).
-- @tparam string secret
-- @treturn {string,...} the distinct forms
function _M.forms(secret)
  local forms, seen = {}, {}
  local function add(f) if not seen[f] then seen[f] = true forms[#forms + 1] = f end end
  add(secret)
  for _, fmt in ipairs({ "%%%02X", "%%%02x" }) do
    local pct = percent(secret, fmt)
    add(pct)
    add((gsub(pct, "%%20", "+")))
  end
  local json_form = gsub(secret, '[\\"]', "\\%0")
  add((gsub(json_form, "/", "\\/")))
  add(json_form)
  add((gsub(json_form, "[<>&]", function(c) return format("\\u%04x", byte(c)) end)))
  return forms
end

local Secrets = {}
Secrets.__index = Secrets

-- the bookkeeping of each object, outside it: its array part is only forms
-- (weak keys: a dropped client frees them)
local passing = setmetatable({}, { __mode = "k" })
local fixed_count = setmetatable({}, { __mode = "k" })
local known = setmetatable({}, { __mode = "k" })

--- A client's secrets: the fixed ones (credentials, proxy, Basic blob) first,
-- then the ones that come and go (tokens, body secrets), the oldest dropped
-- past 16.
-- @tparam {string,...} fixed the secret values (each is hidden in every form)
-- @treturn table the secrets object
function _M.new(fixed)
  local self = setmetatable({}, Secrets)
  for _, v in ipairs(fixed or {}) do self:hide(v) end
  return self
end

--- The secrets of a client from its checked options: the vendor's secret
-- options, the proxy's password (as given, as written in the URL, inside its
-- Basic blob), and the Basic blob `base64(login:password)` of the auth.
-- @tparam table vendor a compiled vendor table
-- @tparam table opts the checked options
-- @tparam ?table auth the transport's auth table
-- @treturn table the secrets object
function _M.of_client(vendor, opts, auth)
  local self = _M.new()
  for k, kind in pairs(vendor.options or {}) do
    if kind == "secret" and type(opts[k]) == "string" then self:hide(opts[k]) end
  end
  for _, s in ipairs(require("userapi.transport.proxy").secrets(opts.proxy)) do self:hide(s) end
  -- the Redis password of a shared store, as written in its URL and decoded
  local store = opts.store
  local redis_pw = type(store) == "string" and store:match("^%a+://[^@/]-:([^@/]*)@")
  if type(store) == "table" and type(store.redis) == "table" then redis_pw = store.redis.password end
  if type(redis_pw) == "string" and redis_pw ~= "" then
    self:hide(redis_pw)
    self:hide((gsub(redis_pw, "%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)))
  end
  if auth and auth.scheme == "basic" and type(auth.user) == "string" and type(auth.password) == "string" then
    self:hide(_M.base64(auth.user .. ":" .. auth.password))
  end
  return self
end

--- Hides a value for good (a credential): every form of it.
-- @tparam string v
function Secrets:hide(v)
  if type(v) ~= "string" or v == "" then return end
  local seen = known[self] or {}
  known[self] = seen
  if seen[v] then return end
  seen[v] = true
  local n = fixed_count[self] or 0
  for _, f in ipairs(_M.forms(v)) do
    n = n + 1
    table.insert(self, n, f)
  end
  fixed_count[self] = n
end

--- Hides a value that comes and goes (a renewed token, a password in a body):
-- the oldest of them is dropped past 16, never a credential.
-- @tparam string v
function Secrets:pass(v)
  if type(v) ~= "string" or v == "" then return end
  local seen = known[self] or {}
  known[self] = seen
  if seen[v] then return end
  seen[v] = true
  local counts = passing[self] or {}
  passing[self] = counts
  local forms = _M.forms(v)
  for _, f in ipairs(forms) do self[#self + 1] = f end
  counts[#counts + 1] = { value = v, n = #forms }
  if #counts > KEEP then
    local old = remove(counts, 1)
    seen[old.value] = nil
    local first = (fixed_count[self] or 0) + 1
    for _ = 1, old.n do remove(self, first) end
  end
end

--- Hides the secret fields of a request body (by name, see @{SECRET_FIELDS},
-- or marked `secret = true` in the operation's body spec), at any depth, and
-- returns their forms: the request keeps them, so that its own errors are
-- redacted even after the ring of 16 has let them go (a bulk of creates).
-- @param body the body argument (a table; anything else is ignored)
-- @tparam ?table spec the operation's body spec
-- @treturn ?{string,...} the forms of this body's secrets, nil when none
function Secrets:pass_body(body, spec, found)
  if type(body) ~= "table" then return found end
  local fields = type(spec) == "table" and spec.fields or {}
  for k, v in pairs(body) do
    local fspec = fields[k]
    if type(v) == "string" and v ~= "" and (_M.SECRET_FIELDS[k] or (type(fspec) == "table" and fspec.secret)) then
      self:pass(v)
      found = found or {}
      for _, f in ipairs(_M.forms(v)) do found[#found + 1] = f end
    elseif type(v) == "table" then
      found = self:pass_body(v, type(fspec) == "table" and (fspec.items or fspec) or nil, found)
    end
  end
  return found
end

--- The client's secrets and a request's own, as one list (only when the
-- request has some: the common case allocates nothing).
-- @tparam ?{string,...} own the request's forms (from `pass_body`)
-- @treturn {string,...}
function Secrets:with(own)
  if not own then return self end
  local list = {}
  for i = 1, #self do list[i] = self[i] end
  for i = 1, #own do list[#list + 1] = own[i] end
  return list
end

--- s redacted of this client's secrets.
-- @param s anything (only strings change)
-- @return s redacted
function Secrets:redact(s) return redact(s, self) end

--- Any value with its strings redacted, tables copied (a diff, an Ansible result).
-- @param v the value
-- @return the copy
function Secrets:redact_value(v, depth)
  if type(v) == "string" then return redact(v, self) end
  if type(v) ~= "table" or (depth or 0) > 20 then return v end
  local copy = {}
  for k, x in pairs(v) do copy[k] = self:redact_value(x, (depth or 0) + 1) end
  local mt = getmetatable(v) -- an error stays an error; a protected metatable is not copied
  return type(mt) == "table" and setmetatable(copy, mt) or copy
end

--- A URL as a log line shows it: the API key of a query masked (the
-- transport adds it, but a caller may have put one in by hand), then the
-- secrets.
-- @tparam string url
-- @treturn string
function Secrets:url(url)
  return redact((gsub(tostring(url), "([?&][Aa][Pp][Ii][Kk][Ee][Yy]=)[^&]*", "%1[REDACTED]")), self)
end

return _M
