-- Iterators over every vendor's paging, against the simulator.
local sim = require "spec.helper"
local json = require "userapi.json"
local core = require "userapi.core"

local VENDORS = {
  opendatasoft = { op = "get_users", id = "username", size = "limit=1000" },
  -- data-plane users are left out unless asked for
  arthur = { op = "get_organization_users", id = "id", size = "page_size=1000",
             params = { user_types = { "user", "data_plane", "service_account" } } },
  kandji = { op = "list_users", id = "id" },
  sigfox = { op = "list_api_users", id = "id", size = "limit=100" },
}

local client = sim.unlimited

describe("paging", function()
  before_each(function() sim.reset() end)

  for vendor, v in pairs(VENDORS) do
    describe(vendor, function()
      it("walks every user exactly once, page by page, at the vendor's largest page size", function()
        sim.control("POST", "seed", { vendor = vendor, count = 2345 })
        local total = sim.state(vendor).count
        local seen, n = {}, 0
        for user in client(vendor):each_user(v.params) do
          local id = user[v.id]
          assert.is_nil(seen[id], "yielded twice: " .. tostring(id))
          seen[id], n = true, n + 1
        end
        assert.is_true(total > 2345)
        assert.equal(total, n)
        local reqs = sim.requests()
        assert.is_true(#reqs >= 3)
        for _, r in ipairs(reqs) do
          assert.equal(v.op, r.op)
          if v.size then assert.truthy(r.query:find(v.size, 1, true), r.query) end
        end
      end)

      it("gives pages with their position, and the error of a failing page as i, nil, err", function()
        sim.control("POST", "seed", { vendor = vendor, count = 600 })
        local c = client(vendor)
        sim.fault{ match = { vendor = vendor == "opendatasoft" and "ods" or vendor }, status = 500,
                   body = '{"message":"boom","detail":"boom","error_code":"internal_error"}' }
        local iter = c:pages{}
        local i, page, err = iter()
        assert.equal(1, i)
        assert.is_nil(page)
        assert.equal(500, err.status)
        assert.equal(v.op, err.operation)
        assert.is_nil(iter())
      end)
    end)
  end

  it("keeps the caller's filters on every page", function()
    sim.control("POST", "seed", { vendor = "kandji", count = 1000 })
    sim.config{ kandji_page_size = 50 }
    local n = 0
    for u in client("kandji"):each_user{ email = "example", archived = false } do
      assert.truthy(u.email:find("example", 1, true))
      n = n + 1
    end
    local reqs = sim.requests()
    assert.is_true(#reqs > 2)
    for k, r in ipairs(reqs) do
      assert.equal("false", r.args.archived)
      assert.equal("example", r.args.email)
      if k > 1 then assert.truthy(r.args.cursor) end
    end
    assert.is_true(n > 0)
  end)

  it("never follows a next URL to another host: it takes the cursor to the configured one", function()
    sim.control("POST", "seed", { vendor = "kandji", count = 700 })
    sim.config{ kandji_next_host = "http://127.0.0.2:9" }
    local n = 0
    for _ in client("kandji"):each_user() do n = n + 1 end
    assert.equal(sim.state("kandji").count, n)
    assert.equal(3, #sim.requests()) -- all of them reached the simulator
  end)

  it("ends a loop (the same cursor twice) with an error instead of walking forever", function()
    local page = json.encode{ next = sim.base.kandji .. "/api/v1/users?cursor=c2FtZQ%3D%3D", previous = json.null,
                              results = { { id = "u1", email = "a@b" } } }
    sim.fault{ match = { vendor = "kandji" }, status = 200, body = page, times = 0 }
    local n = 0
    local ok, err = pcall(function() for _ in client("kandji"):each_user() do n = n + 1 end end)
    assert.is_false(ok)
    assert.equal("paging", err.kind)
    assert.matches("cursor repeats", tostring(err))
    assert.equal(2, n) -- both pages were good; the third would repeat
    assert.equal(2, #sim.requests())
  end)

  it("raises the structured error when page 3 fails, after yielding the pages before", function()
    sim.control("POST", "seed", { vendor = "sigfox", count = 350 })
    sim.fault{ match = { vendor = "sigfox", query = "offset=200" }, status = 503, body = '{"message":"try later"}' }
    local n = 0
    local ok, err = pcall(function() for _ in client("sigfox"):each_user() do n = n + 1 end end)
    assert.is_false(ok)
    assert.equal(200, n)
    assert.equal(3, #sim.requests())
    assert.equal("sigfox", err.vendor)
    assert.equal(503, err.status)
    assert.equal("try later", err.message)
    assert.is_true(err.retryable)
  end)

  it("stops Arthur at total_pages and Opendatasoft when next is null", function()
    sim.control("POST", "seed", { vendor = "arthur", count = 10 })
    local count = 0
    for _, page in client("arthur"):pages{ page_size = 3 } do
      count = count + 1
      assert.equal(count, page.pagination.page)
    end
    assert.equal(sim.requests()[1] and #sim.requests(), count)
    local ods_pages = 0
    for _, page in client("opendatasoft"):pages{ limit = 2 } do
      ods_pages = ods_pages + 1
      assert.is_true(#page.results <= 2)
    end
    assert.equal(math.ceil(sim.state("opendatasoft").count / 2), ods_pages)
  end)

  it("walks an empty list with one request and yields nothing", function()
    local nobody = { kandji = { email = "nobody-at-all" }, opendatasoft = { search = "nobody-at-all" },
                     arthur = { search = "nobody-at-all" }, sigfox = { profile_id = "000000000000000000000000" } }
    for vendor, params in pairs(nobody) do
      sim.reset()
      local n = 0
      for _ in client(vendor):each_user(params) do n = n + 1 end
      assert.equal(0, n, vendor)
      assert.equal(1, #sim.requests(), vendor)
    end
  end)

  it("ends cleanly when the last page is exactly full", function()
    for vendor, v in pairs(VENDORS) do
      sim.reset()
      local total = sim.state(vendor).count
      local params = { user_types = v.params and v.params.user_types }
      local size_key = ({ opendatasoft = "limit", arthur = "page_size", sigfox = "limit", kandji = nil })[vendor]
      if size_key then
        -- a page size that divides the seeded total
        params[size_key] = total
        local n = 0
        for _ in client(vendor):each_user(params) do n = n + 1 end
        assert.equal(total, n, vendor)
        assert.is_true(#sim.requests() <= 2, vendor .. ": " .. #sim.requests() .. " requests")
      end
    end
    sim.reset()
    sim.config{ kandji_page_size = 5 }
    local n = 0
    for _ in client("kandji"):each_user() do n = n + 1 end
    assert.equal(sim.state("kandji").count, n)
  end)

  it("refuses to page through an operation that is not the list", function()
    local c = client("kandji")
    assert.has_error(function() c:pages("get_user", {}) end)
  end)

  describe("ahead of the reader (concurrency)", function()
    local function ids(vendor, params, extra)
      local out = {}
      for u in client(vendor, extra):each_user(params) do out[#out + 1] = u[VENDORS[vendor].id] end
      return out
    end

    for _, vendor in ipairs{ "opendatasoft", "arthur", "sigfox", "kandji" } do
      it(vendor .. ": gives every user once, in the order of a sequential walk", function()
        sim.control("POST", "seed", { vendor = vendor, count = 730 })
        sim.config{ kandji_page_size = 50 }
        local size = ({ opendatasoft = { limit = 50 }, arthur = { page_size = 50 }, sigfox = { limit = 50 } })[vendor]
        local params = {}
        for k, v in pairs(VENDORS[vendor].params or {}) do params[k] = v end
        for k, v in pairs(size or {}) do params[k] = v end
        params.concurrency = 1
        local one = ids(vendor, params)
        local sequential = #sim.requests()
        sim.control("DELETE", "requests")
        params.concurrency = 8
        assert.same(one, ids(vendor, params))
        assert.equal(sequential, #sim.requests())
        assert.equal(sim.state(vendor).count, #one)
      end)
    end

    it("keeps at most `concurrency` pages asked for ahead of the reader", function()
      sim.control("POST", "seed", { vendor = "opendatasoft", count = 600 })
      local sent = 0
      local c = client("opendatasoft", { on_request = function() sent = sent + 1 end })
      local pages = 0
      for i, page in c:pages{ limit = 20, concurrency = 5 } do
        assert.truthy(page)
        pages = i
        assert.is_true(sent <= i + 5, sent .. " requests answered when page " .. i .. " is read")
      end
      assert.equal(math.ceil(sim.state("opendatasoft").count / 20), pages)
      assert.equal(pages, sent)
    end)

    it("walks one page at a time with concurrency = 1", function()
      sim.control("POST", "seed", { vendor = "opendatasoft", count = 100 })
      local sent = 0
      local c = client("opendatasoft", { on_request = function() sent = sent + 1 end })
      for i in c:pages{ limit = 20, concurrency = 1 } do assert.equal(i, sent) end
    end)

    it("fails the walk at a failing page, after the users before it, as a sequential walk does", function()
      sim.control("POST", "seed", { vendor = "opendatasoft", count = 600 })
      sim.fault{ match = { vendor = "ods", query = "offset=300" }, status = 500, body = '{"message":"boom"}' }
      local n = 0
      local ok, err = pcall(function()
        for _ in client("opendatasoft"):each_user{ limit = 100, concurrency = 8 } do n = n + 1 end
      end)
      assert.is_false(ok)
      assert.equal(300, n)
      assert.equal(500, err.status)
      assert.equal("get_users", err.operation)
    end)

    it("asks again for a page the retry policy retries, and goes on", function()
      sim.control("POST", "seed", { vendor = "opendatasoft", count = 600 })
      local total = sim.state("opendatasoft").count
      sim.fault{ match = { vendor = "ods", query = "offset=300" }, status = 503, times = 1,
                 body = '{"message":"busy"}' }
      local c = client("opendatasoft", { retries = { max = 2, base_ms = 1 } })
      local n = 0
      for _ in c:each_user{ limit = 100, concurrency = 8 } do n = n + 1 end
      assert.equal(total, n)
      assert.equal(math.ceil(total / 100) + 1, #sim.requests())
    end)

    it("passes every request through the client's rate limiter", function()
      sim.control("POST", "seed", { vendor = "opendatasoft", count = 300 })
      local c = client("opendatasoft", { rate_limit = { per_second = 10 } })
      local t0, n = core.now(), 0
      for _ in c:pages{ limit = 20, concurrency = 8 } do n = n + 1 end
      assert.is_true(n > 10)
      -- n requests at 10 a second: the ones past the first 10 waited their turn
      assert.is_true(c.limiter.waited_ms > 0)
      assert.is_true(core.now() - t0 >= (n - 10) * 100 - 50)
    end)

    it("refuses a concurrency outside 1..64", function()
      local c = client("opendatasoft")
      assert.has_error(function() c:pages{ concurrency = 0 } end,
        "bad argument #1 to 'pages' (concurrency: positive integer expected, got 0)")
      assert.has_error(function() c:each_user{ concurrency = 65 } end,
        "bad argument #1 to 'each_user' (concurrency: 1..64 expected)")
      assert.same({}, sim.requests())
    end)
  end)
end)
