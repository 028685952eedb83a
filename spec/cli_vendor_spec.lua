-- The userapi command with a vendor registered from outside (USERAPI_VENDORS).
local h = require "spec.cli_helper"
local cjson, sim, proc, ADA, KANDJI_IDS, run = h.cjson, h.sim, h.proc, h.ADA, h.KANDJI_IDS, h.run
local jsonl, ids, userapi = h.jsonl, h.ids, h.userapi

setup(h.build_command)
before_each(function() sim.reset() end)

describe("a vendor registered from outside (USERAPI_VENDORS)", function()
  -- a fifth vendor, defined here alone: the simulator's Kandji API under
  -- other names, its own environment variables, alias and help example
  local VENDOR = [[
return {
  name = "acme",
  default_base = function(o) if o.host then return "https://" .. o.host end end,
  credentials = { "token" },
  options = { token = "secret", host = "host" },
  auth = function(o) return { scheme = "bearer", token = o.token } end,
  cli = { env = { { "token", "USERAPI_ACME_TOKEN" }, { "host", "USERAPI_ACME_HOST" } },
          alias = "ac", examples = { "people --all -o table" } },
  paging = { op = "people", style = "cursor", items = "results" },
  ops = {
    people = { method = "GET", path = "/api/v1/users", query = { email = { type = "string" },
               cursor = { type = "string" } } },
    person = { method = "GET", path = "/api/v1/users/{id}" },
    remove = { method = "DELETE", path = "/api/v1/users/{id}" },
  },
}
]]
  local dir
  setup(function()
    dir = proc.tmpdir() .. "/vendors"
    os.execute("mkdir -p " .. dir)
    local f = assert(io.open(dir .. "/acme_vendor.lua", "w"))
    f:write(VENDOR)
    f:close()
    package.path = dir .. "/?.lua;" .. package.path
  end)

  local function acme(argv, extra)
    local env = { USERAPI_VENDORS = "acme_vendor", USERAPI_ACME_TOKEN = "kandji-test-token" }
    for k, v in pairs(extra or {}) do env[k] = v end
    local a = {}
    for i, x in ipairs(argv) do a[i] = x end
    a[#a + 1], a[#a + 2] = "--base-url", sim.base.kandji
    return run(a, { env = env })
  end

  it("runs its operations, --all and --each, with its own environment names", function()
    local code, out = acme({ "acme", "people", "--all", "-o", "jsonl" })
    assert.equal(0, code)
    assert.same(KANDJI_IDS, ids(jsonl(out)))
    assert.equal("Bearer kandji-test-token", sim.last_request().headers.authorization)
    code, out = acme({ "ac", "person", ADA })
    assert.equal(0, code)
    assert.equal(ADA, cjson.decode(out).id)
    local file = proc.file("acme-ids.txt", ADA .. "\nnot-a-user\n")
    local err
    code, out, err = acme({ "acme", "remove", "--each", file, "-o", "jsonl" })
    assert.equal(1, code)
    assert.same({ true, false }, { jsonl(out)[1].ok, jsonl(out)[2].ok })
    assert.truthy(err:find("1 ok, 1 failed", 1, true), err)
  end)

  it("--dry-run, help and missing credentials speak of it", function()
    local code, out = acme({ "acme", "remove", ADA, "--dry-run" })
    assert.equal(0, code)
    assert.equal("DELETE " .. sim.base.kandji .. "/api/v1/users/" .. ADA .. "\nAccept: application/json\n"
      .. "Authorization: Bearer [REDACTED]\n", out)
    assert.equal(0, #sim.requests())
    code, out = acme({ "acme", "--help" })
    assert.equal(0, code)
    assert.truthy(out:find("userapi acme: 3 operations", 1, true), out)
    assert.truthy(out:find("USERAPI_ACME_TOKEN (token)", 1, true), out)
    code, out = acme({ "--help" })
    assert.equal(0, code)
    assert.truthy(out:find("acme (or ac)", 1, true))
    assert.truthy(out:find("userapi acme people --all -o table", 1, true))
    local _, err
    code, _, err = acme({ "acme", "people" }, { USERAPI_ACME_TOKEN = false })
    assert.equal(2, code)
    assert.truthy(err:find("missing credentials for acme (token): set USERAPI_ACME_TOKEN", 1, true), err)
    code, _, err = run({ "acme", "people" }, { env = { USERAPI_VENDORS = "no_such_vendor_module" } })
    assert.equal(2, code)
    assert.truthy(err:find("USERAPI_VENDORS: cannot load no_such_vendor_module", 1, true), err)
  end)

  it("reads its secret from stdin and names its host option, both from its options' kinds", function()
    local code, out = run({ "acme", "person", ADA, "--token-from-stdin", "--base-url", sim.base.kandji },
      { env = { USERAPI_VENDORS = "acme_vendor" }, stdin = "kandji-test-token\n" })
    assert.equal(0, code)
    assert.equal(ADA, cjson.decode(out).id)
    local _, _, err = run({ "acme", "people" }, { env = { USERAPI_VENDORS = "acme_vendor", USERAPI_ACME_TOKEN = "t" } })
    assert.truthy(err:find("missing credentials for acme (host or base_url): set USERAPI_ACME_TOKEN, USERAPI_ACME_HOST",
      1, true), err)
  end)

  it("works from the real command with the module on LUA_PATH", function()
    local r = userapi({ "acme", "people", "--all", "-o", "jsonl", "--base-url", sim.base.kandji },
      { USERAPI_VENDORS = "acme_vendor", USERAPI_ACME_TOKEN = "kandji-test-token", LUA_PATH = dir .. "/?.lua;;" })
    assert.equal(0, r.code, r.err)
    assert.same(KANDJI_IDS, ids(jsonl(r.out)))
  end)
end)

describe("Tessera, the fifth vendor of spec/fifth_vendor_spec.lua, through the command", function()
  -- its table has no cli field: environment names come from its options
  local fifth = loadfile(proc.root .. "/spec/fifth_vendor_spec.lua")("fifth")
  local srv, dir

  setup(function()
    srv = fifth.start()
    dir = proc.tmpdir() .. "/tessera"
    os.execute("mkdir -p " .. dir)
    fifth.write_module(dir)
    package.path = dir .. "/?.lua;" .. package.path
  end)
  teardown(function() srv.stop() end)
  before_each(function()
    local status = sim.session:request{ method = "POST", url = srv.url .. "/_reset?n=3" }
    assert.equal(200, status)
  end)

  local function requests()
    local _, body = sim.session:request{ method = "POST", url = srv.url .. "/_requests" }
    return cjson.decode(body)
  end

  local function tessera(argv, extra, stdin)
    local env = { USERAPI_VENDORS = "tessera_vendor", USERAPI_TESSERA_EMAIL = "ops@example.com",
                  USERAPI_TESSERA_API_TOKEN = "tessera-TOKEN-4716" }
    for k, v in pairs(extra or {}) do env[k] = v end
    local a = {}
    for i, x in ipairs(argv) do a[i] = x end
    a[#a + 1], a[#a + 2] = "--base-url", srv.base
    return run(a, { env = env, stdin = stdin })
  end

  it("walks its pages, runs --each and reports its errors", function()
    local code, out = tessera({ "tessera", "list-people", "--all", "--page-size", "2", "-o", "jsonl" })
    assert.equal(0, code)
    assert.same({ "p001", "p002", "p003" }, ids(jsonl(out)))
    assert.equal("per_page=2&start=0", requests()[1].query)
    local err
    code, out, err = tessera({ "tessera", "delete_person", "--each", "-", "-o", "csv" }, nil, "p001\np404\n")
    assert.equal(1, code)
    assert.equal(2, #h.csv.parse(out))
    assert.truthy(err:find("p404: tessera delete_person: 404 No person with id p404", 1, true), err)
    assert.truthy(err:find("1 ok, 1 failed", 1, true), err)
  end)

  it("help, --dry-run and missing credentials use its options' names", function()
    local code, out = tessera({ "tessera", "--help" })
    assert.equal(0, code)
    assert.truthy(out:find("USERAPI_TESSERA_API_TOKEN (api_token)", 1, true), out)
    code, out = tessera({ "tessera", "create_person", "--email", "new@example.com", "--dry-run" })
    assert.equal(0, code)
    assert.equal("POST " .. srv.base .. "/people\nAccept: application/json\nAuthorization: Basic [REDACTED]\n"
      .. "Content-Type: application/json\n\n{\"email\":\"new@example.com\"}\n", out)
    assert.same({}, requests())
    local _, err
    code, _, err = run({ "tessera", "list_people" }, { env = { USERAPI_VENDORS = "tessera_vendor" } })
    assert.equal(2, code)
    assert.truthy(err:find("missing credentials for tessera (host or base_url): set USERAPI_TESSERA_API_TOKEN, "
      .. "USERAPI_TESSERA_EMAIL, USERAPI_TESSERA_HOST", 1, true), err)
  end)
end)
