-- Kandji users still holding devices (device_count > 0), most devices first:
-- the people whose devices must come back before Kandji lets them be deleted
-- ("User still assigned to one or more devices"). Every page is walked.
--
--   lua5.4 examples/kandji_devices.lua [--format table|csv|jsonl] [--check]
--
-- --check exits with 1 when anyone holds a device (a gate for an offboarding
-- job). Against the simulator: sim/with-sim.sh lua5.4 examples/kandji_devices.lua
-- Exit code: 0 listed (with --check: nobody holds a device), 1 the listing
-- failed (or --check found someone), 2 usage or missing credentials.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"
local cli = common.format

local opts, pos = common.args(arg, { format = "value", check = true })
local fmt = opts.format or "table"
if #pos > 0 or not ({ table = true, csv = true, jsonl = true })[fmt] then
  common.usage("usage: kandji_devices.lua [--format table|csv|jsonl] [--check]")
end

local kandji, why = common.client("kandji")
if not kandji then common.usage(why) end

local holders, devices = {}, 0
local ok, err = pcall(function()
  for u in kandji:each_user() do
    local n = tonumber(u.device_count) or 0
    if n > 0 then
      holders[#holders + 1] = { id = u.id, email = u.email, name = u.name, devices = n,
                                archived = u.archived == true, department = u.department }
      devices = devices + n
    end
  end
end)
if not ok then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
table.sort(holders, function(a, b)
  if a.devices ~= b.devices then return a.devices > b.devices end
  return tostring(a.email) < tostring(b.email)
end)

local COLUMNS = { "email", "name", "devices", "archived", "department", "id" }
if fmt == "jsonl" then
  for _, h in ipairs(holders) do io.stdout:write(cli.to_json(h), "\n") end
elseif fmt == "csv" then
  cli.write_csv(io.stdout, holders, COLUMNS)
elseif #holders > 0 then
  cli.write_table(io.stdout, holders, COLUMNS)
end
io.stderr:write(("%d user(s) hold %d device(s)\n"):format(#holders, devices))
os.exit((opts.check and #holders > 0) and 1 or 0)
