-- Every example of examples/ run as a subprocess against the simulator
-- (USERAPI_SIM_URL), under the suite's Lua: exit code, output, and what
-- the simulator holds afterwards.
local cjson = require "cjson"
local csv = require "userapi.csv"
local sim = require "spec.helper"
local proc = require "spec.proc"

local function example(name, ...)
  local argv = { proc.lua, "examples/" .. name .. ".lua", ... }
  return proc.run(argv, proc.lua_env{ USERAPI_SIM_URL = sim.url })
end

local function users(vendor) return sim.state(vendor).users end

local function find(list, key, value)
  for _, u in ipairs(list) do if u[key] == value then return u end end
end

local function methods(reqs)
  local seen = {}
  for _, r in ipairs(reqs) do seen[r.method] = (seen[r.method] or 0) + 1 end
  return seen
end

local lines = proc.lines

before_each(function() sim.reset() end)

describe("examples/offboard.lua", function()
  it("--dry-run lists every account and the deletes it would send, and sends none", function()
    local r = example("offboard", "ada@example.com", "--dry-run")
    assert.equal(0, r.code, r.err)
    for _, s in ipairs({
      "opendatasoft  ada.lovelace  Ada Lovelace",
      "arthur        00000000-0000-4000-8000-000000000002  Ada Lovelace",
      "kandji        69c009ca-1f78-4bdf-bb93-08d6d39041db  Ada Lovelace",
      "sigfox        5f3a9c1e2b4d6f8a0c1e2b4d  ada@example.com automation",
      "Would delete:",
      "opendatasoft  DELETE " .. sim.base.opendatasoft .. "/users/ada.lovelace/",
      "sigfox        DELETE " .. sim.base.sigfox .. "/api-users/5f3a9c1e2b4d6f8a0c1e2b4d",
      "Dry run: 4 account(s) would be deleted, nothing was sent.",
    }) do
      assert.truthy(r.out:find(s, 1, true), s)
    end
    local m = methods(sim.requests())
    assert.is_nil(m.DELETE)
    assert.same({ "GET" }, (function() local k = {} for x in pairs(m) do k[#k + 1] = x end return k end)())
    assert.equal(5, sim.state("opendatasoft").count)
  end)

  it("deletes the person everywhere and checks again", function()
    local r = example("offboard", "ada@example.com")
    assert.equal(0, r.code, r.out .. r.err)
    assert.truthy(r.out:find("kandji        deleted 69c009ca-1f78-4bdf-bb93-08d6d39041db", 1, true))
    local _, gone = r.out:gsub(" gone\n", "")
    assert.equal(4, gone)
    assert.is_nil(find(users("opendatasoft"), "username", "ada.lovelace"))
    assert.is_nil(find(users("arthur"), "email", "ada@example.com"))
    assert.is_nil(find(users("kandji"), "email", "ada@example.com"))
    assert.is_nil(find(users("sigfox"), "id", "5f3a9c1e2b4d6f8a0c1e2b4d"))
    assert.equal(4, methods(sim.requests()).DELETE)
    -- others untouched
    assert.equal(4, sim.state("kandji").count)
  end)

  it("exits 1 with the vendor's reason when an account cannot go (Kandji devices)", function()
    local r = example("offboard", "alan@example.com")
    assert.equal(1, r.code)
    assert.truthy(r.out:find("kandji        NOT deleted 7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d: "
      .. "kandji delete_user: 400 User still assigned to one or more devices.", 1, true))
    assert.truthy(r.out:find("kandji        1 account(s) left", 1, true))
    assert.is_nil(find(users("opendatasoft"), "username", "alan.turing"))
    assert.truthy(find(users("kandji"), "email", "alan@example.com"))
  end)

  it("finds nobody for an unknown address, and refuses bad usage", function()
    local r = example("offboard", "nobody@example.com")
    assert.equal(0, r.code)
    assert.truthy(r.out:find("opendatasoft  none", 1, true))
    assert.equal(2, example("offboard").code)
    assert.equal(2, example("offboard", "not-an-email").code)
    assert.equal(2, example("offboard", "a@example.com", "--force").code)
  end)
end)

describe("examples/onboard.lua", function()
  it("--dry-run shows the requests and creates nothing", function()
    local r = example("onboard", "marie@example.com", "Marie", "Curie", "--dry-run")
    assert.equal(0, r.code, r.out .. r.err)
    assert.truthy(r.out:find("opendatasoft  would be invited (nothing sent)", 1, true))
    assert.truthy(r.out:find("sigfox        would be created (nothing sent)", 1, true))
    assert.is_nil(methods(sim.requests()).POST)
  end)

  it("invites or creates the person in each vendor, then finds them there", function()
    local r = example("onboard", "Marie@example.com", "Marie", "Curie")
    assert.equal(0, r.code, r.out .. r.err)
    local ods = find(users("opendatasoft"), "email", "marie@example.com")
    assert.same({ "marie", "Marie", "Curie" }, { ods.username, ods.first_name, ods.last_name })
    assert.truthy(r.out:find("opendatasoft  invited as marie", 1, true))
    local invites = sim.state("arthur").invites
    assert.equal(1, #invites)
    assert.equal("marie@example.com", invites[1].email)
    assert.truthy(r.out:find("kandji        pending: Kandji users come from the directory integration", 1, true))
    local api = find(users("sigfox"), "name", "marie@example.com automation")
    assert.equal("UTC", api.timezone)
    assert.equal("5138e7dfa2f1fffaf25fd40a", api.profiles[1].id)
    -- a second run finds what the first made
    r = example("onboard", "marie@example.com", "Marie", "Curie")
    assert.equal(0, r.code)
    assert.truthy(r.out:find("opendatasoft  already there: marie", 1, true))
    assert.truthy(r.out:find("sigfox        already there: " .. api.id, 1, true))
    -- the pending Arthur invitation counts as present: no second invitation
    assert.truthy(r.out:find("arthur        already invited (pending)", 1, true))
    assert.equal(1, #sim.state("arthur").invites)
    assert.equal(1, sim.state("arthur").applied.post_organization_user_invite)
    assert.equal(1, sim.state("opendatasoft").applied.invite_users)
    assert.equal(1, sim.state("sigfox").applied.create_api_user)
  end)

  it("exits 1 when a vendor refuses", function()
    local r = example("onboard", "marie@example.com", "Marie", "Curie", "--sigfox-profile", "nope")
    assert.equal(1, r.code)
    assert.truthy(r.out:find("sigfox        sigfox create_api_user: 400", 1, true))
    assert.truthy(r.out:find("1 vendor(s) need attention.", 1, true))
    assert.equal(2, example("onboard", "marie@example.com").code)
  end)
end)

describe("examples/audit_export.lua", function()
  it("writes every user of every vendor to one CSV", function()
    sim.config{ kandji_page_size = 2 }
    local r = example("audit_export")
    assert.equal(0, r.code, r.err)
    assert.equal("vendor,id,email,name,kind,active,created_at,last_seen_at,devices", lines(r.out)[1])
    local rows = csv.parse(r.out)
    local per = {}
    for _, row in ipairs(rows) do per[row.vendor] = (per[row.vendor] or 0) + 1 end
    -- every Arthur user type, not only the list's default
    assert.same({ opendatasoft = 5, arthur = 6, kandji = 5, sigfox = 3 }, per)
    assert.same({ vendor = "kandji", id = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", email = "alan@example.com",
      name = "Alan Turing", kind = "user", active = "true", created_at = "2024-09-06T21:00:04.304248Z",
      last_seen_at = "", devices = "2" }, rows[13])
    assert.same({ vendor = "sigfox", id = "5f3a9c1e2b4d6f8a0c1e2b4d", email = "ada@example.com",
      name = "ada@example.com automation", kind = "api_user", active = "", created_at = "2015-06-29T12:10:13Z",
      last_seen_at = "", devices = "" }, rows[17])
    assert.equal("Edsger W. Dijkstra, \"EWD\"", rows[5].name)
    assert.equal("data_plane", rows[10].kind)
    assert.truthy(r.err:find("19 users exported", 1, true))
  end)

  it("--output writes a file; a failing vendor exits 1, the others are still exported", function()
    sim.fault{ match = { vendor = "arthur" }, status = 500, times = 0 }
    local out = proc.tmpdir() .. "/audit.csv"
    local r = example("audit_export", "--output", out)
    assert.equal(1, r.code)
    assert.equal("", r.out)
    assert.truthy(r.err:find("arthur        FAILED after 0 users: arthur get_organization_users: 500", 1, true))
    assert.equal(13, #csv.parse(proc.slurp(out)))
  end)
end)

describe("examples/rotate_credentials.lua", function()
  it("renews the Sigfox token and the Arthur secret, verified, printed for the secret store", function()
    local before = find(users("sigfox"), "id", "5f3a9c1e2b4d6f8a0c1e2b4d").accessToken
    local r = example("rotate_credentials", "--sigfox", "ada@example.com automation", "--arthur", "userapi automation")
    assert.equal(0, r.code, r.err)
    local out = lines(r.out)
    assert.equal(2, #out)
    local sig, art = cjson.decode(out[1]), cjson.decode(out[2])
    local after = find(users("sigfox"), "id", "5f3a9c1e2b4d6f8a0c1e2b4d").accessToken
    assert.not_equal(before, after)
    assert.same({ vendor = "sigfox", id = "5f3a9c1e2b4d6f8a0c1e2b4d", login = "5f3a9c1e2b4d6f8a0c1e2b4d",
                  password = after }, sig)
    assert.equal("arthur", art.vendor)
    assert.equal("00000000-0000-4000-8000-000000000004", art.id)
    assert.equal("arthur-client", art.client_id)
    assert.equal(48, #art.client_secret)
    assert.equal(1, sim.state("arthur").applied.post_user_creds)
    assert.equal(1, sim.state("sigfox").applied.renew_credential)
    assert.truthy(r.err:find("arthur  00000000-0000-4000-8000-000000000004: rotated and verified", 1, true))
    -- the old secret is dead, the new one works
    local function arthur(secret)
      return require("userapi").arthur{ base_url = sim.base.arthur, retries = false,
                                        client_id = "arthur-client", client_secret = secret }
    end
    assert.is_nil((arthur("arthur-secret"):get_users_me()))
    local new = arthur(art.client_secret)
    assert.equal(art.id, new:get_users_me().id)
  end)

  it("--dry-run rotates nothing; an unknown account or a person exits 1; no flag exits 2", function()
    local r = example("rotate_credentials", "--sigfox", "5f3a9c1e2b4d6f8a0c1e2b4e", "--dry-run")
    assert.equal(0, r.code, r.err)
    assert.equal("", r.out)
    assert.truthy(r.err:find("would send PUT " .. sim.base.sigfox
      .. "/api-users/5f3a9c1e2b4d6f8a0c1e2b4e/renew-credential", 1, true))
    assert.is_nil(sim.state("sigfox").applied.renew_credential)
    -- a person is not a service account
    r = example("rotate_credentials", "--arthur", "00000000-0000-4000-8000-000000000002")
    assert.equal(1, r.code)
    assert.truthy(r.err:find("00000000-0000-4000-8000-000000000002 is a user, not a service_account", 1, true), r.err)
    assert.is_nil(sim.state("arthur").applied.post_user_creds)
    assert.equal(2, example("rotate_credentials").code)
  end)
end)

describe("examples/kandji_devices.lua", function()
  it("lists the users still holding devices, most first", function()
    sim.config{ kandji_page_size = 1 }
    local r = example("kandji_devices")
    assert.equal(0, r.code, r.err)
    local l = lines(r.out)
    assert.equal(4, #l)
    assert.truthy(l[1]:find("^email +name +devices +archived +department +id$"))
    assert.truthy(l[3]:find("^alan@example%.com +Alan Turing +2 +false +Research +7a1b2c3d"))
    assert.truthy(l[4]:find("^grace@example%.com +Grace Hopper +1 +false"))
    assert.equal("2 user(s) hold 3 device(s)\n", r.err)
    assert.equal(5, #sim.requests())                      -- every page walked
  end)

  it("--format csv and jsonl; --check exits 1 while anyone holds a device", function()
    local r = example("kandji_devices", "--format", "csv", "--check")
    assert.equal(1, r.code)
    local rows = csv.parse(r.out)
    assert.same({ "alan@example.com", "grace@example.com" }, { rows[1].email, rows[2].email })
    r = example("kandji_devices", "--format", "jsonl")
    assert.equal(0, r.code)
    assert.equal(2, cjson.decode(lines(r.out)[1]).devices)
    assert.equal(2, example("kandji_devices", "--format", "xml").code)
  end)
end)
