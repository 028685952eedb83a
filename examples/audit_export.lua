-- Export every user of every vendor to one CSV, for an access review:
--   vendor,id,email,name,kind,active,created_at,last_seen_at,devices
-- The rows are the records of userapi.directory (userapi.people.record):
-- kind is the Opendatasoft account type, the Arthur user type (user,
-- service_account, data_plane), Kandji "user", Sigfox "api_user"; devices is
-- Kandji's device count; Sigfox API users have no email, so the owner named
-- in the API user's name ("ada@example.com automation") fills the column.
-- Every page is walked, every kind of account included.
--
--   lua5.4 examples/audit_export.lua [--output FILE]     (stdout by default)
--
-- Against the simulator: sim/with-sim.sh lua5.4 examples/audit_export.lua --output users.csv
-- Exit code: 0 every vendor exported, 1 a vendor failed or has no credentials
-- (the others are still exported), 2 usage or no vendor has credentials.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local csv = require "userapi.csv"

local opts, pos = common.args(arg, { output = "value" })
if #pos > 0 then common.usage("usage: audit_export.lua [--output FILE]") end

local COLUMNS = { "vendor", "id", "email", "name", "kind", "active", "created_at", "last_seen_at", "devices" }

-- a cell: "" for nil and null, 2 for the float 2.0 that JSON decoding gives
local cell = common.format.cell

local out = io.stdout
if opts.output then
  out = assert(io.open(opts.output, "wb"))
end

local clients, missing = common.some_clients()
local dir = common.userapi.directory(clients)
out:write(csv.format_row(COLUMNS), "\n")
local failures, total = 0, 0
for _, v in ipairs(common.VENDORS) do
  if missing[v] then
    failures = failures + 1
    io.stderr:write(("%-13s skipped: %s\n"):format(v, missing[v]))
  else
    local n = 0
    local ok, err = pcall(function()
      for r in dir:accounts(v) do
        local fields = {}
        for i, c in ipairs(COLUMNS) do fields[i] = cell(r[c]) end
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
