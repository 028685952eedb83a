-- Opendatasoft's batch operations (invite_users, provision_users: one result per
-- user) and the export, through real libcurl to the simulator.
local sim = require "spec.helper"

local ods_helper = require "spec.ods_helper"
local sent, failed, refuses = ods_helper.sent, ods_helper.failed, ods_helper.refuses
local applied, seeded = ods_helper.applied, ods_helper.seeded

describe("userapi.opendatasoft batches and export", function()
  local ods

  before_each(function()
    sim.reset()
    ods = sim.client("opendatasoft")
  end)

  describe("invite_users", function()
    it("sends POST with a JSON array and returns the per-item results in input order", function()
      local body = {
        { email = "new.person@example.org", first_name = "New", groups = { { uid = "viewers" } },
          permissions = { "edit_dataset" } },
        { email = "ada@example.com" },
      }
      local res = assert(ods:invite_users(body))
      sent{ method = "POST", path = "/users/invite/", body = body }
      assert.equal(1, res.ok)
      assert.equal(1, res.failed)
      assert.is_true(res[1].ok)
      local u = res[1].value
      assert.equal("new.person", u.username)
      assert.equal("new.person@example.org", u.email)
      assert.is_false(u.is_active)
      assert.same({ { uid = "viewers" } }, u.groups)
      assert.same({ "edit_dataset" }, u.permissions)
      local err = res[2].err
      assert.is_false(res[2].ok)
      assert.same({ "opendatasoft", "invite_users", "item", 2, "validation_error" },
                  { err.vendor, err.operation, err.kind, err.item, err.code })
      assert.equal("Invalid input; email: A user with this email address already exists.", err.message)
      assert.equal("opendatasoft invite_users: item 2: Invalid input; email: A user with this email address "
                   .. "already exists.", tostring(err))
      assert.same({ invite_users = 1 }, applied())
      assert.equal(6, sim.state("ods").count)
      assert.truthy(seeded("new.person"))
    end)

    it("sends a one-item Lua array as a one-item JSON array", function()
      assert(ods:invite_users{ { email = "solo@example.org" } })
      local r = sent{ method = "POST", path = "/users/invite/", body = { { email = "solo@example.org" } } }
      assert.equal('[{"email":"solo@example.org"}]', r.body)
    end)

    it("returns a retryable 503 error and invites nobody when the vendor is unavailable", function()
      sim.fault{ match = { vendor = "ods", op = "invite_users" }, status = 503 }
      local err = failed("invite_users", 503, "A server error occurred.",
                         ods:invite_users{ { email = "late@example.org" } })
      assert.is_true(err.retryable)
      assert.equal("service_unavailable", err.code)
      assert.same({}, applied())
      assert.equal(5, sim.state("ods").count)
    end)

    it("counts items the vendor answered with an error as failed, each with the vendor's message", function()
      local res = assert(ods:invite_users{ { email = "ada@example.com" }, { email = "louise.data@example.com" } })
      assert.same({ 0, 2 }, { res.ok, res.failed })
      for i = 1, 2 do
        assert.is_false(res[i].ok)
        assert.equal(i, res[i].err.item)
        assert.equal("Invalid input; email: A user with this email address already exists.", res[i].err.message)
      end
    end)

    it("refuses a body that is not a non-empty array of objects with an email", function()
      refuses("bad argument #1 to 'invite_users' (non-empty array of objects expected)",
              function() ods:invite_users{ email = "one@example.org" } end)
      refuses("bad argument #1 to 'invite_users' (non-empty array of objects expected)",
              function() ods:invite_users{} end)
      refuses("bad argument #1 to 'invite_users' (table expected, got string)",
              function() ods:invite_users("one@example.org") end)
      refuses("bad argument #1 to 'invite_users' (table expected, got nil)",
              function() ods:invite_users() end)
      refuses("bad argument #1 to 'invite_users' ([2]: required field 'email' missing)",
              function() ods:invite_users{ { email = "one@example.org" }, { first_name = "Two" } } end)
      refuses("bad argument #1 to 'invite_users' ([1]: table expected, got string)",
              function() ods:invite_users{ "one@example.org" } end)
      refuses("bad argument #2 to 'invite_users' (no more than 1 arguments expected)",
              function() ods:invite_users({ { email = "one@example.org" } }, {}) end)
    end)
  end)

  describe("provision_users", function()
    local carol = { email = "carol@example.org", username = "carol", identity_provider = { uid = "my-saml-idp" },
                    identity_provider_attributes = { department = "R&D" }, groups = { { uid = "viewers" } } }
    local dan = { email = "dan@example.org", identity_provider = { uid = "my-saml-idp" } }

    it("sends a table with keys as one JSON object", function()
      local res = assert(ods:provision_users(carol))
      local r = sent{ method = "POST", path = "/users/provision/", body = carol }
      assert.matches("^{", r.body)
      assert.same({ 1, 0, true }, { res.ok, res.failed, res[1].ok })
      local u = res[1].value
      assert.equal("carol", u.username)
      assert.equal("linked", u.account_type)
      assert.is_true(u.is_active)
      assert.same({ { uid = "my-saml-idp" } }, u.identity_providers)
      assert.same({ provision_users = 1 }, applied())
      assert.truthy(seeded("carol"))
    end)

    it("sends a Lua array as a JSON array and returns one result per item", function()
      local res = assert(ods:provision_users{ carol, dan })
      local r = sent{ method = "POST", path = "/users/provision/", body = { carol, dan } }
      assert.matches("^%[", r.body)
      assert.equal("carol", res[1].value.username)
      assert.equal("dan", res[2].value.username)
      assert.equal(7, sim.state("ods").count)
      assert.same({ provision_users = 1 }, applied())
    end)

    it("returns a per-item error for a username that is taken", function()
      local res = assert(ods:provision_users{ email = "other@example.org", username = "ada.lovelace",
                                              identity_provider = { uid = "my-saml-idp" } })
      assert.same({ 0, 1, false }, { res.ok, res.failed, res[1].ok })
      assert.equal("Invalid input; username: A user with that username already exists.", res[1].err.message)
      assert.equal(5, sim.state("ods").count)
    end)

    it("returns a 500 error with the vendor's message when the vendor fails", function()
      sim.fault{ match = { vendor = "ods", op = "provision_users" }, status = 500 }
      local err = failed("provision_users", 500, "A server error occurred.", ods:provision_users(carol))
      assert.is_false(err.retryable)
      assert.equal("internal_error", err.code)
      assert.same({}, applied())
    end)

    it("refuses items without identity_provider, its uid or email", function()
      refuses("bad argument #1 to 'provision_users' (required field 'identity_provider' missing)",
              function() ods:provision_users{ email = "carol@example.org" } end)
      refuses("bad argument #1 to 'provision_users' ([2]: required field 'identity_provider' missing)",
              function() ods:provision_users{ carol, { email = "dan@example.org" } } end)
      refuses("bad argument #1 to 'provision_users' (required field 'email' missing)",
              function() ods:provision_users{ identity_provider = { uid = "my-saml-idp" } } end)
      local ok, msg = pcall(function()
        ods:provision_users{ email = "carol@example.org", identity_provider = {} }
      end)
      assert.is_false(ok)
      assert.matches("^bad argument #1 to 'provision_users' %(.*identity_provider: required field 'uid' missing%)$",
                     msg)
      refuses("bad argument #1 to 'provision_users' (table expected, got nil)",
              function() ods:provision_users() end)
      refuses("bad argument #2 to 'provision_users' (no more than 1 arguments expected)",
              function() ods:provision_users(carol, carol) end)
    end)
  end)

  describe("users_export", function()
    local CSV = table.concat({
      "username,last_name,first_name,email,date_joined,last_seen,groups,permissions",
      "louise.data,Data,Louise,louise.data@example.com,2022-08-19 11:43:58+00:00,"
        .. "2023-04-24 12:16:34.099404+00:00,Domain administrators,edit_domain;manage_dataset",
      "ada.lovelace,Lovelace,Ada,ada@example.com,2022-09-01 08:00:00+00:00,2024-02-03 10:11:12+00:00,"
        .. "Data publishers,create_dataset;edit_dataset",
      "alan.turing,Turing,Alan,alan@example.com,2023-01-15 09:30:00+00:00,,Viewers,explore_restricted_dataset",
      "grace.hopper,Hopper,Grace,grace@example.com,2023-03-01 12:00:00+00:00,2024-05-06 07:08:09+00:00,"
        .. "Data publishers;Viewers,",
      'edsger.dijkstra,"Dijkstra, ""EWD""",Edsger W.,edsger@example.com,2023-06-30 23:59:59+00:00,,,',
      "",
    }, "\r\n")

    local ROWS = {
      { username = "louise.data", last_name = "Data", first_name = "Louise", email = "louise.data@example.com",
        date_joined = "2022-08-19 11:43:58+00:00", last_seen = "2023-04-24 12:16:34.099404+00:00",
        groups = { "Domain administrators" }, permissions = { "edit_domain", "manage_dataset" } },
      { username = "ada.lovelace", last_name = "Lovelace", first_name = "Ada", email = "ada@example.com",
        date_joined = "2022-09-01 08:00:00+00:00", last_seen = "2024-02-03 10:11:12+00:00",
        groups = { "Data publishers" }, permissions = { "create_dataset", "edit_dataset" } },
      { username = "alan.turing", last_name = "Turing", first_name = "Alan", email = "alan@example.com",
        date_joined = "2023-01-15 09:30:00+00:00", last_seen = "",
        groups = { "Viewers" }, permissions = { "explore_restricted_dataset" } },
      { username = "grace.hopper", last_name = "Hopper", first_name = "Grace", email = "grace@example.com",
        date_joined = "2023-03-01 12:00:00+00:00", last_seen = "2024-05-06 07:08:09+00:00",
        groups = { "Data publishers", "Viewers" }, permissions = {} },
      { username = "edsger.dijkstra", last_name = 'Dijkstra, "EWD"', first_name = "Edsger W.",
        email = "edsger@example.com", date_joined = "2023-06-30 23:59:59+00:00", last_seen = "",
        groups = {}, permissions = {} },
    }

    it("sends GET /users/export/ accepting CSV and returns the CSV text as is", function()
      local text = assert(ods:users_export())
      sent{ method = "GET", path = "/users/export/", accept = "text/csv, application/json" }
      assert.equal(CSV, text)
    end)

    it("sends subdomains in the query", function()
      assert.equal(CSV, assert(ods:users_export{ subdomains = "sub1" }))
      sent{ method = "GET", path = "/users/export/", query = "subdomains=sub1", accept = "text/csv, application/json" }
    end)

    it("returns rows keyed by the header with groups and permissions split into arrays with parse = true", function()
      local rows = assert(ods:users_export{ parse = true })
      sent{ method = "GET", path = "/users/export/", accept = "text/csv, application/json" }
      assert.same(ROWS, rows)
    end)

    it("sends delimiter=%3B and parses the ;-separated text with the same delimiter", function()
      local text = assert(ods:users_export{ delimiter = ";" })
      sent{ method = "GET", path = "/users/export/", query = "delimiter=%3B", accept = "text/csv, application/json" }
      local lines = {}
      for line in text:gmatch("([^\r\n]*)\r\n") do lines[#lines + 1] = line end
      assert.equal("username;last_name;first_name;email;date_joined;last_seen;groups;permissions", lines[1])
      assert.equal('grace.hopper;Hopper;Grace;grace@example.com;2023-03-01 12:00:00+00:00;'
                   .. '2024-05-06 07:08:09+00:00;"Data publishers;Viewers";', lines[5])
      assert.equal('edsger.dijkstra;"Dijkstra, ""EWD""";Edsger W.;edsger@example.com;'
                   .. '2023-06-30 23:59:59+00:00;;;', lines[6])
      sim.control("DELETE", "requests")
      assert.same(ROWS, assert(ods:users_export{ delimiter = ";", parse = true }))
      sent{ method = "GET", path = "/users/export/", query = "delimiter=%3B", accept = "text/csv, application/json" }
    end)

    it("returns the vendor's error instead of CSV on a 403, even with parse = true", function()
      sim.fault{ match = { vendor = "ods", op = "users_export" }, status = 403,
                 body = { error_code = "forbidden", message = "You do not have permission to export subdomains." } }
      local err = failed("users_export", 403, "You do not have permission to export subdomains.",
                         ods:users_export{ subdomains = "sub1", parse = true })
      assert.is_false(err.retryable)
      assert.equal("forbidden", err.code)
    end)

    it("refuses a delimiter that is not exactly one character and unknown parameters", function()
      refuses("bad argument #1 to 'users_export' (delimiter: exactly 1 character(s) expected, got 2)",
              function() ods:users_export{ delimiter = ";;" } end)
      refuses("bad argument #1 to 'users_export' (delimiter: exactly 1 character(s) expected, got 0)",
              function() ods:users_export{ delimiter = "" } end)
      refuses("bad argument #1 to 'users_export' (delimiter: string expected, got integer)",
              function() ods:users_export{ delimiter = 9 } end)
      refuses("bad argument #1 to 'users_export' (unknown parameter 'format')",
              function() ods:users_export{ format = "csv" } end)
      refuses("bad argument #2 to 'users_export' (no more than 1 arguments expected)",
              function() ods:users_export({}, {}) end)
    end)
  end)

end)
