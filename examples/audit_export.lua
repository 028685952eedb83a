-- Export every user of every vendor to one CSV, for an access review:
--   vendor,id,email,name,kind,active,created_at,last_seen_at,devices
-- kind: Opendatasoft account type, Arthur user type (user, service_account,
-- data_plane), Kandji "user", Sigfox "api_user"; devices: Kandji's device
-- count. Sigfox API users have no email: the owner's address in the name
-- ("ada@example.com automation") fills the column. Every page is walked.
--
--   lua5.4 examples/audit_export.lua [--output FILE]     (stdout by default)
--
-- Against the simulator: sim/with-sim.sh lua5.4 examples/audit_export.lua --output users.csv
-- Exit code: 0 every vendor exported, 1 a vendor failed or has no credentials
-- (the others are still exported), 2 usage or no vendor has credentials.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local csv = require "userapi.csv"
local null = common.userapi.null

local opts, pos = common.args(arg, { output = "value" })
if #pos > 0 then common.usage("usage: audit_export.lua [--output FILE]") end

local COLUMNS = { "vendor", "id", "email", "name", "kind", "active", "created_at", "last_seen_at", "devices" }

-- a cell: "" for nil and null, 2 for the float 2.0 that JSON decoding gives
local s = common.format.cell

local function join(...)
  local parts = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if v ~= nil and v ~= null and v ~= "" then parts[#parts + 1] = tostring(v) end
  end
  return table.concat(parts, " ")
end

-- How to walk each vendor and read its records into the columns.
local VENDORS = {
  opendatasoft = { params = nil, row = function(u)
    return { id = u.username, email = u.email, name = u.display_name ~= nil and u.display_name ~= null
               and u.display_name or join(u.first_name, u.last_name),
             kind = u.account_type, active = u.is_active, created_at = u.joined_at, last_seen_at = u.last_seen_at }
  end },
  -- every kind of user, not only the list's default (users and service accounts)
  arthur = { params = { user_types = { "user", "service_account", "data_plane" } }, row = function(u)
    return { id = u.id, email = u.email, name = join(u.first_name, u.last_name), kind = u.user_type,
             created_at = u.created_at }
  end },
  kandji = { params = nil, row = function(u)
    return { id = u.id, email = u.email, name = u.name, kind = "user",
             active = u.archived == true and false or u.active, created_at = u.created_at,
             devices = u.device_count }
  end },
  sigfox = { params = nil, row = function(u)
    local created = tonumber(u.creationTime)
    return { id = u.id, email = common.sigfox_owner(u.name), name = u.name, kind = "api_user",
             created_at = created and os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(created / 1000)) or nil }
  end },
}

local out = io.stdout
if opts.output then
  out = assert(io.open(opts.output, "wb"))
end

local clients, missing = common.some_clients()
out:write(csv.format_row(COLUMNS), "\n")
local failures, total = 0, 0
for _, v in ipairs(common.VENDORS) do
  local client = clients[v]
  if not client then
    failures = failures + 1
    io.stderr:write(("%-13s skipped: %s\n"):format(v, missing[v]))
  else
    local n = 0
    local ok, err = pcall(function()
      for u in client:each_user(VENDORS[v].params) do
        local r = VENDORS[v].row(u)
        r.vendor = v
        local fields = {}
        for i, c in ipairs(COLUMNS) do fields[i] = s(r[c]) end
        out:write(csv.format_row(fields), "\n")
        n = n + 1
      end
    end)
    total = total + n
    if ok then
      io.stderr:write(("%-13s %d users\n"):format(v, n))
    else
      failures = failures + 1
      io.stderr:write(("%-13s FAILED after %d users: %s\n"):format(v, n, tostring(err)))
    end
  end
end
if out ~= io.stdout then out:close() end
io.stderr:write(("%d users exported%s\n"):format(total, opts.output and (" to " .. opts.output) or ""))
os.exit(failures > 0 and 1 or 0)
