-- Onboard a person in all four vendors, skipping what they already have:
--   Opendatasoft  invite_users (an invitation email; first and last name set)
--   Arthur        post_organization_user_invite (an invitation to the organization)
--   Kandji        users come from the directory integration (Office 365, Google
--                 Workspace...): the API cannot create them, so this checks
--                 that the person has been synced
--   Sigfox        create_api_user: an API user for their automation, named
--                 "EMAIL automation", in a group with a profile
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
local sigfox_tz = opts["sigfox-timezone"] or "UTC"

local clients, missing = common.some_clients()
local dry = opts["dry-run"]
print(("Onboarding %s %s <%s> on %s%s"):format(first, last, email, common.where(), dry and " (dry run)" or ""))

-- What each vendor does: returns a line for the report and "done",
-- "pending" or nil (failed). In a dry run, `send` returns the request line.
local function send(client, opname, ...)
  if dry then return common.request_line(client, opname, ...) end
  return client[opname](client, ...)
end

local STEPS = {
  opendatasoft = function(c)
    local res, err = send(c, "invite_users", { { email = email, first_name = first, last_name = last } })
    if not res then return tostring(err) end
    if dry then return "would invite: " .. res, "done" end
    local item = res[1]
    if not (item and item.ok) then
      return "invitation refused: " .. tostring(item and item.err and item.err.message or "no result")
    end
    return "invited as " .. tostring(item.value and item.value.username), "done"
  end,
  -- an invitation is not a user yet: a second run invites again
  arthur = function(c)
    local res, err = send(c, "post_organization_user_invite", { email = email })
    if not res then return tostring(err) end
    return dry and ("would invite: " .. res) or "invited to the organization", "done"
  end,
  kandji = function()
    -- nothing to create: the search found no one yet
    return "pending: Kandji users come from the directory integration; "
      .. "the person appears at its next sync", "pending"
  end,
  sigfox = function(c)
    if not (sigfox_group and sigfox_profile) then
      return "skipped: set USERAPI_SIGFOX_GROUP_ID and USERAPI_SIGFOX_PROFILE_ID (or --sigfox-group, --sigfox-profile)"
    end
    local res, err = send(c, "create_api_user", { groupId = sigfox_group, name = email .. " automation",
      timezone = sigfox_tz, profileIds = { sigfox_profile } })
    if not res then return tostring(err) end
    return dry and ("would create an API user: " .. res) or ("API user created: " .. tostring(res.id)), "done"
  end,
}

local failures = 0
for _, v in ipairs(common.VENDORS) do
  local client = clients[v]
  local line, state
  if not client then
    line = "skipped: " .. missing[v]
  else
    local searched, found = pcall(common.find, v, client, email)
    if not searched then
      line = "cannot search: " .. tostring(found)
    elseif #found > 0 then
      line, state = "already there: " .. found[1].id, "done"
    else
      line, state = STEPS[v](client)
    end
  end
  if not state then failures = failures + 1 end
  print(("  %-13s %s"):format(v, line))
end
if failures > 0 then print(("\n%d vendor(s) need attention."):format(failures)) end
os.exit(failures > 0 and 1 or 0)
