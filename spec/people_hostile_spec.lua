-- People (ensure_user, ensure_absent, the directory) facing records a user
-- meets: hostile lookups served by the simulator's faults (no id, an id that
-- is a path, the same account on two pages, two case variants of one email),
-- an email stored in mixed case, a create answered with an id only, offboardings
-- the vendor leaves incomplete. Each case asserts what reached the simulator
-- and what came back.
local cjson = require "cjson"
local userapi = require "userapi"
local sim = require "spec.helper"

local ODS = "/ods/api/automation/v1.0"
local SIGFOX_GROUP, SIGFOX_PROFILE = "5e1f2a3b4c5d6e7f8a9b0c1d", "5138e7dfa2f1fffaf25fd40a"

local function client(vendor)
  return sim.client(vendor, vendor == "kandji" and { rate_limit = false } or nil)
end

local function sent(method)
  local out = {}
  for _, r in ipairs(sim.requests()) do
    if r.method == method then out[#out + 1] = r.path end
  end
  return out
end

local function writes()
  local n = 0
  for _, m in ipairs({ "POST", "PUT", "PATCH", "DELETE" }) do n = n + #sent(m) end
  return n
end

-- the lookup of each vendor answers this list of its own records (a hostile server)
local LOOKUP = { opendatasoft = "get_users", arthur = "get_organization_users", kandji = "list_users",
                 sigfox = "list_api_users" }
local function page(vendor, records, next_url)
  if vendor == "opendatasoft" then
    return { results = records, next = next_url or cjson.null, previous = cjson.null, total_count = #records }
  elseif vendor == "arthur" then
    return { records = records, pagination = { total_records = #records, page_size = 1000, total_pages = 1, page = 1 } }
  elseif vendor == "kandji" then
    return { results = records, next = next_url or cjson.null, previous = cjson.null }
  end
  return { data = records, paging = {} }
end

local function serve(vendor, records, extra)
  local f = { match = { op = LOOKUP[vendor] }, status = 200, times = 0,
              headers = { ["Content-Type"] = "application/json" }, body = cjson.encode(page(vendor, records)) }
  for k, v in pairs(extra or {}) do f[k] = v end
  sim.fault(f)
end

-- a record of the person ada@example.com in each vendor's wire format, with this id
local function ada(vendor, id)
  if vendor == "opendatasoft" then return { username = id, email = "ada@example.com", is_active = true } end
  if vendor == "sigfox" then return { id = id, name = "ada@example.com automation", profiles = {} } end
  return { id = id, email = "ada@example.com", user_type = "user" }
end

local VENDORS = { "opendatasoft", "arthur", "kandji", "sigfox" }

before_each(function() sim.reset() end)

describe("a record the client cannot use (item 7)", function()
  for _, id in ipairs({ cjson.null, "../../admin", "a/b", "" }) do
    it("id " .. cjson.encode(id) .. ": kind protocol in every vendor, in check mode too, and no DELETE", function()
      for _, v in ipairs(VENDORS) do
        sim.control("DELETE", "faults")
        serve(v, { ada(v, id) })
        local c = client(v)
        for _, opts in ipairs({ { check = true }, {} }) do
          local ok, res, err = pcall(c.ensure_absent, c, "ada@example.com", opts)
          assert.is_true(ok, v .. ": " .. tostring(res))
          assert.is_nil(res, v)
          assert.equal("protocol", err.kind, v)
          assert.equal(v, err.vendor)
          assert.truthy(tostring(err):find(id == cjson.null and "no id" or "an id the client cannot use", 1, true), v)
          if not c.vendor.unavailable.ensure_user then   -- Kandji cannot create: no ensure_user
            ok, res, err = pcall(c.ensure_user, c, { email = "ada@example.com" }, opts)
            assert.is_true(ok, v .. ": " .. tostring(res))
            assert.equal("protocol", err.kind, v)
          end
        end
      end
      assert.same({}, sent("DELETE"))
      assert.equal(0, writes())
    end)
  end

  it("directory:offboard carries on with the other vendors and reports that one under failed", function()
    serve("kandji", { ada("kandji", "../../admin") })
    local dir = userapi.directory{ ods = client("opendatasoft"), arthur = client("arthur"),
                                   kandji = client("kandji"), sigfox = client("sigfox") }
    local ok, res, failed = pcall(dir.offboard, dir, "ada@example.com")
    assert.is_true(ok, tostring(res))
    assert.same({ "deleted", "deleted", "deleted" },
      { res.opendatasoft.action, res.arthur.action, res.sigfox.action })
    assert.is_nil(res.kandji)
    assert.equal("protocol", failed.kandji.kind)
    assert.same({ ODS .. "/users/ada.lovelace/", "/arthur/api/v1/users/00000000-0000-4000-8000-000000000002",
                  "/sigfox/v2/api-users/5f3a9c1e2b4d6f8a0c1e2b4d" }, sent("DELETE"))
  end)
end)

describe("an update sends back what the vendor stored (item 8)", function()
  it("Opendatasoft: changing first_name keeps the stored email's case, and the diff is first_name only", function()
    local ods = client("opendatasoft")
    assert.equal("invited", assert(ods:ensure_user{ email = "Marie@Example.com", first_name = "Marie" }).action)
    sim.control("DELETE", "requests")
    local res = assert(ods:ensure_user{ email = "marie@example.com", first_name = "Marianne" })
    assert.same({ true, "updated" }, { res.changed, res.action })
    assert.same({ first_name = { before = "Marie", after = "Marianne" } }, res.diff)
    assert.same({ ODS .. "/users/marie/" }, sent("PUT"))
    assert.same({ email = "Marie@Example.com", first_name = "Marianne" }, cjson.decode(sim.last_request().body))
    local stored
    for _, u in ipairs(sim.state("opendatasoft").users) do if u.username == "marie" then stored = u end end
    assert.same({ "Marie@Example.com", "Marianne" }, { stored.email, stored.first_name })
  end)
end)

describe("ambiguity is an error (item 9)", function()
  it("the same account on two pages is deleted once", function()
    local kandji = client("kandji")
    local alan = { id = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4e", email = "dup@example.com", device_count = 0 }
    local second = sim.url .. "/kandji/api/v1/users?email=dup%40example.com&cursor=Mg"
    -- page 2 first: the first fault that matches answers
    sim.fault{ match = { op = "list_users", query = "cursor=" }, status = 200,
               headers = { ["Content-Type"] = "application/json" },
               body = cjson.encode(page("kandji", { alan })) }
    sim.fault{ match = { op = "list_users" }, status = 200, headers = { ["Content-Type"] = "application/json" },
               body = cjson.encode(page("kandji", { alan }, second)) }
    local res = assert(kandji:ensure_absent("dup@example.com"))
    assert.same({ true, "deleted", 1 }, { res.changed, res.action, #res.removed })
    assert.same({ "/kandji/api/v1/users/" .. alan.id }, sent("DELETE"))
    assert.equal(2, #sent("GET"))
  end)

  it("Ada@ and ada@: an error listing both and no DELETE, unless all = true", function()
    local records = { { username = "ada.lovelace", email = "Ada@example.com" },
                      { username = "ada.second", email = "ada@example.com" } }
    serve("opendatasoft", records)
    local ods = client("opendatasoft")
    for _, opts in ipairs({ {}, { check = true } }) do
      local res, err = ods:ensure_absent("ada@example.com", opts)
      assert.is_nil(res)
      assert.equal("ambiguous", err.kind)
      assert.equal("opendatasoft ensure_absent: ambiguous (2 accounts match: ada.lovelace <Ada@example.com>, "
        .. "ada.second <ada@example.com>; select one by id, or all = true to delete each)", tostring(err))
      assert.same({ "ada.lovelace", "ada.second" }, { err.matches[1].id, err.matches[2].id })
    end
    local _, err = ods:ensure_user{ email = "ada@example.com", first_name = "Ada" }
    assert.equal("ambiguous", err.kind)
    assert.same({}, sent("DELETE"))
    assert.equal(0, writes())
    local res = assert(ods:ensure_absent("ada@example.com", { all = true }))
    assert.equal(2, #res.removed)
    assert.same({ ODS .. "/users/ada.lovelace/", ODS .. "/users/ada.second/" }, sent("DELETE"))
    sim.refuses("bad argument #2 to 'ensure_absent' (all: boolean expected, got string)",
      function() sim.control("DELETE", "requests") ods:ensure_absent("ada@example.com", { all = "yes" }) end)
  end)
end)

describe("after a create, after and diff are the vendor's account (item 10)", function()
  it("Sigfox answers the id only: the account is read back, with its name, group and profiles", function()
    local sigfox = client("sigfox")
    local res = assert(sigfox:ensure_user{ email = "marie@example.com", group_id = SIGFOX_GROUP,
                                           profile_ids = { SIGFOX_PROFILE } })
    assert.same({ true, "created" }, { res.changed, res.action })
    local id = res.after.id
    assert.same({ "/sigfox/v2/api-users/" }, sent("POST"))
    assert.equal("/sigfox/v2/api-users/" .. id, sim.last_request().path)
    assert.same({ "marie@example.com automation", "UTC", SIGFOX_GROUP, { SIGFOX_PROFILE }, "marie@example.com" },
      { res.after.name, res.after.timezone, res.after.group_id, res.after.profile_ids, res.after.email })
    assert.same({ name = { after = "marie@example.com automation" }, timezone = { after = "UTC" },
                  profile_ids = { after = { SIGFOX_PROFILE } } }, res.diff)
  end)

  it("Opendatasoft: the invited account as the vendor answered it", function()
    local res = assert(client("opendatasoft"):ensure_user{ email = "grace.h@example.com", last_name = "Hopper" })
    assert.same({ "grace.h", true, "Hopper" }, { res.after.id, res.after.pending, res.after.last_name })
    -- what the vendor filled in shows too (first_name ""); an empty set is no change from none
    assert.same({ email = { after = "grace.h@example.com" }, last_name = { after = "Hopper" },
                  first_name = { after = "" } }, res.diff)
  end)
end)

describe("incomplete offboarding is said (item 11)", function()
  it("Kandji: check mode predicts the refusal of a user holding devices; the run fails with the warning", function()
    local kandji = client("kandji")
    local res, err = kandji:ensure_absent("alan@example.com", { check = true })
    assert.is_nil(res)
    assert.same({ "refused", "delete_user" }, { err.kind, err.operation })
    local warning = "alan@example.com still holds 2 device(s): Kandji refuses to delete a user with devices "
      .. "assigned; unassign them, then offboard again"
    assert.same({ warning }, err.warnings)
    assert.equal(0, writes())
    res, err = kandji:ensure_absent("alan@example.com")
    assert.is_nil(res)
    assert.equal(400, err.status)
    assert.same({ warning }, err.warnings)
    assert.equal(1, #sent("DELETE"))
  end)

  it("Arthur: a pending invitation cannot be seen or withdrawn; every offboarding says so", function()
    local arthur = client("arthur")
    assert.equal("invited", assert(arthur:ensure_user{ email = "hedy@example.com" }).action)
    for _, opts in ipairs({ {}, { check = true } }) do
      local res = assert(arthur:ensure_absent("Hedy@example.com", opts))
      assert.same({ false, "none" }, { res.changed, res.action })
      assert.same({ "Arthur lists no invitations: one sent to hedy@example.com and still pending cannot be seen "
        .. "or withdrawn through the API (it can still be accepted)" }, res.warnings)
    end
    assert.equal(1, #sim.state("arthur").invites)
    assert.equal(0, #sent("DELETE"))
  end)

  it("directory:offboard gathers the warnings; a second check after the run changes nothing", function()
    local dir = userapi.directory{ ods = client("opendatasoft"), arthur = client("arthur"),
                                   kandji = client("kandji"), sigfox = client("sigfox") }
    local res, failed, warnings = dir:offboard("grace@example.com")
    assert.equal(400, failed.kandji.status)
    assert.same({ "deleted", "deleted" }, { res.opendatasoft.action, res.arthur.action })
    assert.equal(2, #warnings)
    assert.truthy(warnings[1]:find("^arthur: Arthur lists no invitations"))
    assert.truthy(warnings[2]:find("^kandji: grace@example.com still holds 1 device"))
    sim.control("DELETE", "requests")
    res, failed, warnings = dir:offboard("grace@example.com", { check = true })
    assert.same({ false, false, false }, { res.opendatasoft.changed, res.arthur.changed, res.sigfox.changed })
    assert.equal("refused", failed.kandji.kind)
    assert.equal(2, #warnings)
    assert.equal(0, writes())
  end)
end)
