-- What the Sigfox specs share (sigfox_spec.lua, sigfox_profiles_spec.lua): the
-- seeded ids and checks on what the simulator holds and recorded.
local sim = require "spec.helper"

local M = {
  API = "/sigfox/v2/api-users",
  BASIC = "Basic c2lnZm94LWxvZ2luOnNpZ2ZveC1zZWNyZXQ=",   -- base64("sigfox-login:sigfox-secret")
  ADA = "5f3a9c1e2b4d6f8a0c1e2b4d",      -- "ada@example.com automation", SIGFOX_Group, profile SNO [W]
  ALAN = "5f3a9c1e2b4d6f8a0c1e2b4e",     -- "alan@example.com reporting", SIGFOX_Group, profile READER
  GRACE = "5f3a9c1e2b4d6f8a0c1e2b4f",    -- "grace@example.com ops", Acme Devices, READER + ADMIN
  SIGFOX_GROUP = "babecafebabecafebabedcef",
  ACME_GROUP = "5e1f2a3b4c5d6e7f8a9b0c1d",
  SNO = "5138e7dfa2f1fffaf25fd409",
  READER = "5138e7dfa2f1fffaf25fd40a",
  ADMIN = "5138e7dfa2f1fffaf25fd40b",
  GROUP_FIELDS = "group(name,type,level,bssId,customerBssId)",
  PROFILE_FIELDS = "profiles(name,roles(name,perms(name)))",
  NOT_FOUND = "The requested resource was not found.",
}

-- applied(op), assert_headers(r, content_type), refused(fn, message, partial), assert_error(err, f)
for k, f in pairs(sim.checks("sigfox", M.BASIC)) do M[k] = f end

-- The seeded user with this id as the simulator holds it now (nil if gone).
function M.stored(id)
  for _, u in ipairs(sim.state("sigfox").users) do
    if u.id == id then return u end
  end
end

function M.profile_ids(u) return sim.pluck(u.profiles, "id") end

return M
