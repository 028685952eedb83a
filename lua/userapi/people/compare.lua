--- Comparing a person's spec with an account (for @{userapi.people}): which
-- fields a vendor manages, how each compares (a string, an email whatever its
-- case, a set), and what would change.
-- @module userapi.people.compare
local type, pairs, ipairs, tostring, error = type, pairs, ipairs, tostring, error
local sort, concat = table.sort, table.concat

local _M = {}

local function lower(s) return type(s) == "string" and s:lower() or nil end

local function set_key(v)
  if type(v) ~= "table" then return tostring(v) end
  local t = {}
  for i, x in ipairs(v) do t[i] = tostring(x) end
  sort(t)
  return concat(t, "\0")
end

local SAME = {
  string = function(a, b) return a == b end,
  email = function(a, b) return lower(a) == lower(b) end,
  set = function(a, b) return set_key(a or {}) == set_key(b) end,
}

--- Checks the fields of a spec against the vendor's `people` table.
-- @tparam table p the vendor's `people` table
-- @tparam table spec the person's fields
-- @raise `bad argument #1 to 'ensure_user'` on a field the vendor does not manage, or of the wrong type
function _M.check_spec(p, spec)
  for k, v in pairs(spec) do
    local how = p.fields[k]
    if not how and not (p.create_only and p.create_only[k]) and k ~= "id" and k ~= "username" and k ~= "email" then
      local known = {}
      for f in pairs(p.fields) do known[#known + 1] = f end
      for f in pairs(p.create_only or {}) do known[#known + 1] = f end
      sort(known)
      error("bad argument #1 to 'ensure_user' (unknown field '" .. tostring(k) .. "'; "
        .. (#known > 0 and ("known: " .. concat(known, ", ")) or "this vendor manages no field") .. ")", 3)
    end
    local want = how == "set" and "table" or "string"
    if how and type(v) ~= want then
      error("bad argument #1 to 'ensure_user' (" .. k .. ": " .. want .. " expected, got " .. type(v) .. ")", 3)
    end
  end
end

--- What would change: `{ field = { before, after } }` over the managed fields `spec` gives.
-- @tparam table p the vendor's `people` table
-- @tparam table spec the fields wanted (or a new account's record)
-- @tparam ?table current the account, nil when there is none
-- @treturn table the diff
-- @treturn int how many fields differ
function _M.diff(p, spec, current)
  local d, n = {}, 0
  for k, how in pairs(p.fields) do
    local want = spec[k]
    if want ~= nil and not SAME[how](current and current[k], want) then
      d[k] = { before = current and current[k], after = want }
      n = n + 1
    end
  end
  return d, n
end

--- A record with a diff applied (a plan's `after`).
-- @tparam ?table record
-- @tparam table d a diff
-- @treturn table a new record
function _M.apply(record, d)
  local r = {}
  for k, v in pairs(record or {}) do r[k] = v end
  for k, change in pairs(d) do r[k] = change.after end
  return r
end

return _M
