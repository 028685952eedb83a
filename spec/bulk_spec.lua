-- Bulk calls over the curl multi interface, chunked invites, streamed export.
local sim = require "spec.helper"
local core = require "userapi.core"
local json = require "userapi.json"

local client = sim.unlimited

local function kandji_ids(n)
  sim.control("POST", "seed", { vendor = "kandji", count = n })
  local ids = {}
  for u in client("kandji"):each_user() do
    if (u.device_count or 0) == 0 and #ids < n then ids[#ids + 1] = u.id end
  end
  sim.control("DELETE", "requests")
  return ids
end

describe("bulk", function()
  before_each(function() sim.reset() end)

  it("runs every item, returning results in input order with a summary", function()
    local ids = kandji_ids(40)
    local items = {}
    for i, id in ipairs(ids) do items[i] = { id } end
    items[41] = "no-such-user"
    local res = client("kandji"):bulk("get_user", items, { concurrency = 8 })
    assert.equal(41, #res)
    for i, id in ipairs(ids) do
      assert.is_true(res[i].ok)
      assert.equal(id, res[i].value.id)
    end
    assert.is_false(res[41].ok)
    assert.equal(404, res[41].err.status)
    assert.equal(40, res.ok)
    assert.equal(1, res.failed)
    assert.equal(41, #sim.requests())
  end)

  it("overlaps requests: 16 calls delayed 300 ms each finish in about two rounds at concurrency 8", function()
    local ids = kandji_ids(16)
    sim.fault{ match = { vendor = "kandji" }, delay_ms = 300, times = 0 }
    local t0 = core.now()
    local res = client("kandji"):bulk("get_user", ids, { concurrency = 8 })
    local ms = core.now() - t0
    assert.equal(16, res.ok)
    assert.is_true(ms >= 550 and ms < 1500, "took " .. ms .. " ms")
  end)

  it("reports progress and stops sending after an error when asked", function()
    local ids = kandji_ids(10)
    table.insert(ids, 3, "missing-1")
    local calls = {}
    local res = client("kandji"):bulk("delete_user", ids, {
      concurrency = 1, stop_on_error = true,
      on_progress = function(done, total) calls[#calls + 1] = done .. "/" .. total end })
    assert.same({ "1/11", "2/11", "3/11" }, calls)
    assert.equal(2, res.ok)
    assert.equal(1, res.failed)
    assert.equal(8, res.skipped)
    assert.is_true(res[11].skipped)
    assert.equal("skipped", res[11].err.kind)
    assert.equal(2, sim.state("kandji").applied.delete_user)
  end)

  it("slows the whole batch down on a 429 with Retry-After and retries the item, applying each once", function()
    local ids = kandji_ids(6)
    sim.fault{ match = { vendor = "kandji", method = "DELETE" }, status = 429,
               headers = { ["Retry-After"] = "1" }, body = '{"message":"API rate limit exceeded"}' }
    local clock = sim.clock()
    local res = client("kandji", { retries = { max = 2, base_ms = 10 }, clock = clock })
      :bulk("delete_user", ids, { concurrency = 3 })
    assert.equal(6, res.ok)
    assert.equal(1, res.throttled)
    assert.equal(1, res.retried)
    assert.equal(1000, clock.total())
    assert.equal(6, sim.state("kandji").applied.delete_user)
    assert.equal(7, #sim.requests())
  end)

  it("checks every item before sending any", function()
    local c = client("kandji")
    assert.has_error(function() c:bulk("get_user", { "ok-1", "bad/id", "ok-2" }) end,
      "bad argument #1 to 'get_user' (user_id: contains one of / ? # % CR LF NUL)")
    assert.has_error(function() c:bulk("get_user", { "a" }, { concurrency = 65 }) end)
    assert.has_error(function() c:bulk("no_such_op", { "a" }) end)
    assert.same({}, sim.requests())
  end)

  it("sends large Opendatasoft invites in chunks of 100 and maps results back to input positions", function()
    local users = {}
    for i = 1, 250 do users[i] = { email = ("bulk%03d@example.org"):format(i) } end
    users[120].email = "ada@example.com" -- already a user: the vendor says error for that one
    local res = assert(client("opendatasoft"):invite_users(users))
    local reqs = sim.requests()
    assert.equal(3, #reqs)
    local sizes = {}
    for i, r in ipairs(reqs) do sizes[i] = #json.decode(r.body) end
    assert.same({ 100, 100, 50 }, sizes)
    assert.equal("bulk001@example.org", json.decode(reqs[1].body)[1].email)
    assert.equal("bulk250@example.org", json.decode(reqs[3].body)[50].email)
    assert.same({ 249, 1, 250 }, { res.ok, res.failed, #res })
    assert.equal("bulk001@example.org", res[1].value.email)
    assert.equal("bulk250@example.org", res[250].value.email)
    assert.is_false(res[120].ok)
    assert.equal(120, res[120].err.item)
    assert.equal("opendatasoft invite_users: item 120: Invalid input; email: A user with this email address "
                 .. "already exists.", tostring(res[120].err))
  end)

  it("fails each item of a chunk that fails as a whole with that chunk's error", function()
    local users = {}
    for i = 1, 150 do users[i] = { email = ("chunk%03d@example.org"):format(i) } end
    sim.fault{ match = { vendor = "ods", op = "invite_users" }, status = 500, times = 1 }
    local res = assert(client("opendatasoft"):invite_users(users))
    assert.same({ 50, 100 }, { res.ok, res.failed })
    assert.equal(500, res[1].err.status)
    assert.equal(res[1].err, res[100].err)   -- the request's error: no item of its own
    assert.is_nil(res[100].err.item)
    assert.is_true(res[101].ok)
  end)
end)

describe("streamed export", function()
  before_each(function() sim.reset() end)

  it("yields parsed rows as the CSV arrives, groups and permissions as arrays", function()
    sim.control("POST", "seed", { vendor = "opendatasoft", count = 5000 })
    local c = client("opendatasoft", { max_body_bytes = 4096 }) -- streaming is not bounded by it
    local n, louise = 0, nil
    for row in c:each_export_row{ delimiter = ";" } do
      n = n + 1
      if row.username == "louise.data" then louise = row end
    end
    assert.equal(sim.state("opendatasoft").count, n)
    assert.equal("louise.data@example.com", louise.email)
    assert.equal("table", type(louise.groups))
    assert.truthy(louise.permissions[1])
    local r = sim.last_request()
    assert.equal("/ods/api/automation/v1.0/users/export/", r.path)
    assert.equal("delimiter=%3B", r.query)
    assert.equal("text/csv, application/json", r.headers.accept)
  end)

  it("raises the vendor's error when the export fails", function()
    local c = sim.client("opendatasoft", { apikey = "wrong-key-123" })
    local ok, err = pcall(function() for _ in c:each_export_row() do end end)
    assert.is_false(ok)
    assert.equal(401, err.status)
    assert.equal("users_export", err.operation)
    assert.falsy(tostring(err):find("wrong-key-123", 1, true))
  end)
end)
