-- The README's quick start: USERAPI_<VENDOR>_BASE_URL and the credential
-- variables point a script (through userapi.config) and the command at the
-- simulator, with nothing else set; the variable wins over the config file.
local sim = require "spec.helper"
local proc = require "spec.proc"

-- each vendor's variables as the README gives them, and one call of each
local VENDORS = {
  { "opendatasoft", "ODS", "/ods/api/automation/v1.0", { USERAPI_ODS_APIKEY = "ods-test-key" }, "get_users",
    "/ods/api/automation/v1.0/users/" },
  { "arthur", "ARTHUR", "/arthur", { USERAPI_ARTHUR_TOKEN = "arthur-test-token" }, "get_organization_users",
    "/arthur/api/v1/organization/users" },
  { "kandji", "KANDJI", "/kandji", { USERAPI_KANDJI_TOKEN = "kandji-test-token" }, "list_users",
    "/kandji/api/v1/users" },
  { "sigfox", "SIGFOX", "/sigfox/v2",
    { USERAPI_SIGFOX_LOGIN = "sigfox-login", USERAPI_SIGFOX_PASSWORD = "sigfox-secret" }, "list_api_users",
    "/sigfox/v2/api-users/" },
}

local SCRIPT = [=[
local userapi = require "userapi"
local config = require "userapi.config"
local client = userapi[arg[1]](config.options(arg[1]))
assert(client[arg[2]](client))
print(client.base_url)
]=]

local function env_of(v, extra)
  local env = proc.lua_env({ [("USERAPI_%s_BASE_URL"):format(v[2])] = sim.url .. v[3] })
  for k, x in pairs(v[4]) do env[k] = x end
  for k, x in pairs(extra or {}) do env[k] = x end
  return env
end

before_each(function() sim.reset() end)

describe("the quick start: USERAPI_<VENDOR>_BASE_URL", function()
  local script = proc.file("quickstart.lua", SCRIPT)
  for _, v in ipairs(VENDORS) do
    it(v[1] .. ": a script with config.options and the command reach the simulator", function()
      local r = proc.run({ proc.lua, script, v[1], v[5] }, env_of(v))
      assert.equal(0, r.code, r.err)
      assert.equal(sim.url .. v[3] .. "\n", r.out)
      local seen = sim.requests()
      assert.equal(1, #seen)
      assert.same({ "GET", v[6] }, { seen[1].method, seen[1].path })

      r = proc.run({ "bin/userapi", v[1], v[5], "-o", "jsonl" }, env_of(v))
      assert.equal(0, r.code, r.err)
      assert.equal(2, #sim.requests())
    end)
  end

  it("wins over the config file's base_url", function()
    local cfg = proc.file("config",
      "[default.kandji]\ntoken = kandji-test-token\nbase_url = https://elsewhere.invalid\n")
    assert(os.execute("chmod 600 " .. cfg))
    local r = proc.run({ proc.lua, script, "kandji", "list_users" }, env_of(VENDORS[3], { USERAPI_CONFIG = cfg }))
    assert.equal(0, r.code, r.err)
    assert.equal(sim.url .. "/kandji\n", r.out)
  end)
end)
