-- Desired state (userapi.people through client:ensure_user / ensure_absent)
-- and the directory, against the simulator: what went over the wire, what
-- the vendor holds afterwards, and what the result says.
local cjson = require "cjson"
local userapi = require "userapi"
local sim = require "spec.helper"

local WRITES = { POST = true, PUT = true, PATCH = true, DELETE = true }

local function writes()
  local out = {}
  for _, r in ipairs(sim.requests()) do
    if WRITES[r.method] then out[#out + 1] = r.method .. " " .. r.path end
  end
  return out
end

local function client(vendor)
  return sim.client(vendor, vendor == "kandji" and { rate_limit = false } or nil)
end

local function find(list, key, value)
  for _, u in ipairs(list) do if u[key] == value then return u end end
end

local SIGFOX_GROUP, SIGFOX_PROFILE = "5e1f2a3b4c5d6e7f8a9b0c1d", "5138e7dfa2f1fffaf25fd40a"
local ODS = "/ods/api/automation/v1.0"

before_each(function() sim.reset() end)

describe("ensure_user", function()
  describe("opendatasoft", function()
    local ods
    before_each(function() ods = client("opendatasoft") end)

    it("invites an absent person once; the pending invitation counts as present", function()
      local spec = { email = "Marie@example.com", first_name = "Marie", last_name = "Curie" }
      local res = assert(ods:ensure_user(spec))
      assert.is_true(res.changed)
      assert.equal("invited", res.action)
      assert.is_nil(res.before)
      assert.same({ before = nil, after = "Marie" }, res.diff.first_name)
      assert.equal("marie", res.after.id)
      assert.is_true(res.after.pending)
      assert.same({ "POST " .. ODS .. "/users/invite/" }, writes())
      local sent = cjson.decode(sim.requests()[2].body)
      assert.same({ { email = "Marie@example.com", first_name = "Marie", last_name = "Curie" } }, sent)
      -- again: found pending, same fields, nothing sent
      sim.control("DELETE", "requests")
      res = assert(ods:ensure_user(spec))
      assert.same({ false, "none" }, { res.changed, res.action })
      assert.is_true(res.before.pending)
      assert.same({}, writes())
      assert.equal(1, sim.state("opendatasoft").applied.invite_users)
    end)

    it("updates only the fields that differ, with the email PUT requires", function()
      local res = assert(ods:ensure_user{ username = "alan.turing", first_name = "Alan M.", last_name = "Turing" })
      assert.same({ true, "updated" }, { res.changed, res.action })
      assert.same({ first_name = { before = "Alan", after = "Alan M." } }, res.diff)
      assert.equal("Alan M.", res.after.first_name)
      assert.same({ "PUT " .. ODS .. "/users/alan.turing/" }, writes())
      assert.same({ email = "alan@example.com", first_name = "Alan M." }, cjson.decode(sim.last_request().body))
      -- permissions compare as a set
      res = assert(ods:ensure_user{ email = "ada@example.com", permissions = { "edit_dataset", "create_dataset" } })
      assert.equal("none", res.action)
    end)

    it("check = true plans the change and sends no write", function()
      local res = assert(ods:ensure_user({ username = "alan.turing", first_name = "Al" }, { check = true }))
      assert.same({ true, "updated" }, { res.changed, res.action })
      assert.equal("Al", res.after.first_name)
      res = assert(ods:ensure_user({ email = "new@example.com" }, { check = true }))
      assert.same({ true, "invited" }, { res.changed, res.action })
      assert.same({}, writes())
      assert.equal("Alan", find(sim.state("opendatasoft").users, "username", "alan.turing").first_name)
    end)

    it("returns the vendor's refusal of an invitation inside a 200", function()
      sim.fault{ match = { op = "invite_users" }, body = { ["0"] = { status_code = "error",
        error = { error_code = "validation_error", message = "Invalid input" } } } }
      local res, err = ods:ensure_user{ email = "x@example.com" }
      assert.is_nil(res)
      assert.equal("opendatasoft invite_users: error (Invalid input)", tostring(err))
    end)
  end)

  describe("arthur", function()
    local arthur
    before_each(function() arthur = client("arthur") end)

    it("invites once: a second run meets the pending invitation and reports no change", function()
      local res = assert(arthur:ensure_user{ email = "hedy@example.com", group_ids = { "g-1" } })
      assert.same({ true, "invited" }, { res.changed, res.action })
      res = assert(arthur:ensure_user{ email = "hedy@example.com" })
      assert.same({ false, "none" }, { res.changed, res.action })
      assert.is_true(res.after.pending)
      local st = sim.state("arthur")
      assert.equal(1, #st.invites)
      assert.equal(1, st.applied.post_organization_user_invite)
    end)

    it("creates with a password, then patches what differs", function()
      local res = assert(arthur:ensure_user{ email = "hedy@example.com", first_name = "Hedy", password = "pw-123456" })
      assert.same({ true, "created" }, { res.changed, res.action })
      assert.truthy(res.after.id)
      res = assert(arthur:ensure_user{ id = res.after.id, last_name = "Lamarr" })
      assert.same({ true, "updated" }, { res.changed, res.action })
      assert.same({ last_name = "Lamarr" }, cjson.decode(sim.last_request().body))
      assert.equal("PATCH", sim.last_request().method)
      assert.equal("Hedy Lamarr", res.after.name)
    end)
  end)

  describe("kandji", function()
    it("has no ensure_user (no create operation): a call says why and sends nothing", function()
      local kandji = client("kandji")
      assert.is_nil(rawget(getmetatable(kandji).__index, "ensure_user"))
      assert.has_error(function() kandji:ensure_user{ email = "ada@example.com" } end,
        "bad argument #1 to 'ensure_user' (kandji has no create operation, so ensure_user is not available)")
      assert.same({}, sim.requests())
      assert.equal("deleted", assert(kandji:ensure_absent({ email = "ada@example.com" }, { check = true })).action)
      assert.same({}, writes())
    end)
  end)

  describe("sigfox", function()
    it("creates the person's API user, then changes only the timezone", function()
      local sigfox = client("sigfox")
      local spec = { email = "marie@example.com", group_id = SIGFOX_GROUP, profile_ids = { SIGFOX_PROFILE } }
      local res = assert(sigfox:ensure_user(spec))
      assert.same({ true, "created" }, { res.changed, res.action })
      local made = find(sim.state("sigfox").users, "name", "marie@example.com automation")
      assert.equal(made.id, res.after.id)
      assert.equal("UTC", made.timezone)
      assert.equal("none", assert(sigfox:ensure_user(spec)).action)
      spec.timezone = "Europe/Paris"
      res = assert(sigfox:ensure_user(spec))
      assert.same({ timezone = { before = "UTC", after = "Europe/Paris" } }, res.diff)
      assert.same({ timezone = "Europe/Paris" }, cjson.decode(sim.last_request().body))
      assert.same({ "POST /sigfox/v2/api-users/", "PUT /sigfox/v2/api-users/" .. made.id }, writes())
    end)

    it("cannot create without a group and profiles, and says so", function()
      local _, err = client("sigfox"):ensure_user{ email = "marie@example.com" }
      assert.equal("unsupported", err.kind)
      assert.same({}, writes())
    end)
  end)

  it("check = true sends no write to any vendor, whatever it plans", function()
    local plans = {}
    for _, v in ipairs({ "opendatasoft", "arthur", "sigfox" }) do
      local spec = { email = "marie@example.com", first_name = v ~= "sigfox" and "Marie" or nil,
                     group_id = v == "sigfox" and SIGFOX_GROUP or nil,
                     profile_ids = v == "sigfox" and { SIGFOX_PROFILE } or nil }
      plans[#plans + 1] = assert(client(v):ensure_user(spec, { check = true })).action
      plans[#plans + 1] = assert(client(v):ensure_absent("grace@example.com", { check = true })).action
    end
    plans[#plans + 1] = assert(client("kandji"):ensure_absent("ada@example.com", { check = true })).action
    assert.same({ "invited", "deleted", "invited", "deleted", "created", "deleted", "deleted" }, plans)
    assert.truthy(client("arthur"):ensure_user({ email = "x@example.com" }, { check = true }).note)
    assert.same({}, writes())
    assert.equal(8, #sim.requests())  -- one lookup each, reads only
  end)

  it("refuses bad specs before sending anything", function()
    local ods = client("opendatasoft")
    sim.refuses("bad argument #1 to 'ensure_user' (email, id or username required)",
      function() ods:ensure_user{ first_name = "X" } end)
    sim.refuses("bad argument #1 to 'ensure_user' (permissions: table expected, got string)",
      function() ods:ensure_user{ email = "a@example.com", permissions = "x" } end)
    sim.refuses("bad argument #2 to 'ensure_user' (table expected)",
      function() ods:ensure_user({ email = "a@example.com" }, true) end)
    sim.refuses("bad argument #2 to 'ensure_user' (unknown option 'dry_run')",
      function() ods:ensure_user({ email = "a@example.com" }, { dry_run = true }) end)
    sim.refuses("bad argument #2 to 'ensure_user' (unknown option 'all')",
      function() ods:ensure_user({ email = "a@example.com" }, { all = true }) end)
    sim.refuses("bad argument #2 to 'ensure_absent' (unknown option 'chek' (did you mean 'check'?))",
      function() ods:ensure_absent("a@example.com", { chek = true }) end)
    sim.refuses("bad argument #2 to 'ensure_absent' (check: boolean expected, got string)",
      function() ods:ensure_absent("a@example.com", { check = "true" }) end)
  end)
end)

describe("ensure_absent", function()
  it("deletes every account the selector matches; already gone is success with no write", function()
    for _, v in ipairs({ "opendatasoft", "arthur", "kandji", "sigfox" }) do
      local c = client(v)
      local res = assert(c:ensure_absent("ada@example.com"))
      assert.same({ true, "deleted" }, { res.changed, res.action }, v)
      assert.equal("ada@example.com", res.before.email)
      sim.control("DELETE", "requests")
      res = assert(c:ensure_absent({ email = "ada@example.com" }))
      assert.same({ false, "none" }, { res.changed, res.action }, v)
      assert.same({}, writes(), v)
    end
  end)

  it("check = true lists what would go and sends no DELETE", function()
    local kandji = client("kandji")
    local res = assert(kandji:ensure_absent({ id = "69c009ca-1f78-4bdf-bb93-08d6d39041db" }, { check = true }))
    assert.same({ true, "deleted" }, { res.changed, res.action })
    assert.same({}, writes())
    assert.equal(5, sim.state("kandji").count)
  end)

  it("returns the vendor's refusal (a Kandji user holding devices)", function()
    local res, err = client("kandji"):ensure_absent("alan@example.com")
    assert.is_nil(res)
    assert.equal("kandji delete_user: 400 User still assigned to one or more devices.", tostring(err))
  end)
end)

describe("directory", function()
  local dir
  before_each(function()
    dir = userapi.directory{ ods = client("opendatasoft"), arthur = client("arthur"), kandji = client("kandji"),
                             sigfox = client("sigfox") }
  end)

  it("finds a person's accounts in every vendor as normalized records", function()
    local found, failed = dir:find("Ada@Example.com")
    assert.is_nil(failed)
    assert.equal(4, #found)
    assert.same({ vendor = "kandji", id = "69c009ca-1f78-4bdf-bb93-08d6d39041db", email = "ada@example.com",
      name = "Ada Lovelace", kind = "user", active = true, created_at = found[3].created_at, devices = 0 }, found[3])
    assert.same({ "opendatasoft", "ada.lovelace", "local", true, "2024-02-03T10:11:12.000000Z" },
      { found[1].vendor, found[1].id, found[1].kind, found[1].active, found[1].last_seen_at })
    assert.same({ "arthur", "user", "Ada Lovelace" }, { found[2].vendor, found[2].kind, found[2].name })
    assert.same({ "sigfox", "api_user", "2015-06-29T12:10:13Z" },
      { found[4].vendor, found[4].kind, found[4].created_at })
  end)

  it("offboard with check plans per vendor and sends no write; without, deletes; a refusal is reported", function()
    local res, failed = dir:offboard("alan@example.com", { check = true })
    assert.same({ "deleted", "deleted", "deleted" },
      { res.opendatasoft.action, res.arthur.action, res.sigfox.action })
    assert.equal("refused", failed.kandji.kind)  -- Alan holds devices: the plan says the delete will fail
    assert.same({}, writes())
    res, failed = dir:offboard("alan@example.com")
    assert.equal("deleted", res.opendatasoft.action)
    assert.is_nil(res.kandji)
    assert.equal(400, failed.kandji.status)
  end)

  it("is made without the output formatting (the library does not format)", function()
    local before = package.loaded["userapi.format"]
    package.loaded["userapi.format"], package.loaded["userapi.directory"] = nil, nil
    require "userapi.directory"
    assert.is_nil(package.loaded["userapi.format"])
    package.loaded["userapi.format"] = before
  end)

  it("onboards everywhere the API allows; a second run changes nothing", function()
    local person = { email = "marie@example.com", first_name = "Marie", last_name = "Curie",
                     sigfox = { group_id = SIGFOX_GROUP, profile_ids = { SIGFOX_PROFILE } } }
    local res, failed = dir:onboard(person)
    assert.same({ "invited", "invited", "created" }, { res.opendatasoft.action, res.arthur.action, res.sigfox.action })
    assert.equal("unsupported", failed.kandji.kind)
    res = dir:onboard(person)
    assert.same({ false, false, false }, { res.opendatasoft.changed, res.arthur.changed, res.sigfox.changed })
    assert.equal(1, sim.state("opendatasoft").applied.invite_users)
    assert.equal(1, sim.state("arthur").applied.post_organization_user_invite)
    assert.equal(1, sim.state("sigfox").applied.create_api_user)
  end)
end)

describe("a vendor's people table is checked at register", function()
  -- Kandji's table with one change
  local function kandji_with(change)
    local v = {}
    for k, x in pairs(require "userapi.vendors.kandji") do v[k] = x end
    v.name = "kandji_copy"
    v.people = {}
    for k, x in pairs(require("userapi.vendors.kandji").people) do v.people[k] = x end
    change(v.people)
    return v
  end

  it("a misspelt key, an operation the vendor lacks or a bad field kind is refused with its place", function()
    local cases = {
      { function(p) p.lookup = { emial = p.lookup.email } end,
        "userapi: vendor 'kandji_copy': people.lookup: unknown field 'emial' (did you mean 'email'?)" },
      { function(p) p.delete = { op = "delete_usr" } end,
        "userapi: vendor 'kandji_copy': people.delete.op: no operation 'delete_usr' (did you mean 'delete_user'?)" },
      { function(p) p.blocks_delet = p.blocks_delete end,
        "userapi: vendor 'kandji_copy': people: unknown field 'blocks_delet' (did you mean 'blocks_delete'?)" },
      { function(p) p.fields = { name = "text" } end,
        "userapi: vendor 'kandji_copy': people.fields.name: string, email or set expected" },
    }
    for _, c in ipairs(cases) do
      assert.has_error(function() userapi.register(kandji_with(c[1])) end, c[2])
    end
    assert.same({}, sim.requests())
  end)
end)
