-- Sigfox API users' profiles and credentials: add and remove a profile, renew
-- the access token, through real libcurl to the simulator.
local sim = require "spec.helper"
local json = require "userapi.json"

local S = require "spec.sigfox_helper"
local API, ADA, GRACE, NOT_FOUND = S.API, S.ADA, S.GRACE, S.NOT_FOUND
local SNO, READER, ADMIN = S.SNO, S.READER, S.ADMIN
local applied, stored, profile_ids = S.applied, S.stored, S.profile_ids
local assert_headers, refused, assert_error = S.assert_headers, S.refused, S.assert_error
local only_request = sim.only_request

describe("sigfox profiles and credentials", function()
  local sigfox

  before_each(function()
    sim.reset()
    sigfox = sim.client("sigfox")
  end)

  describe("add_profile_to_api_user", function()
    it("PUTs {profileIds} to /api-users/{id}/profiles, returns true and the profile is added", function()
      assert.is_true(sigfox:add_profile_to_api_user(ADA, { profileIds = { ADMIN } }))
      local r = only_request()
      assert.equal("PUT", r.method)
      assert.equal(API .. "/" .. ADA .. "/profiles", r.path)
      assert.equal("", r.query)
      assert_headers(r, "application/json")
      assert.same({ profileIds = { ADMIN } }, json.decode(r.body))
      assert.equal(204, r.status)
      assert.same({ SNO, ADMIN }, profile_ids(stored(ADA)))
      assert.equal(1, applied("add_profile_to_api_user"))
    end)

    it("returns a 400 error naming the unknown profile", function()
      local ok, err = sigfox:add_profile_to_api_user(ADA, { profileIds = { "nope" } })
      assert.is_nil(ok)
      assert_error(err, { operation = "add_profile_to_api_user", status = 400,
                          message = "bad request; profileIds: unknown profile: nope" })
      assert.same({ SNO }, profile_ids(stored(ADA)))
    end)

    it("returns a 404 error for an unknown id", function()
      local ok, err = sigfox:add_profile_to_api_user("000000000000000000000000", { profileIds = { ADMIN } })
      assert.is_nil(ok)
      assert_error(err, { operation = "add_profile_to_api_user", status = 404, message = NOT_FOUND })
    end)

    it("refuses a body without profileIds and sends nothing", function()
      refused(function() sigfox:add_profile_to_api_user(ADA, {}) end,
        "bad argument #2 to 'add_profile_to_api_user' (required field 'profileIds' missing)")
      refused(function() sigfox:add_profile_to_api_user(ADA, { profileId = { ADMIN } }) end,
        "bad argument #2 to 'add_profile_to_api_user' (required field 'profileIds' missing)")
    end)
  end)

  describe("delete_profile_of_api_user", function()
    it("DELETEs /api-users/{id}/profiles/{profile_id}, returns true and the profile is removed", function()
      assert.is_true(sigfox:delete_profile_of_api_user(GRACE, ADMIN))
      local r = only_request()
      assert.equal("DELETE", r.method)
      assert.equal(API .. "/" .. GRACE .. "/profiles/" .. ADMIN, r.path)
      assert.equal("", r.query)
      assert.equal("", r.body)
      assert_headers(r, nil)
      assert.equal(204, r.status)
      assert.same({ READER }, profile_ids(stored(GRACE)))
      assert.equal(1, applied("delete_profile_of_api_user"))
    end)

    it("returns a 404 error for a profile the user does not hold", function()
      local ok, err = sigfox:delete_profile_of_api_user(ADA, ADMIN)
      assert.is_nil(ok)
      assert_error(err, { operation = "delete_profile_of_api_user", status = 404, message = NOT_FOUND })
      assert.is_nil(applied("delete_profile_of_api_user"))
    end)

    it("refuses a bad or missing profile id and sends nothing", function()
      refused(function() sigfox:delete_profile_of_api_user(ADA, "a/b") end,
        "bad argument #2 to 'delete_profile_of_api_user' (profile_id: contains one of / ? # % CR LF NUL)")
      refused(function() sigfox:delete_profile_of_api_user(ADA) end,
        "bad argument #2 to 'delete_profile_of_api_user' (profile_id: string expected, got nil)")
    end)
  end)

  describe("renew_credential", function()
    it("PUTs /api-users/{id}/renew-credential without a body and returns the new accessToken", function()
      local old = stored(ADA).accessToken
      local res = assert(sigfox:renew_credential(ADA))
      local r = only_request()
      assert.equal("PUT", r.method)
      assert.equal(API .. "/" .. ADA .. "/renew-credential", r.path)
      assert.equal("", r.query)
      assert.equal("", r.body)
      assert_headers(r, nil)
      assert.matches("^%x+$", res.accessToken)
      assert.not_equal(old, res.accessToken)
      assert.equal(res.accessToken, stored(ADA).accessToken)
      assert.equal(1, applied("renew_credential"))
    end)

    it("makes the new token the API user's password and the old one stop working", function()
      local old = stored(ADA).accessToken
      local res = assert(sigfox:renew_credential(ADA))
      local as_ada = sim.client("sigfox", { login = ADA, password = res.accessToken })
      assert.equal(ADA, assert(as_ada:get_api_user(ADA)).id)
      local stale = sim.client("sigfox", { login = ADA, password = old })
      local u, err = stale:get_api_user(ADA)
      assert.is_nil(u)
      assert.equal(401, err.status)
    end)

    it("returns a 404 error for an unknown id", function()
      local res, err = sigfox:renew_credential("000000000000000000000000")
      assert.is_nil(res)
      assert_error(err, { operation = "renew_credential", status = 404, message = NOT_FOUND })
      assert.is_nil(applied("renew_credential"))
    end)

    it("refuses parameters and sends nothing", function()
      refused(function() sigfox:renew_credential(ADA, {}) end,
        "bad argument #2 to 'renew_credential' (no parameters expected)")
    end)
  end)

end)
