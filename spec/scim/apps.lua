-- The applications of make scim and the SCIM specs: one per simulated vendor,
-- the simulator's credentials, the token from USERAPI_SCIM_TOKEN, the store
-- the shared dict `scim` or the Redis of SCIM_REDIS_URL.
local M = {}

-- the simulator's Sigfox group and profile that new API users get
M.SIGFOX_DEFAULTS = { group_id = "babecafebabecafebabedcef", profile_ids = { "5138e7dfa2f1fffaf25fd409" } }

function M.apps(sim_url)
  local base = {
    opendatasoft = { base_url = sim_url .. "/ods/api/automation/v1.0", apikey = "ods-test-key" },
    arthur = { base_url = sim_url .. "/arthur", access_token = "arthur-test-token" },
    kandji = { base_url = sim_url .. "/kandji", token = "kandji-test-token" },
    sigfox = { base_url = sim_url .. "/sigfox/v2", login = "sigfox-login", password = "sigfox-secret" },
  }
  local apps = {}
  for vendor, client in pairs(base) do
    client.retries = false
    apps[vendor] = { vendor = vendor, client = client, token_env = "USERAPI_SCIM_TOKEN",
                     store = os.getenv("SCIM_REDIS_URL") or { shared_dict = "scim" },
                     defaults = vendor == "sigfox" and M.SIGFOX_DEFAULTS or nil }
    -- the same tenant, deactivation deleting the account (on_deactivate = "delete")
    local offboard = {}
    for k, v in pairs(apps[vendor]) do offboard[k] = v end
    offboard.on_deactivate = "delete"
    apps[vendor .. "-delete"] = offboard
  end
  return apps
end

function M.configure()
  require("userapi.scim").configure{ apps = M.apps(assert(os.getenv("USERAPI_SIM_URL"), "USERAPI_SIM_URL")) }
end

return M
