-- Opendatasoft Automation API v1.0, UsersApi: the users operations through
-- real libcurl to the simulator, checked on the wire, in the result and in the
-- simulator's state (batches and the export: opendatasoft_batch_spec.lua).
local userapi = require "userapi"
local cjson = require "cjson"
local sim = require "spec.helper"

local ods_helper = require "spec.ods_helper"
local sent, failed, refuses = ods_helper.sent, ods_helper.failed, ods_helper.refuses
local applied, seeded = ods_helper.applied, ods_helper.seeded

local function usernames(list) return sim.pluck(list, "username") end

local BAD_IDS = { "a/b", "a?b", "a#b", "a%2Fb", "a\rb", "a\nb", "a\0b" }

describe("userapi.opendatasoft", function()
  local ods

  before_each(function()
    sim.reset()
    ods = sim.client("opendatasoft")
  end)

  describe("get_users", function()
    it("sends every filter as a sorted query with arrays as repeated keys and returns the matching page", function()
      local page = assert(ods:get_users{
        search = "a", sort = { "-last_name", "username" }, permissions = { "edit_domain", "create_dataset" },
        limit = 2, offset = 0,
      })
      sent{ method = "GET", path = "/users/",
            query = "limit=2&offset=0&permissions=edit_domain&permissions=create_dataset"
                    .. "&search=a&sort=-last_name&sort=username" }
      assert.equal(2, page.total_count)
      assert.equal(userapi.null, page.next)
      assert.equal(userapi.null, page.previous)
      assert.same({ "ada.lovelace", "louise.data" }, usernames(page.results))
      local ada = page.results[1]
      assert.equal("ada@example.com", ada.email)
      assert.equal("Ada", ada.first_name)
      assert.equal("Ada Lovelace", ada.display_name)
      assert.same({ "create_dataset", "edit_dataset" }, ada.permissions)
      assert.same({ { uid = "data_publishers" } }, ada.groups)
      assert.same({ api_calls = { limit = 10000, unit = "day" } }, ada.explore_limits)
      assert.same({}, applied())
    end)

    it("sends a single string as a one-item array and filters on permissions held through groups", function()
      local page = assert(ods:get_users{ all_permissions = "publish_dataset" })
      sent{ method = "GET", path = "/users/", query = "all_permissions=publish_dataset" }
      assert.same({ "ada.lovelace", "grace.hopper" }, usernames(page.results))
    end)

    it("returns the first page with a next link when there are more users than the limit", function()
      local page = assert(ods:get_users{ limit = 2 })
      sent{ method = "GET", path = "/users/", query = "limit=2" }
      assert.equal(5, page.total_count)
      assert.same({ "louise.data", "ada.lovelace" }, usernames(page.results))
      assert.matches("/users/%?limit=2&offset=2$", page.next)
    end)

    it("returns only the metadata with limit = 0", function()
      local page = assert(ods:get_users{ limit = 0 })
      sent{ method = "GET", path = "/users/", query = "limit=0" }
      assert.equal(5, page.total_count)
      assert.same({}, page.results)
    end)

    it("sends no query at all without parameters", function()
      local page = assert(ods:get_users())
      sent{ method = "GET", path = "/users/" }
      assert.equal(5, #page.results)
    end)

    it("sends the API key as the apikey query parameter with apikey_in = \"query\"", function()
      ods = sim.client("opendatasoft", { apikey_in = "query" })
      local page = assert(ods:get_users{ search = "ada" })
      sent{ method = "GET", path = "/users/", query = "search=ada&apikey=ods-test-key", apikey_in_query = true }
      assert.same({ "ada.lovelace" }, usernames(page.results))
    end)

    it("returns a 400 validation error for a permission the vendor does not know", function()
      local res, err = ods:get_users{ permissions = { "fly" } }
      assert.is_nil(res)
      assert.equal("opendatasoft", err.vendor)
      assert.equal("get_users", err.operation)
      assert.equal(400, err.status)
      -- the vendor's message, possibly followed by the field detail (see update_user)
      assert.matches("^Invalid input", err.message)
      assert.matches("^opendatasoft get_users: 400 Invalid input", tostring(err))
      assert.equal("validation_error", err.code)
      assert.is_false(err.retryable)
      assert.same({ permissions = { '"fly" is not a valid choice.' } }, cjson.decode(err.body).detail)
      sent{ method = "GET", path = "/users/", query = "permissions=fly" }
    end)

    it("refuses a limit outside 0..1000, a negative offset and non-integers", function()
      refuses("bad argument #1 to 'get_users' (limit: out of range 0..1000, got 1001)",
              function() ods:get_users{ limit = 1001 } end)
      refuses("bad argument #1 to 'get_users' (limit: out of range 0..1000, got -1)",
              function() ods:get_users{ limit = -1 } end)
      refuses("bad argument #1 to 'get_users' (limit: integer expected, got number)",
              function() ods:get_users{ limit = 2.5 } end)
      refuses("bad argument #1 to 'get_users' (limit: integer expected, got string)",
              function() ods:get_users{ limit = "20" } end)
      refuses("bad argument #1 to 'get_users' (offset: out of range 0.., got -5)",
              function() ods:get_users{ offset = -5 } end)
    end)

    it("refuses an infinite limit as not an integer, like NaN", function()
      -- (Lua 5.4 raises "bad argument #4 to 'format'" from inside the check,
      -- LuaJIT reports "got -9223372036854775808")
      for _, v in ipairs({ 0 / 0, math.huge, -math.huge }) do
        refuses("bad argument #1 to 'get_users' (limit: integer expected, got number)",
                function() ods:get_users{ limit = v } end)
      end
    end)

    it("refuses unknown parameters, wrong types and too many arguments", function()
      refuses("bad argument #1 to 'get_users' (unknown parameter 'page')",
              function() ods:get_users{ page = 2 } end)
      refuses("bad argument #1 to 'get_users' (table expected, got string)",
              function() ods:get_users("ada") end)
      refuses("bad argument #1 to 'get_users' (search: string expected, got integer)",
              function() ods:get_users{ search = 42 } end)
      refuses("bad argument #1 to 'get_users' (sort: array of strings expected, got boolean)",
              function() ods:get_users{ sort = true } end)
      refuses("bad argument #1 to 'get_users' (sort[2]: string expected, got integer)",
              function() ods:get_users{ sort = { "username", 1 } } end)
      refuses("bad argument #1 to 'get_users' (permissions: array of strings expected)",
              function() ods:get_users{ permissions = { edit_domain = true } } end)
      refuses("bad argument #2 to 'get_users' (no more than 1 arguments expected)",
              function() ods:get_users({}, {}) end)
    end)

    it("refuses CR or LF in a query value with a bad-argument error naming the operation", function()
      refuses("bad argument #1 to 'get_users' (search: contains CR, LF or NUL)",
              function() ods:get_users{ search = "ada\r\nX-Injected: 1" } end)
    end)
  end)

  describe("get_user", function()
    it("sends GET /users/{username}/ and returns the seeded user", function()
      local u = assert(ods:get_user("louise.data"))
      sent{ method = "GET", path = "/users/louise.data/" }
      assert.equal("louise.data", u.username)
      assert.equal("louise.data@example.com", u.email)
      assert.equal("Louise Data", u.display_name)
      assert.equal("local", u.account_type)
      assert.is_true(u.is_active)
      assert.same({ "edit_domain", "manage_dataset" }, u.permissions)
      assert.same({ { uid = "domain_administrators" } }, u.groups)
      assert.same({ { uid = "opendatasoft" } }, u.identity_providers)
      assert.equal("2023-04-24T12:16:34.099404Z", u.last_seen_at)
    end)

    it("sends expand=groups and returns the groups in full", function()
      local u = assert(ods:get_user("grace.hopper", { expand = "groups" }))
      sent{ method = "GET", path = "/users/grace.hopper/", query = "expand=groups" }
      assert.equal(2, #u.groups)
      assert.equal("data_publishers", u.groups[1].uid)
      assert.equal("Data publishers", u.groups[1].title)
      assert.equal(2, u.groups[1].user_count)
      assert.equal("Viewers", u.groups[2].title)
    end)

    it("percent-encodes the username in its path segment", function()
      failed("get_user", 404, "Not found.", ods:get_user("josé martin+1@x"))
      sent{ method = "GET", path = "/users/jos%C3%A9%20martin%2B1%40x/" }
    end)

    it("returns a 404 error for an unknown user", function()
      local err = failed("get_user", 404, "Not found.", ods:get_user("nobody.here"))
      assert.equal("not_found", err.code)
      assert.is_false(err.retryable)
      assert.same({ error_code = "not_found", message = "Not found." }, cjson.decode(err.body))
    end)

    it("returns null fields as userapi.null, which is cjson.null", function()
      local u = assert(ods:get_user("alan.turing"))
      assert.equal(cjson.null, userapi.null)
      assert.equal(userapi.null, u.last_seen_at)
      assert.equal(userapi.null, u.last_login_at)
      assert.equal(userapi.null, u.expires_at)
    end)

    it("refuses ids with / ? # % CR LF NUL, empty ids and non-strings", function()
      for _, id in ipairs(BAD_IDS) do
        refuses("bad argument #1 to 'get_user' (username: contains one of / ? # % CR LF NUL)",
                function() ods:get_user(id) end)
      end
      for _, id in ipairs({ "", ".", ".." }) do
        refuses("bad argument #1 to 'get_user' (username: a non-empty id expected)",
                function() ods:get_user(id) end)
      end
      refuses("bad argument #1 to 'get_user' (username: string expected, got nil)",
              function() ods:get_user() end)
      refuses("bad argument #1 to 'get_user' (username: string expected, got table)",
              function() ods:get_user({ username = "ada.lovelace" }) end)
      refuses("bad argument #1 to 'get_user' (username: longer than 1024 bytes)",
              function() ods:get_user(("x"):rep(1025)) end)
    end)

    it("refuses unknown parameters, a non-string expand and too many arguments", function()
      refuses("bad argument #2 to 'get_user' (unknown parameter 'fields')",
              function() ods:get_user("ada.lovelace", { fields = "email" }) end)
      refuses("bad argument #2 to 'get_user' (expand: string expected, got table)",
              function() ods:get_user("ada.lovelace", { expand = { "groups" } }) end)
      refuses("bad argument #2 to 'get_user' (table expected, got string)",
              function() ods:get_user("ada.lovelace", "groups") end)
      refuses("bad argument #3 to 'get_user' (no more than 2 arguments expected)",
              function() ods:get_user("ada.lovelace", {}, {}) end)
    end)
  end)

  describe("update_user", function()
    it("sends PUT with the JSON body and returns the updated user", function()
      local body = { email = "augusta@example.org", first_name = "Augusta", permissions = { "edit_dataset" } }
      local u = assert(ods:update_user("ada.lovelace", body))
      sent{ method = "PUT", path = "/users/ada.lovelace/", body = body }
      assert.equal("ada.lovelace", u.username)
      assert.equal("augusta@example.org", u.email)
      assert.equal("Augusta Lovelace", u.display_name)
      assert.same({ "edit_dataset" }, u.permissions)
      assert.same({ update_user = 1 }, applied())
      assert.equal("augusta@example.org", seeded("ada.lovelace").email)
    end)

    it("sends a null it was given back as JSON null", function()
      local u = assert(ods:get_user("alan.turing"))
      sim.control("DELETE", "requests")
      local res = assert(ods:update_user("alan.turing", { email = u.email, expires_at = u.expires_at }))
      local r = sent{ method = "PUT", path = "/users/alan.turing/",
                      body = { email = "alan@example.com", expires_at = cjson.null } }
      assert.truthy(r.body:find('"expires_at":null', 1, true))
      assert.equal(userapi.null, res.expires_at)
    end)

    it("sends a user record it read back unchanged, empty arrays included", function()
      local u = assert(ods:get_user("edsger.dijkstra"))
      sim.control("DELETE", "requests")
      assert(ods:update_user("edsger.dijkstra", u))
      local r = sent{ method = "PUT", path = "/users/edsger.dijkstra/", body = u }
      -- the vendor answered "permissions": [] and "groups": []; a JSON object there is another type
      assert.truthy(r.body:find('"permissions":[]', 1, true), "permissions sent as " .. r.body)
      assert.truthy(r.body:find('"groups":[]', 1, true), "groups sent as " .. r.body)
    end)

    it("returns a 404 error for an unknown user and changes nothing", function()
      local err = failed("update_user", 404, "Not found.",
                         ods:update_user("nobody.here", { email = "n@example.org" }))
      assert.equal("not_found", err.code)
      assert.same({}, applied())
    end)

    it("returns a 400 validation error for an invalid email", function()
      local res, err = ods:update_user("ada.lovelace", { email = "not-an-email" })
      assert.is_nil(res)
      assert.equal("update_user", err.operation)
      assert.equal(400, err.status)
      assert.equal("validation_error", err.code)
      assert.matches("^Invalid input", err.message)
      assert.matches("^opendatasoft update_user: 400 Invalid input", tostring(err))
      assert.same({}, applied())
    end)

    it("names the invalid field of a 400 validation error in its message", function()
      local _, err = ods:update_user("ada.lovelace", { email = "not-an-email" })
      assert.equal(400, err.status)
      -- body: {"error_code":"validation_error","message":"Invalid input",
      --        "detail":{"email":["Enter a valid email address."]}}
      assert.matches("email", err.message)
      assert.matches("Enter a valid email address", tostring(err))
    end)

    it("raises before sending when email is missing or null", function()
      refuses("bad argument #2 to 'update_user' (required field 'email' missing)",
              function() ods:update_user("ada.lovelace", { first_name = "Augusta" }) end)
      refuses("bad argument #2 to 'update_user' (required field 'email' missing)",
              function() ods:update_user("ada.lovelace", { email = userapi.null }) end)
    end)

    it("refuses a missing or non-table body, an array, bad ids and too many arguments", function()
      refuses("bad argument #2 to 'update_user' (table expected, got nil)",
              function() ods:update_user("ada.lovelace") end)
      refuses("bad argument #2 to 'update_user' (table expected, got string)",
              function() ods:update_user("ada.lovelace", "ada@example.com") end)
      refuses("bad argument #2 to 'update_user' (object expected, got an array)",
              function() ods:update_user("ada.lovelace", { { email = "ada@example.com" } }) end)
      refuses("bad argument #1 to 'update_user' (username: contains one of / ? # % CR LF NUL)",
              function() ods:update_user("../admin", { email = "ada@example.com" }) end)
      refuses("bad argument #3 to 'update_user' (no more than 2 arguments expected)",
              function() ods:update_user("ada.lovelace", { email = "ada@example.com" }, true) end)
    end)
  end)

  describe("delete_user", function()
    it("sends DELETE /users/{username}/ without a body, returns true and removes the user", function()
      assert.is_true(ods:delete_user("alan.turing"))
      sent{ method = "DELETE", path = "/users/alan.turing/" }
      assert.same({ delete_user = 1 }, applied())
      assert.is_nil(seeded("alan.turing"))
      assert.equal(4, sim.state("ods").count)
      failed("get_user", 404, "Not found.", ods:get_user("alan.turing"))
    end)

    it("refuses to delete louise.data, the only domain administrator", function()
      local err = failed("delete_user", 400, "The removal of the only domain administrator is not allowed.",
                         ods:delete_user("louise.data"))
      assert.equal("only_domain_administrator", err.code)
      assert.is_false(err.retryable)
      assert.equal("opendatasoft delete_user: 400 The removal of the only domain administrator is not allowed.",
                   tostring(err))
      assert.truthy(seeded("louise.data"))
      assert.same({}, applied())
    end)

    it("deletes louise.data once another user holds edit_domain", function()
      assert(ods:update_user("ada.lovelace", { email = "ada@example.com", permissions = { "edit_domain" } }))
      assert.is_true(ods:delete_user("louise.data"))
      assert.is_nil(seeded("louise.data"))
      assert.same({ update_user = 1, delete_user = 1 }, applied())
    end)

    it("returns a 404 error for an unknown user", function()
      local err = failed("delete_user", 404, "Not found.", ods:delete_user("nobody.here"))
      assert.equal("not_found", err.code)
      assert.equal(5, sim.state("ods").count)
    end)

    it("refuses bad ids, any parameter table and too many arguments", function()
      for _, id in ipairs(BAD_IDS) do
        refuses("bad argument #1 to 'delete_user' (username: contains one of / ? # % CR LF NUL)",
                function() ods:delete_user(id) end)
      end
      refuses("bad argument #1 to 'delete_user' (username: a non-empty id expected)",
              function() ods:delete_user("") end)
      refuses("bad argument #1 to 'delete_user' (username: string expected, got boolean)",
              function() ods:delete_user(true) end)
      refuses("bad argument #2 to 'delete_user' (no parameters expected)",
              function() ods:delete_user("alan.turing", {}) end)
      refuses("bad argument #3 to 'delete_user' (no more than 2 arguments expected)",
              function() ods:delete_user("alan.turing", nil, "now") end)
    end)
  end)

  describe("with wrong credentials", function()
    local SECRET = "wrong-secret-4711"

    local function hidden(err)
      assert.is_nil(tostring(err):find(SECRET, 1, true))
      assert.is_nil(err.message:find(SECRET, 1, true))
      assert.is_nil(err.body:find(SECRET, 1, true))
    end

    it("returns a 401 error object that does not contain the key", function()
      ods = sim.client("opendatasoft", { apikey = SECRET })
      local err = failed("get_users", 401, "The API key is invalid.", ods:get_users())
      assert.equal("invalid_api_key", err.code)
      assert.is_false(err.retryable)
      hidden(err)
      assert.equal("Apikey " .. SECRET, sim.last_request().headers["authorization"])
    end)

    it("returns a 401 error object that does not contain the key sent in the query", function()
      ods = sim.client("opendatasoft", { apikey = SECRET, apikey_in = "query" })
      local err = failed("delete_user", 401, "The API key is invalid.", ods:delete_user("alan.turing"))
      hidden(err)
      assert.equal("apikey=" .. SECRET, sim.last_request().query)
      assert.truthy(seeded("alan.turing"))
    end)

    it("redacts the key when the vendor echoes it in its error body", function()
      ods = sim.client("opendatasoft", { apikey = SECRET })
      sim.fault{ match = { vendor = "ods" }, status = 401,
                 body = { error_code = "invalid_api_key", message = "The API key " .. SECRET .. " is invalid." } }
      local err = failed("get_user", 401, "The API key [REDACTED] is invalid.", ods:get_user("ada.lovelace"))
      hidden(err)
    end)
  end)
end)
