-- Conformance against a third party: every operation of the three vendors
-- with a public OpenAPI document goes through userapi to Prism, which
-- validates each request against that document (method, path, query
-- parameters and their styles, security, JSON body).
local core = require "userapi.core"
local userapi = require "userapi"
local json = require "userapi.json"
local sim = require "spec.helper"
local sh, free_port = sim.sh, sim.free_port

local ROOT = debug.getinfo(1, "S").source:match("^@(.*)/spec/") or "."
local PRISM = os.getenv("USERAPI_PRISM") or (ROOT .. "/build/prism/node_modules/.bin/prism")
local SPECS = ROOT .. "/spec/openapi/"

-- Starts Prism on one document; returns its base URL and pid.
local function prism(doc)
  assert(io.open(PRISM), "Prism is not installed at " .. PRISM .. " (make prism)")
  local port = free_port()
  local log = os.tmpname()
  -- children must not inherit the sanitizer preload of make memcheck
  local pid = sh(("env -u LD_PRELOAD %s mock -h 127.0.0.1 -p %d %s%s >%s 2>&1 & echo $!")
    :format(PRISM, port, SPECS, doc, log))
  local s = core.session{ timeout_ms = 1000 }
  for _ = 1, 300 do
    if s:request{ method = "GET", url = ("http://127.0.0.1:%d/__health"):format(port) } then break end
    core.sleep(100)
  end
  return ("http://127.0.0.1:%d"):format(port), pid, log
end

local servers = {}
local function start(vendor, doc)
  local url, pid, log = prism(doc)
  servers[#servers + 1] = { pid = pid, log = log }
  return url
end

-- What Prism says about a call: accepted, or its list of violations.
local function accepted(res, err)
  if res ~= nil then return true end
  if err.status and err.status < 400 then return true end
  if err.kind == "decode" then return true end -- a mock body we cannot read: the request was fine
  -- Prism may fail its own mock answer (the document's examples disagree with
  -- its schemas): only violations located in the request count against us
  local violations = err.headers and json.decode(err.headers["sl-violations"] or "")
  if type(violations) == "table" and #violations > 0 then
    local in_request = false
    for _, v in ipairs(violations) do in_request = in_request or v.location[1] == "request" end
    if not in_request then return true end
  end
  return false, tostring(err) .. " " .. tostring(err.headers and err.headers["sl-violations"] or err.body)
end

local function check(name, res, err)
  local ok, why = accepted(res, err)
  assert(ok, name .. " rejected by Prism: " .. tostring(why))
end

describe("conformance with the vendors' OpenAPI documents (Prism)", function()
  local ods_url, kandji_url, sigfox_url

  setup(function()
    ods_url = start("opendatasoft", "opendatasoft-automation-v1.openapi.json")
    kandji_url = start("kandji", "kandji.openapi.json")
    sigfox_url = start("sigfox", "sigfox-v2.swagger.json")
  end)

  teardown(function()
    for _, s in ipairs(servers) do os.execute("kill " .. s.pid .. " 2>/dev/null; rm -f " .. s.log) end
  end)

  it("accepts a request it should reject (the harness can fail)", function()
    local s = core.session()
    local status = s:request{ method = "GET", url = kandji_url .. "/api/v1/users" } -- no token
    assert.equal(401, status)
    status = s:request{ method = "GET", url = ods_url .. "/users/", query = { limit = "lots" },
                        headers = { Authorization = "Apikey k" } }
    assert.equal(422, status)
  end)

  it("accepts every Opendatasoft operation, with the key in the header and in the query", function()
    for _, apikey_in in ipairs({ "header", "query" }) do
      local ods = userapi.opendatasoft{ base_url = ods_url, apikey = "k-123", apikey_in = apikey_in, retries = false }
      check("get_users", ods:get_users{ search = "ada", sort = { "username", "last_name" },
        permissions = { "edit_domain", "create_page" }, all_permissions = { "edit_dataset" }, limit = 10, offset = 20 })
      check("get_user", ods:get_user("louise.data", { expand = "groups" }))
      check("update_user", ods:update_user("louise.data", { email = "l@example.org", first_name = "Louise" }))
      check("delete_user", ods:delete_user("someone"))
      check("invite_users", ods:invite_users{ { email = "a@example.org", groups = { { uid = "g1" } } },
                                              { email = "b@example.org" } })
      check("provision_users", ods:provision_users{ email = "c@example.org", username = "carol",
        identity_provider = { uid = "my-idp" }, identity_provider_attributes = {} })
      check("users_export", ods:users_export{ delimiter = ";" })
    end
  end)

  it("accepts every Kandji operation", function()
    local kandji = userapi.kandji{ base_url = kandji_url, token = "t-123", retries = false, rate_limit = false }
    check("list_users", kandji:list_users{ email = "ada", archived = false, cursor = "cD0yOTE0Mw==" })
    check("list_users", kandji:list_users{ id = "69c009ca-1f78-4bdf-bb93-08d6d39041db",
                                           integration_id = "f7461096-0d88-4b7d-a4c4-0a3b8c3d5e6f" })
    check("get_user", kandji:get_user("69c009ca-1f78-4bdf-bb93-08d6d39041db"))
    check("delete_user", kandji:delete_user("69c009ca-1f78-4bdf-bb93-08d6d39041db"))
  end)

  it("accepts every Sigfox operation", function()
    local sigfox = userapi.sigfox{ base_url = sigfox_url, login = "l", password = "p-123", retries = false }
    local id = "5138e7dfa2f1fffaf25fd409"
    check("list_api_users", sigfox:list_api_users{ fields = "profiles(name,roles(name,perms(name)))",
      profile_id = id, group_ids = { "babecafebabecafebabedcef", "5138e7dfa2f1fffaf25fd409" }, limit = 10, offset = 0 })
    check("create_api_user", sigfox:create_api_user{ groupId = "babecafebabecafebabedcef", name = "Test only",
      timezone = "Europe/Paris", profileIds = { id } })
    check("get_api_user", sigfox:get_api_user(id, { fields = "group(name,type,level,bssId,customerBssId)" }))
    check("update_api_user", sigfox:update_api_user(id, { name = "Renamed", timezone = "UTC", profileIds = { id } }))
    check("delete_api_user", sigfox:delete_api_user(id))
    check("add_profile_to_api_user", sigfox:add_profile_to_api_user(id, { profileIds = { id } }))
    check("delete_profile_of_api_user", sigfox:delete_profile_of_api_user(id, id))
    check("renew_credential", sigfox:renew_credential(id))
  end)
end)
