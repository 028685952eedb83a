-- Onboard a person in all four vendors; what they already have is left as
-- it is (a pending invitation counts), so running it twice changes nothing.
-- The work is userapi.directory's onboard (each vendor's ensure_user):
--   Opendatasoft  an invitation email (invite_users), first and last name set
--   Arthur        an invitation to the organization (post_organization_user_invite)
--   Kandji        users come from the directory integration (Office 365, Google
--                 Workspace...): the API cannot create them, so this checks
--                 that the person has been synced
--   Sigfox        an API user for their automation, named "EMAIL automation",
--                 in a group with a profile (create_api_user)
--
--   lua5.4 examples/onboard.lua EMAIL FIRST LAST [--dry-run]
--       [--sigfox-group ID] [--sigfox-profile ID] [--sigfox-timezone TZ]
--
-- The Sigfox group and profile also come from USERAPI_SIGFOX_GROUP_ID and
-- USERAPI_SIGFOX_PROFILE_ID (the simulator has defaults); without them Sigfox
-- is skipped. Against the simulator:
--   sim/with-sim.sh lua5.4 examples/onboard.lua marie@example.com Marie Curie
-- Exit code: 0 onboarded (already there, or pending a Kandji directory sync),
-- 1 a vendor refused or is not configured, 2 usage or no vendor has credentials.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local common = require "common"

local opts, pos = common.args(arg, { ["dry-run"] = true, ["sigfox-group"] = "value",
  ["sigfox-profile"] = "value", ["sigfox-timezone"] = "value" })
local email, first, last = pos[1], pos[2], pos[3]
if #pos ~= 3 or not email:find("^[^@%s]+@[^@%s]+$") then
  common.usage("usage: onboard.lua EMAIL FIRST LAST [--dry-run] [--sigfox-group ID] [--sigfox-profile ID]")
end
email = email:lower()

local function setting(flag, env, sim_default)
  local v = opts[flag] or os.getenv(env)
  if (v == nil or v == "") and common.sim then v = sim_default end
  return v ~= "" and v or nil
end
local sigfox_group = setting("sigfox-group", "USERAPI_SIGFOX_GROUP_ID", "5e1f2a3b4c5d6e7f8a9b0c1d")
local sigfox_profile = setting("sigfox-profile", "USERAPI_SIGFOX_PROFILE_ID", "5138e7dfa2f1fffaf25fd40a")

local clients, missing = common.some_clients()
local dry = opts["dry-run"]
print(("Onboarding %s %s <%s> on %s%s"):format(first, last, email, common.where(), dry and " (dry run)" or ""))

local person = { email = email, first_name = first, last_name = last }
if sigfox_group and sigfox_profile then
  -- the timezone only when asked: an existing API user keeps its own
  person.sigfox = { group_id = sigfox_group, profile_ids = { sigfox_profile },
                    timezone = opts["sigfox-timezone"] }
end
local results, failed = common.userapi.directory(clients):onboard(person, { check = dry })

-- What a result says, and whether the vendor is done (nil: needs attention).
local SAID = {
  invited = function(r, v)
    if v == "opendatasoft" then return "invited as " .. tostring(r.after.id) end
    return "invited to the organization"
  end,
  created = function(r, v)
    if v == "sigfox" then return "API user created: " .. tostring(r.after.id) end
    return "created: " .. tostring(r.after.id)
  end,
  updated = function(r)
    local fields = {}
    for k in pairs(r.diff) do fields[#fields + 1] = k end
    table.sort(fields)
    return "updated: " .. table.concat(fields, ", ")
  end,
  none = function(r)
    if r.before and r.before.pending and not r.before.id then return "already invited (pending)" end
    return "already there: " .. tostring(r.before.id) .. (r.before.pending and " (invitation pending)" or "")
  end,
}

local function report(v)
  if missing[v] then return "skipped: " .. missing[v] end
  local r, err = results[v], failed and failed[v]
  if r then
    if dry and r.changed then return "would be " .. r.action .. " (nothing sent)", true end
    return SAID[r.action](r, v), true
  end
  if err.kind == "unsupported" and v == "kandji" then
    return "pending: Kandji users come from the directory integration; "
      .. "the person appears at its next sync", true
  end
  if err.kind == "unsupported" and v == "sigfox" then
    return "skipped: set USERAPI_SIGFOX_GROUP_ID and USERAPI_SIGFOX_PROFILE_ID (or --sigfox-group, --sigfox-profile)"
  end
  return tostring(err)
end

local failures = 0
for _, v in ipairs(common.VENDORS) do
  local line, ok = report(v)
  if not ok then failures = failures + 1 end
  print(("  %-13s %s"):format(v, line))
end
if failures > 0 then print(("\n%d vendor(s) need attention."):format(failures)) end
os.exit(failures > 0 and 1 or 0)
