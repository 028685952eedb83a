--- Vendor records read as @{userapi.people.record}s (for @{userapi.people}):
-- normalized through the vendor's `people.normalize`, data from a server
-- never raising, and each record's id checked before the client acts on it.
-- The vendor's own record stays behind each normalized one, so that a write
-- sends back what the vendor stored (an email's case), not the normalized form.
-- @module userapi.people.record
local errors = require "userapi.errors"
local json = require "userapi.json"
local check = require "userapi.check"

local type, pairs, tostring, pcall, setmetatable = type, pairs, tostring, pcall, setmetatable
local null = json.null

local _M = {}

local function lower(s) return type(s) == "string" and s:lower() or nil end

-- JSON null becomes nil: a record says "absent" one way
local function clean(t)
  local c = {}
  for k, v in pairs(t) do if v ~= null then c[k] = v end end
  return c
end

-- weak: the vendor's record goes with the normalized one
local stored = setmetatable({}, { __mode = "k" })

--- A vendor record (as the vendor's operations return it) normalized.
-- @tparam userapi.client.Client client the vendor's client (with a `people` table)
-- @tparam table raw the vendor's record
-- @treturn table the record
-- @raise what the vendor's `normalize` raises on data it cannot read
function _M.normalize(client, raw)
  local own = clean(raw)
  local r = clean(client.vendor.people.normalize(own))
  r.vendor = client.vendor.name
  stored[r] = { record = own, email = r.email }
  r.email = lower(r.email)
  return r
end

--- What the vendor stored behind a normalized record.
-- @tparam table r a record made by @{normalize}
-- @treturn table `{ record = the vendor's own record, email = its email as stored }`
function _M.stored(r) return stored[r] or { record = {}, email = r.email } end

--- A value as a message shows it: quoted, at most 64 bytes, control and
-- non-ASCII bytes as `\xNN`.
-- @param v any value
-- @treturn string
function _M.shown(v)
  if type(v) ~= "string" then return tostring(v) end
  return '"' .. v:sub(1, 64):gsub('[%c\127-\255"\\]', function(c) return ("\\x%02x"):format(c:byte()) end) .. '"'
end

local function protocol(client, message)
  return nil, errors.new{ vendor = client.vendor.name, operation = client.vendor.people.lookup.email.op,
    kind = "protocol", secrets = client.secrets, message = message }
end

--- A record the vendor sent, normalized; or nil and a protocol error: data
-- from a server never raises (a name that is an object, a time out of range).
-- @tparam userapi.client.Client client
-- @param raw what the vendor sent
-- @treturn[1] table the record
-- @treturn[2] nil
-- @treturn[2] userapi.errors.Error `kind = "protocol"`
function _M.read(client, raw)
  local ok, r = false, "not a JSON object"
  if type(raw) == "table" then ok, r = pcall(_M.normalize, client, raw) end
  if ok then return r end
  return protocol(client, "a user record from the server cannot be read: " .. tostring(r):gsub("^[^\n]-:%d+: ", ""))
end

--- A record the client would act on: its id must be one the client's
-- operations take (a plain id, as `check.id` has it), else it is the vendor's fault.
-- @tparam userapi.client.Client client
-- @tparam table r a record
-- @treturn[1] table r
-- @treturn[2] nil
-- @treturn[2] userapi.errors.Error `kind = "protocol"`: no id, or one such as `../../admin`
function _M.usable(client, r)
  if r.id ~= nil and pcall(check.id, "find", 1, "id", r.id) then return r end
  return protocol(client, "a user record from the server has " .. (r.id == nil and "no id"
    or ("an id the client cannot use (" .. _M.shown(r.id) .. ")")) .. (r.email and (": " .. r.email) or ""))
end

return _M
