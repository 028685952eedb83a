--- The check of a vendor's `people` table (what @{userapi.people} reads), run
-- when the vendor table is registered: a misspelt key gets did-you-mean, an
-- operation that the vendor does not have is named, at register rather than
-- at the first `ensure_user`.
-- @module userapi.people.shape
local check = require "userapi.check"

local type, pairs, ipairs, tostring, error = type, pairs, ipairs, tostring, error
local format = string.format

local _M = {}

-- each key and what it holds: a type, or a table of keys (a nested table)
local LOOKUP = { op = "op", params = "function" }
local WAY = { op = "op", action = "string", needs = "table", body = "function", result = "function",
              already = "string", unseen = "string", reread = "boolean" }
local KEYS = {
  lookup = { email = LOOKUP, id = LOOKUP },
  all = "table",                  -- the list operation's parameters for every account
  normalize = "function",         -- function(vendor record) -> record
  fields = "table",               -- field -> "string" | "email" | "set"
  create_only = "table",          -- field -> true: sent on create, never compared
  create = "table",               -- the ways to create, in order (WAY)
  cannot_create = "string", cannot_update = "string",
  update = { op = "op", body = "function" },
  delete = { op = "op" },
  absent_unseen = "string",       -- a warning of every ensure_absent (format: %s the email)
  blocks_delete = "function",     -- function(record) -> why the vendor will refuse its delete, or nil
  logins = "boolean",             -- records say when each account last logged in (a review flags the stale)
  rotate = { op = "op", kinds = "table", login = "function", verify = "op" },   -- userapi.rotate
  scim = "scim",                  -- the SCIM mapping: checked by its owner, userapi.scim.schema
  service_kinds = "table",        -- kind -> true: accounts that are not people (a review reports them apart)
}
local REQUIRED = { "lookup", "normalize", "fields", "delete" }
local HOW = { string = true, email = true, set = true }

local function fail(vname, where, fmt, ...)
  error(format("userapi: vendor '%s': people%s: " .. fmt, tostring(vname), where, ...), 0)
end

local function check_keys(vname, where, t, known, ops)
  if type(t) ~= "table" then fail(vname, where, "table expected, got %s", type(t)) end
  for k, v in pairs(t) do
    local want = known[k]
    if not want then fail(vname, where, "unknown field '%s'%s", tostring(k), check.did_you_mean(k, known)) end
    local here = where .. "." .. k
    if type(want) == "table" then
      check_keys(vname, here, v, want, ops)
    elseif want == "scim" then
      require("userapi.scim.schema").check_mapping(vname, v, ops)
    elseif want == "op" then
      if not ops[v] then fail(vname, here, "no operation '%s'%s", tostring(v), check.did_you_mean(v, ops)) end
    elseif type(v) ~= want then
      fail(vname, here, "%s expected, got %s", want, type(v))
    end
  end
end

--- Checks a vendor's `people` table.
-- @tparam string vname the vendor's name
-- @tparam table p its `people` table
-- @tparam table ops its operations, by name
-- @raise `userapi: vendor 'x': people.lookup: unknown field 'emial' (did you mean 'email'?)`
function _M.check(vname, p, ops)
  check_keys(vname, "", p, KEYS, ops)
  for _, k in ipairs(REQUIRED) do if p[k] == nil then fail(vname, "", "%s required", k) end end
  if not p.lookup.email then fail(vname, ".lookup", "email required") end
  for f, how in pairs(p.fields) do
    if not HOW[how] then fail(vname, ".fields." .. tostring(f), "string, email or set expected") end
  end
  for i, way in ipairs(p.create or {}) do check_keys(vname, ".create[" .. i .. "]", way, WAY, ops) end
end

return _M
