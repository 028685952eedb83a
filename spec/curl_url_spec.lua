-- The C core hands libcurl each URL as a URL handle parsed once per origin
-- (CURLOPT_CURLU): later requests to the same origin set only path and
-- query. What goes over the wire must be what a whole parse sends (the
-- request target of a fresh session), byte for byte: libcurl lower-cases
-- %XX when a part is set alone, and only a whole parse drops dot segments.
local helper = require "spec.helper"
local core = require "userapi.core"
local json = require "userapi.json"

local srv = helper.spawn(helper.root .. "/spec/review_server.lua")

local function program(answers)
  assert(helper.session:request{ method = "POST", url = srv.url .. "/_program", body = json.encode(answers) } == 200)
end

local function targets()
  local _, body = helper.session:request{ method = "GET", url = srv.url .. "/_requests" }
  local list = {}
  for i, r in ipairs(json.decode(body)) do list[i] = r.path end
  return list
end

-- request targets of URLs sent one after another on one session, or each on its own
local function sent(urls, queries, reuse)
  program{ { status = 200, body = "{}" } }
  local shared = reuse and core.session()
  for i, url in ipairs(urls) do
    local s = shared or core.session()
    local status, err = s:request{ method = "GET", url = url, query = queries[i] }
    assert(status == 200, tostring(err))
    if not shared then s:close() end
  end
  return targets()
end

describe("C core: the URL handle", function()
  it("sends each request target as a whole parse does: percent case, dot segments, queries, other origins", function()
    local other = srv.url:gsub("127%.0%.0%.1", "localhost")
    local urls = {
      srv.url .. "/api/v1/users/first",
      srv.url .. "/api/v1/users/a%3Bb%2Fc",        -- %XX kept upper-case
      srv.url .. "/api/v1/users/x",
      srv.url .. "/api/v1/./users/../users/y",     -- dot segments removed, as a whole parse does
      srv.url .. "/api/v1/users/z",
      srv.url .. "/api/v1/users",
      srv.url .. "/api/v1/users?limit=2",
      srv.url .. "/api/v1/users#frag",
      other .. "/api/v1/users/w",                  -- another origin
      srv.url .. "/api/v1/users/v",
      srv.url,
    }
    local queries = {}
    queries[3] = { email = "ada@example.com", q = "a;b" } -- encoded: %40, %3B
    queries[5] = { limit = 10, offset = 20 }
    queries[7] = { offset = 0 }
    local fresh = sent(urls, queries, false)
    assert.same({
      "/api/v1/users/first", "/api/v1/users/a%3Bb%2Fc", "/api/v1/users/x?email=ada%40example.com&q=a%3Bb",
      "/api/v1/users/y", "/api/v1/users/z?limit=10&offset=20", "/api/v1/users", "/api/v1/users?limit=2&offset=0",
      "/api/v1/users", "/api/v1/users/w", "/api/v1/users/v", "/",
    }, fresh)
    assert.same(fresh, sent(urls, queries, true))
  end)

  it("a URL libcurl cannot parse is a url error, on a session and on a multi, nothing sent", function()
    program{ { status = 200, body = "{}" } }
    local s = core.session()
    assert(s:request{ method = "GET", url = srv.url .. "/ok" } == 200)
    for _, bad in ipairs({ "http://[zz]/x", "http://127.0.0.1:99999/x", "http://" }) do
      local status, err = s:request{ method = "GET", url = bad }
      assert.is_nil(status)
      assert.equal("url", err.kind, bad)
      local m = s:multi()
      local id = m:add{ method = "GET", url = bad }
      local done = m:wait(1000)
      assert.equal(id, done[1].id)
      assert.equal("url", done[1].err.kind)
      m:close()
    end
    assert(s:request{ method = "GET", url = srv.url .. "/ok2" } == 200)
    assert.same({ "/ok", "/ok2" }, targets())
  end)
end)
