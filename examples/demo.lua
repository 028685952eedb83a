-- The main job, end to end: find one person in all four vendors by email,
-- then offboard them everywhere, printing what was done.
--   make demo                       (against the bundled simulator)
--   lua5.4 examples/demo.lua EMAIL  (with USERAPI_SIM_URL, or real credentials in the environment)
local userapi = require "userapi"

local email = arg[1] or "ada@example.com"
local sim = os.getenv("USERAPI_SIM_URL")

-- Against the simulator by default; real tenants through the environment.
local function opts(base, creds)
  local o = { base_url = sim and (sim .. base) or nil }
  for k, v in pairs(creds) do o[k] = v end
  return o
end

local ods = userapi.opendatasoft(opts("/ods/api/automation/v1.0", {
  domain = os.getenv("ODS_DOMAIN"), apikey = os.getenv("ODS_APIKEY") or "ods-test-key" }))
local arthur = userapi.arthur(opts("/arthur", {
  access_token = os.getenv("ARTHUR_TOKEN") or "arthur-test-token" }))
local kandji = userapi.kandji(opts("/kandji", {
  subdomain = os.getenv("KANDJI_SUBDOMAIN"), token = os.getenv("KANDJI_TOKEN") or "kandji-test-token" }))
local sigfox = userapi.sigfox(opts("/sigfox/v2", {
  login = os.getenv("SIGFOX_LOGIN") or "sigfox-login", password = os.getenv("SIGFOX_PASSWORD") or "sigfox-secret" }))

local function lower(s) return type(s) == "string" and s:lower() or "" end

-- How to find the person in each vendor, and how to remove them.
local plan = {
  { name = "opendatasoft", client = ods,
    find = function()
      local page = assert(ods:get_users{ search = email, limit = 100 })
      for _, u in ipairs(page.results) do if lower(u.email) == email then return u.username, u end end
    end,
    remove = function(id) return ods:delete_user(id) end },
  { name = "arthur", client = arthur,
    find = function()
      local page = assert(arthur:get_organization_users{ search = email, page_size = 100 })
      for _, u in ipairs(page.records) do if lower(u.email) == email then return u.id, u end end
    end,
    remove = function(id) return arthur:delete_user(id) end },
  { name = "kandji", client = kandji,
    find = function()
      local page = assert(kandji:list_users{ email = email })
      for _, u in ipairs(page.results) do if lower(u.email) == email then return u.id, u end end
    end,
    remove = function(id) return kandji:delete_user(id) end },
  -- Sigfox API users have no email: ours are named after their owner
  { name = "sigfox", client = sigfox,
    find = function()
      local page = assert(sigfox:list_api_users{ limit = 100 })
      for _, u in ipairs(page.data) do
        if lower(u.name):find(email, 1, true) then return u.id, u end
      end
    end,
    remove = function(id) return sigfox:delete_api_user(id) end },
}

print(("Offboarding %s%s"):format(email, sim and (" on the simulator at " .. sim) or ""))

print("\n0. Users per vendor (every page walked)")
for _, v in ipairs(plan) do
  local n, sample = 0, nil
  for u in v.client:each_user() do
    n = n + 1
    sample = sample or (u.email ~= userapi.null and u.email) or u.name
  end
  print(("   %-13s %5d users, e.g. %s"):format(v.name, n, tostring(sample)))
end

print("\n1. Where does this person have an account?")
local found = {}
for _, v in ipairs(plan) do
  local id = v.find()
  found[v.name] = id
  print(("   %-13s %s"):format(v.name, id and ("found: " .. id) or "no account"))
end

print("\n2. Remove every account found")
local failures = 0
for _, v in ipairs(plan) do
  local id = found[v.name]
  if id then
    local ok, err = v.remove(id)
    if ok then
      print(("   %-13s deleted %s"):format(v.name, id))
    else
      failures = failures + 1
      print(("   %-13s NOT deleted: %s"):format(v.name, tostring(err)))
    end
  end
end

print("\n3. Check again")
for _, v in ipairs(plan) do
  print(("   %-13s %s"):format(v.name, v.find() and "still present" or "gone"))
end
if failures > 0 then
  print(("\n%d account(s) need a human: see the vendor's message above."):format(failures))
end
