-- Offboard a person everywhere by email: find every account they hold in
-- Opendatasoft, Arthur, Kandji and Sigfox (API users named after them), show
-- what would be deleted, then delete it. The work is userapi.directory's
-- offboard (each vendor's ensure_absent); this script prints it.
--
--   lua5.4 examples/offboard.lua EMAIL --dry-run   what would be deleted; nothing is
--   lua5.4 examples/offboard.lua EMAIL             delete, then check again
--
-- Against the simulator: sim/with-sim.sh lua5.4 examples/offboard.lua ada@example.com
-- Exit code: 0 every account found is gone, 1 some could not be deleted (the
-- vendor's reason is printed: a Kandji user still holding devices, the only
-- Opendatasoft domain administrator...) or a vendor has no credentials (it is
-- skipped), 2 usage, or no vendor has credentials.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"

local opts, pos = common.args(arg, { ["dry-run"] = true })
local email = pos[1]
if not email or #pos > 1 or not email:find("@", 1, true) then
  common.usage("usage: offboard.lua EMAIL [--dry-run]")
end

local clients, missing = common.some_clients()
local dir = common.userapi.directory(clients)
print(("Offboarding %s on %s%s"):format(email, common.where(), opts["dry-run"] and " (dry run)" or ""))

local function line(v, text) print(("  %-13s %s"):format(v, text)) end

-- 1. every account of the person: the plan (reads only)
local plan, unreadable, warnings = dir:offboard(email, { check = true })
local failures, planned = 0, 0
print("\nAccounts found:")
for _, v in ipairs(common.VENDORS) do
  local p = plan[v]
  if missing[v] then
    failures = failures + 1
    line(v, "skipped: " .. missing[v])
  elseif not p and unreadable[v].account then
    -- found, and the vendor will refuse its delete (Kandji: devices; the warning says why)
    line(v, unreadable[v].account.id .. "  " .. tostring(unreadable[v].account.name) .. "  (will be refused)")
  elseif not p then
    failures = failures + 1
    line(v, "cannot search: " .. tostring(unreadable[v]))
  elseif #p.removed == 0 then
    line(v, "none")
  else
    for _, a in ipairs(p.removed) do
      planned = planned + 1
      line(v, a.id .. "  " .. tostring(a.name))
    end
  end
end

-- 2. the dry run: the requests that would be sent
if opts["dry-run"] then
  print("\nWould delete:")
  for _, v in ipairs(dir.vendors) do
    for _, a in ipairs(plan[v] and plan[v].removed or {}) do
      line(v, common.request_line(clients[v], clients[v].vendor.people.delete.op, a.id))
    end
  end
  for _, w in ipairs(warnings or {}) do print("Warning: " .. w) end
  print(("\nDry run: %d account(s) would be deleted, nothing was sent."):format(planned))
  os.exit(failures > 0 and 1 or 0)
end

-- 3. delete, then check that they are gone
print("\nDeleting:")
local done, refused
done, refused, warnings = dir:offboard(email)
for _, v in ipairs(dir.vendors) do
  if done[v] then
    for _, a in ipairs(done[v].removed) do line(v, "deleted " .. a.id) end
  else
    -- a refused delete is a new problem; a failed search was counted above
    local a = refused[v].account
    if a then failures = failures + 1 end
    line(v, ("NOT deleted%s: %s"):format(a and (" " .. a.id) or "", tostring(refused[v])))
  end
end
for _, w in ipairs(warnings or {}) do print("Warning: " .. w) end

print("\nCheck:")
local found, failed = dir:find(email)
local left = {}
for _, a in ipairs(found) do left[a.vendor] = (left[a.vendor] or 0) + 1 end
local total = #found
for _, v in ipairs(dir.vendors) do
  local n = left[v] or 0
  line(v, failed and failed[v] and ("cannot search: " .. tostring(failed[v]))
    or n == 0 and "gone" or (n .. " account(s) left"))
end
if failures > 0 then
  print(("\n%d problem(s) need a human: see the vendor's message above."):format(failures))
end
os.exit((failures > 0 or total > 0) and 1 or 0)
