-- Offboard a person everywhere by email: find every account they hold in
-- Opendatasoft, Arthur, Kandji and Sigfox (API users named after them), show
-- what would be deleted, then delete it.
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

-- how each vendor deletes an account
local DELETE = { opendatasoft = "delete_user", arthur = "delete_user", kandji = "delete_user",
                 sigfox = "delete_api_user" }

local clients, missing = common.some_clients()
print(("Offboarding %s on %s%s"):format(email, common.where(), opts["dry-run"] and " (dry run)" or ""))

-- 1. every account of the person, vendor by vendor
local accounts, failures = {}, 0
print("\nAccounts found:")
for _, v in ipairs(common.VENDORS) do
  local client = clients[v]
  if not client then
    failures = failures + 1
    print(("  %-13s skipped: %s"):format(v, missing[v]))
  else
    local ok, found = pcall(common.find, v, client, email)
    if not ok then
      failures = failures + 1
      print(("  %-13s cannot search: %s"):format(v, tostring(found)))
    elseif #found == 0 then
      print(("  %-13s none"):format(v))
    else
      for _, a in ipairs(found) do
        accounts[#accounts + 1] = a
        local r = a.record
        local label = r.name or r.display_name or ((r.first_name or "") .. " " .. (r.last_name or ""))
        print(("  %-13s %s  %s"):format(v, a.id, tostring(label)))
      end
    end
  end
end

-- 2. the dry run: the requests that would be sent
if opts["dry-run"] then
  print("\nWould delete:")
  for _, a in ipairs(accounts) do
    print(("  %-13s %s"):format(a.vendor, common.request_line(clients[a.vendor], DELETE[a.vendor], a.id)))
  end
  print(("\nDry run: %d account(s) would be deleted, nothing was sent."):format(#accounts))
  os.exit(failures > 0 and 1 or 0)
end

-- 3. delete, then check that they are gone
print("\nDeleting:")
for _, a in ipairs(accounts) do
  local client = clients[a.vendor]
  local ok, err = client[DELETE[a.vendor]](client, a.id)
  if ok then
    print(("  %-13s deleted %s"):format(a.vendor, a.id))
  else
    failures = failures + 1
    print(("  %-13s NOT deleted %s: %s"):format(a.vendor, a.id, tostring(err)))
  end
end

print("\nCheck:")
local left = 0
for _, v in ipairs(common.VENDORS) do
  if clients[v] then
    local ok, found = pcall(common.find, v, clients[v], email)
    local n = ok and #found or 0
    left = left + n
    print(("  %-13s %s"):format(v, not ok and ("cannot search: " .. tostring(found))
      or n == 0 and "gone" or (n .. " account(s) left")))
  end
end
if failures > 0 then
  print(("\n%d problem(s) need a human: see the vendor's message above."):format(failures))
end
os.exit((failures > 0 or left > 0) and 1 or 0)
