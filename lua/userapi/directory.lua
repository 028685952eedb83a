--- One person across vendors: their accounts found by email, onboarded and
-- offboarded everywhere at once, with the per-vendor results of
-- @{userapi.people}. `userapi.directory{ ods = ods, arthur = arthur, kandji = kandji,
-- sigfox = sigfox }` makes one; any of the clients may be left out.
-- @module userapi.directory
-- @usage local dir = userapi.directory{ ods = ods, kandji = kandji }
-- for _, r in ipairs(assert(dir:find("ada@example.com"))) do print(r.vendor, r.id, r.name) end
local people = require "userapi.people"
local errors = require "userapi.errors"

local type, pairs, ipairs, tostring, error, sort = type, pairs, ipairs, tostring, error, table.sort
local huge = math.huge

local _M = {}

-- results in the order of the built-in vendors, then the others by name
local ORDER = {}
for i, name in ipairs(require "userapi.vendors") do ORDER[name] = i end
local function in_order(a, b)
  local ra, rb = ORDER[a] or huge, ORDER[b] or huge
  if ra ~= rb then return ra < rb end
  return a < b
end

local Directory = {}
Directory.__index = Directory

--- Makes a directory over some clients (keys are free: `ods`, `opendatasoft`, ...;
-- each client's vendor names its results).
-- @tparam table clients the clients, by any key
-- @treturn Directory
-- @raise `bad argument #1 to 'directory'` when a value is not a client with desired-state support
function _M.new(clients)
  if type(clients) ~= "table" then error("bad argument #1 to 'directory' (table of clients expected)", 2) end
  local self = setmetatable({ clients = {}, vendors = {} }, Directory)
  for key, c in pairs(clients) do
    if type(c) ~= "table" or type(c.vendor) ~= "table" or type(c.vendor.unavailable) ~= "table" then
      error("bad argument #1 to 'directory' (" .. tostring(key) .. ": a userapi client expected)", 2)
    end
    if c.vendor.unavailable.directory then
      error("bad argument #1 to 'directory' (" .. tostring(key) .. ": " .. c.vendor.unavailable.directory .. ")", 2)
    end
    local name = c.vendor.name
    if self.clients[name] then error("bad argument #1 to 'directory' (two clients of " .. name .. ")", 2) end
    self.clients[name] = c
    self.vendors[#self.vendors + 1] = name
  end
  sort(self.vendors, in_order)
  return self
end

--- A directory.
-- Fields: `clients` (by vendor name), `vendors` (their names, in order).
-- @type Directory

--- Every account of the person with this email, in every vendor (reads only).
-- @tparam string email
-- @treturn {table,...} the @{userapi.people.record}s, vendor by vendor
-- @treturn ?table the vendors whose lookup failed: `{ [vendor] = err }`, nil when none did
-- @usage local found, failed = dir:find("ada@example.com")
function Directory:find(email)
  if type(email) ~= "string" or not email:find("@", 1, true) then
    error("bad argument #1 to 'find' (email expected)", 2)
  end
  local found, failed = {}, nil
  for _, v in ipairs(self.vendors) do
    local list, err = people.find(self.clients[v], { email = email })
    if list then
      for _, r in ipairs(list) do found[#found + 1] = r end
    else
      failed = failed or {}
      failed[v] = err
    end
  end
  return found, failed
end

--- Every account of one vendor as records, lazily (see @{userapi.people.accounts}).
-- @tparam string vendor a vendor of the directory
-- @treturn function an iterator of @{userapi.people.record}s; raises a failed page's error
-- @usage for r in dir:accounts("kandji") do print(r.email, r.devices) end
function Directory:accounts(vendor)
  local c = self.clients[vendor]
  if not c then error("bad argument #1 to 'accounts' (no client of " .. tostring(vendor) .. ")", 2) end
  return people.accounts(c)
end

-- each vendor in turn, whatever another's outcome; the warnings of all, as "vendor: text"
local function each_vendor(self, fn)
  local results, failed, warnings = {}, nil, nil
  for _, v in ipairs(self.vendors) do
    local res, err = fn(self.clients[v], v)
    if res then
      results[v] = res
    else
      failed = failed or {}
      failed[v] = err
    end
    for _, w in ipairs((res or err).warnings or {}) do
      warnings = warnings or {}
      warnings[#warnings + 1] = v .. ": " .. tostring(w)
    end
  end
  return results, failed, warnings
end

--- Removes the person everywhere: `ensure_absent` in each vendor. A vendor
-- that fails (a refusal, a record without a usable id, several accounts) does
-- not stop the others.
-- @tparam string email
-- @tparam[opt] table opts `check = true`: plan, send no write; `all = true`: every account that matches
-- @treturn table the results by vendor (`{ changed, action, before, removed, warnings, ... }`)
-- @treturn ?table the vendors that failed: `{ [vendor] = err }` (Kandji: devices still assigned)
-- @treturn ?{string,...} what is left undone, `"vendor: text"` (Kandji devices, an Arthur invitation)
-- @usage local res, failed = dir:offboard("ada@example.com", { check = true })
-- for v, r in pairs(res) do print(v, r.action, #r.removed) end
function Directory:offboard(email, opts)
  if type(email) ~= "string" or not email:find("@", 1, true) then
    error("bad argument #1 to 'offboard' (email expected)", 2)
  end
  return each_vendor(self, function(c) return c:ensure_absent({ email = email }, opts) end)
end

-- one vendor's spec: the person's common fields it manages, then its own table
local function spec_for(client, person)
  local p = client.vendor.people
  local spec = { email = person.email }
  for k, v in pairs(person) do
    if p.fields[k] or (p.create_only and p.create_only[k]) then spec[k] = v end
  end
  local own = person[client.vendor.name]
  if own ~= nil and type(own) ~= "table" then
    error("bad argument #1 to 'onboard' (" .. client.vendor.name .. ": table of its fields expected, got "
      .. type(own) .. ")", 4)
  end
  for k, v in pairs(own or {}) do spec[k] = v end
  return spec
end

-- A vendor that cannot create (Kandji) has no ensure_user: a person it holds
-- already is there (no change); one it lacks is reported, and the others go on.
local function found_or_unsupported(client, email, why)
  local found, err = people.find(client, { email = email })
  if not found then return nil, err end
  if found[1] then return { changed = false, action = "none", before = found[1], after = found[1], diff = {} } end
  return nil, errors.new{ vendor = client.vendor.name, operation = "ensure_user", kind = "unsupported",
                          message = why, secrets = client.secrets }
end

--- Makes the person present everywhere: `ensure_user` in each vendor with the
-- fields it manages (`first_name`, `last_name`, ...) and, under the vendor's
-- name, its own (`sigfox = { group_id = ..., profile_ids = { ... } }`).
-- Kandji cannot create users (its clients have no `ensure_user`): it fails with `kind = "unsupported"`.
-- @tparam table person `email` (required), common fields, per-vendor tables
-- @tparam[opt] table opts `check = true`: plan, send no write
-- @treturn table the results by vendor (`{ changed, action, before, after, diff }`)
-- @treturn ?table the vendors that failed: `{ [vendor] = err }`
-- @treturn ?{string,...} the warnings, `"vendor: text"`
-- @usage local res, failed = dir:onboard{ email = "marie@example.com", first_name = "Marie",
--   last_name = "Curie", sigfox = { group_id = GROUP, profile_ids = { PROFILE } } }
function Directory:onboard(person, opts)
  if type(person) ~= "table" or type(person.email) ~= "string" or not person.email:find("@", 1, true) then
    error("bad argument #1 to 'onboard' (table with an email expected)", 2)
  end
  return each_vendor(self, function(c)
    local why = c.vendor.unavailable.ensure_user
    -- the vendor's own words for why, where it has them (Kandji: its directory sync creates)
    if why then return found_or_unsupported(c, person.email, c.vendor.people.cannot_create or why) end
    return c:ensure_user(spec_for(c, person), opts)
  end)
end

return _M
