-- Kandji API v1, UsersApi: every operation through real libcurl to the
-- simulator, checked on the wire, in the result and in the simulator's state.
local userapi = require "userapi"
local cjson = require "cjson"
local sim = require "spec.helper"

local PATH = "/kandji/api/v1/users"
local AUTH = "Bearer kandji-test-token"

local ADA = "69c009ca-1f78-4bdf-bb93-08d6d39041db"        -- no devices
local ALAN = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"       -- 2 devices
local GRACE = "8b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e"      -- 1 device, nulls, second integration
local CHARLES = "9c3d4e5f-6a7b-4c8d-8e9f-1a2b3c4d5e6f"    -- archived
local KATHERINE = "ad4e5f6a-7b8c-4d9e-9f0a-2b3c4d5e6f70"  -- no devices
local UNKNOWN = "00000000-0000-4000-8000-000000000000"
local GWS = "0c1d2e3f-4a5b-4c6d-8e7f-90a1b2c3d4e5"        -- the google_workspace integration

-- The one request the simulator recorded since the last reset: method, path,
-- raw query, Accept and bearer token; Kandji's users calls never carry a body.
local function sent(method, path, query)
  local all = sim.requests()
  assert.equal(1, #all)
  local r = all[1]
  assert.equal(method, r.method)
  assert.equal(path, r.path)
  assert.equal(query or "", r.query)
  assert.equal("application/json", r.headers["accept"])
  assert.equal(AUTH, r.headers["authorization"])
  assert.is_nil(r.headers["content-type"])
  assert.equal("", r.body)
  return r
end

-- A failed call: its error object read as the README promises.
local function failed(...) return sim.failed("kandji", ...) end
local refuses = sim.refuses

local function state() return sim.state("kandji") end

local function stored(id)
  for _, u in ipairs(state().users) do
    if u.id == id then return u end
  end
end

local function emails(list) return sim.pluck(list, "email") end

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local BAD_IDS = { "a/b", "a?b", "a#b", "a%2Fb", "a\rb", "a\nb", "a\0b", ADA .. "/../" .. ALAN }

describe("userapi.kandji", function()
  local kandji

  before_each(function()
    sim.reset()
    kandji = sim.client("kandji")
  end)

  describe("list_users", function()
    it("sends the filters as a sorted query, archived as text, and returns the page", function()
      local page = assert(kandji:list_users{ email = "example.com", archived = false, integration_id = GWS })
      sent("GET", PATH, "archived=false&email=example.com&integration_id=" .. GWS)
      assert.same({ "grace@example.com", "katherine@example.com" }, emails(page.results))
      assert.equal(userapi.null, page.next)
      assert.equal(userapi.null, page.previous)
      local grace = page.results[1]
      assert.equal(GRACE, grace.id)
      assert.equal("Grace Hopper", grace.name)
      assert.equal(1, grace.device_count)
      assert.same({ id = 635, name = "example-gws", type = "google_workspace", uuid = GWS }, grace.integration)
      assert.same({}, state().applied)
    end)

    it("sends every user without a query and percent-encodes filter values", function()
      local page = assert(kandji:list_users())
      sent("GET", PATH)
      assert.equal(5, #page.results)
      sim.control("DELETE", "requests")
      page = assert(kandji:list_users{ email = "ada@" })
      sent("GET", PATH, "email=ada%40")
      assert.same({ "ada@example.com" }, emails(page.results))
    end)

    it("takes archived as the string \"true\" and id as a filter", function()
      local page = assert(kandji:list_users{ archived = "true" })
      sent("GET", PATH, "archived=true")
      assert.same({ "charles@example.com" }, emails(page.results))
      assert.is_true(page.results[1].archived)
      assert.is_false(page.results[1].active)
      sim.control("DELETE", "requests")
      page = assert(kandji:list_users{ id = ADA })
      sent("GET", PATH, "id=" .. ADA)
      assert.same({ "ada@example.com" }, emails(page.results))
    end)

    it("follows the cursor of the next link, keeping the filters", function()
      sim.config{ kandji_page_size = 2 }
      local page = assert(kandji:list_users{ archived = false })
      assert.same({ "ada@example.com", "alan@example.com" }, emails(page.results))
      local cursor = unescape(page.next:match("[?&]cursor=([^&]+)"))
      assert.equal(1, page.next:find(sim.url .. PATH .. "?archived=false&cursor=", 1, true))
      sim.control("DELETE", "requests")
      page = assert(kandji:list_users{ archived = false, cursor = cursor })
      sent("GET", PATH, "archived=false&cursor=" .. cursor)
      assert.same({ "grace@example.com", "katherine@example.com" }, emails(page.results))
      assert.equal(userapi.null, page.next)
      assert.equal(sim.url .. PATH .. "?archived=false", page.previous)
    end)

    it("keeps the last rate-limit headers in client.rate_limit", function()
      assert(kandji:list_users())
      assert.equal("10000", kandji.rate_limit["x-ratelimit-limit-hour"])
      assert.equal("50", kandji.rate_limit["x-ratelimit-limit-second"])
      assert.truthy(kandji.rate_limit["ratelimit-remaining"])
    end)

    it("returns a 404 error for an invalid cursor", function()
      local err = failed("list_users", 404, "Invalid cursor", kandji:list_users{ cursor = "bm90LWEtY3Vyc29y" })
      assert.is_false(err.retryable)
      assert.same({ detail = "Invalid cursor" }, cjson.decode(err.body))
      sent("GET", PATH, "cursor=bm90LWEtY3Vyc29y")
    end)

    it("returns a retryable 429 error with the gateway's message when rate limited", function()
      sim.fault{ match = { vendor = "kandji", op = "list_users" }, status = 429, headers = { ["Retry-After"] = "1" } }
      local err = failed("list_users", 429, "API rate limit exceeded", kandji:list_users())
      assert.is_true(err.retryable)
      assert.equal("1", err.headers["retry-after"])
    end)

    it("refuses unknown parameters, wrong types and too many arguments", function()
      refuses("bad argument #1 to 'list_users' (unknown parameter 'limit')",
              function() kandji:list_users{ limit = 10 } end)
      refuses("bad argument #1 to 'list_users' (archived: boolean or \"true\"/\"false\" expected)",
              function() kandji:list_users{ archived = "yes" } end)
      refuses("bad argument #1 to 'list_users' (archived: boolean or \"true\"/\"false\" expected)",
              function() kandji:list_users{ archived = 1 } end)
      refuses("bad argument #1 to 'list_users' (email: string expected, got table)",
              function() kandji:list_users{ email = { "ada@example.com" } } end)
      refuses("bad argument #1 to 'list_users' (cursor: string expected, got integer)",
              function() kandji:list_users{ cursor = 2 } end)
      refuses("bad argument #1 to 'list_users' (table expected, got string)",
              function() kandji:list_users("ada@example.com") end)
      refuses("bad argument #2 to 'list_users' (no more than 1 arguments expected)",
              function() kandji:list_users({}, {}) end)
    end)

    it("refuses CR or LF in a query value with a bad-argument error naming the operation", function()
      refuses("bad argument #1 to 'list_users' (email: contains CR, LF or NUL)",
              function() kandji:list_users{ email = "ada\r\nX-Injected: 1" } end)
    end)
  end)

  describe("get_user", function()
    it("sends GET /api/v1/users/{user_id} and returns the seeded user", function()
      local u = assert(kandji:get_user(ADA))
      sent("GET", PATH .. "/" .. ADA)
      assert.equal(ADA, u.id)
      assert.equal("ada@example.com", u.email)
      assert.equal("Ada Lovelace", u.name)
      assert.is_true(u.active)
      assert.is_false(u.archived)
      assert.equal("Engineering", u.department)
      assert.equal("Analyst", u.job_title)
      assert.equal("29360", u.deprecated_user_id)
      assert.equal(0, u.device_count)
      assert.equal(634, u.integration.id)
      assert.equal("office365", u.integration.type)
      assert.equal("2024-09-06T21:00:04.304248Z", u.created_at)
    end)

    it("returns null fields as userapi.null, which encodes back to null", function()
      local u = assert(kandji:get_user(GRACE))
      assert.equal(cjson.null, userapi.null)
      assert.equal(userapi.null, u.department)
      assert.equal(userapi.null, u.job_title)
      local again = require("userapi.json").encode(u)
      assert.truthy(again:find('"department":null', 1, true))
      assert.truthy(again:find('"job_title":null', 1, true))
      assert.same(u, cjson.decode(again))
    end)

    it("returns a 404 error for an unknown user", function()
      local err = failed("get_user", 404, "Not found.", kandji:get_user(UNKNOWN))
      assert.is_false(err.retryable)
      sent("GET", PATH .. "/" .. UNKNOWN)
    end)

    it("sends an integer id as its decimal text", function()
      failed("get_user", 404, "Not found.", kandji:get_user(29360))
      sent("GET", PATH .. "/29360")
    end)

    it("percent-encodes an id that needs it and gets a 404, not a crash", function()
      failed("get_user", 404, "Not found.", kandji:get_user("ada@example.com"))
      sent("GET", PATH .. "/ada%40example.com")
    end)

    it("refuses ids with / ? # % CR LF NUL, empty ids and non-strings", function()
      for _, id in ipairs(BAD_IDS) do
        refuses("bad argument #1 to 'get_user' (user_id: contains one of / ? # % CR LF NUL)",
                function() kandji:get_user(id) end)
      end
      for _, id in ipairs({ "", ".", ".." }) do
        refuses("bad argument #1 to 'get_user' (user_id: a non-empty id expected)",
                function() kandji:get_user(id) end)
      end
      refuses("bad argument #1 to 'get_user' (user_id: string expected, got nil)",
              function() kandji:get_user() end)
      refuses("bad argument #1 to 'get_user' (user_id: string expected, got number)",
              function() kandji:get_user(1.5) end)
      refuses("bad argument #1 to 'get_user' (user_id: string expected, got table)",
              function() kandji:get_user({ id = ADA }) end)
    end)

    it("refuses any parameter table and too many arguments", function()
      refuses("bad argument #2 to 'get_user' (no parameters expected)",
              function() kandji:get_user(ADA, { expand = "devices" }) end)
      refuses("bad argument #2 to 'get_user' (table expected, got string)",
              function() kandji:get_user(ADA, "devices") end)
      refuses("bad argument #3 to 'get_user' (no more than 2 arguments expected)",
              function() kandji:get_user(ADA, nil, true) end)
    end)
  end)

  describe("delete_user", function()
    it("sends DELETE /api/v1/users/{user_id}, returns true and removes the user", function()
      assert.is_true(kandji:delete_user(KATHERINE))
      sent("DELETE", PATH .. "/" .. KATHERINE)
      local s = state()
      assert.same({ delete_user = 1 }, s.applied)
      assert.equal(4, s.count)
      assert.is_nil(stored(KATHERINE))
      failed("get_user", 404, "Not found.", kandji:get_user(KATHERINE))
    end)

    it("deletes an archived user", function()
      assert.is_true(kandji:delete_user(CHARLES))
      assert.is_nil(stored(CHARLES))
    end)

    it("returns a 400 error for a user still assigned to devices and keeps the user", function()
      for _, id in ipairs({ ALAN, GRACE }) do
        local err = failed("delete_user", 400, "User still assigned to one or more devices.",
                           kandji:delete_user(id))
        assert.is_false(err.retryable)
        assert.same({ detail = "User still assigned to one or more devices." }, cjson.decode(err.body))
        assert.truthy(stored(id))
      end
      assert.equal("kandji delete_user: 400 User still assigned to one or more devices.",
                   tostring(select(2, kandji:delete_user(ALAN))))
      assert.same({}, state().applied)
      assert.equal(5, state().count)
    end)

    it("returns a 404 error for an unknown user", function()
      failed("delete_user", 404, "Not found.", kandji:delete_user(UNKNOWN))
      sent("DELETE", PATH .. "/" .. UNKNOWN)
      assert.same({}, state().applied)
    end)

    it("refuses bad ids, any parameter table and too many arguments", function()
      for _, id in ipairs(BAD_IDS) do
        refuses("bad argument #1 to 'delete_user' (user_id: contains one of / ? # % CR LF NUL)",
                function() kandji:delete_user(id) end)
      end
      refuses("bad argument #1 to 'delete_user' (user_id: a non-empty id expected)",
              function() kandji:delete_user("") end)
      refuses("bad argument #1 to 'delete_user' (user_id: string expected, got boolean)",
              function() kandji:delete_user(false) end)
      refuses("bad argument #2 to 'delete_user' (no parameters expected)",
              function() kandji:delete_user(ADA, {}) end)
      refuses("bad argument #3 to 'delete_user' (no more than 2 arguments expected)",
              function() kandji:delete_user(ADA, nil, "force") end)
      assert.equal(5, state().count)
    end)
  end)

  describe("with a wrong token", function()
    local SECRET = "wrong-kandji-token-4711"

    local function hidden(err)
      assert.is_nil(tostring(err):find(SECRET, 1, true))
      assert.is_nil(err.message:find(SECRET, 1, true))
      assert.is_nil(err.body:find(SECRET, 1, true))
    end

    it("returns a 401 error object that does not contain the token", function()
      kandji = sim.client("kandji", { token = SECRET })
      local err = failed("delete_user", 401, "Invalid token.", kandji:delete_user(ADA))
      assert.is_false(err.retryable)
      hidden(err)
      assert.equal("Bearer " .. SECRET, sim.last_request().headers["authorization"])
      assert.truthy(stored(ADA))
    end)

    it("redacts the token when the vendor echoes it in its error body", function()
      kandji = sim.client("kandji", { token = SECRET })
      sim.fault{ match = { vendor = "kandji" }, status = 401, body = { detail = "Token " .. SECRET .. " is revoked." } }
      local err = failed("list_users", 401, "Token [REDACTED] is revoked.", kandji:list_users())
      hidden(err)
    end)
  end)
end)
