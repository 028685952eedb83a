-- A fifth vendor registered from outside (USERAPI_VENDORS) that declares
-- its `people` part gets userapi find, onboard, offboard, and rotate (it
-- declares `people.rotate`): Quill, a made-up members API defined here only
-- (Bearer API keys, offset paging, bots with keys of their own), served by a
-- stand-in server; bin/userapi runs as a subprocess, with the four built-in
-- vendors unconfigured.
local h = require "spec.cli_helper"
local sim, proc, cjson = h.sim, h.proc, h.cjson

local VENDOR = [=[
--- Quill members API: a vendor userapi does not ship, as data.
local str = { type = "string" }
return {
  name = "quill",
  options = { api_key = "secret" },
  default_base = function() return "https://api.quill.example/v1" end,
  credentials = { "api_key" },
  auth = function(o) if o.api_key then return { scheme = "bearer", token = o.api_key } end end,
  error_message = function(t) return t.message end,
  ops = {
    list_members = { method = "GET", path = "/members", query = {
      email = str, limit = { type = "integer", min = 1, max = 50 }, offset = { type = "integer", min = 0 } } },
    get_member = { method = "GET", path = "/members/{id}" },
    invite_member = { method = "POST", path = "/members",
                      body = { kind = "object", required = { "email" }, fields = { email = str, name = str } } },
    delete_member = { method = "DELETE", path = "/members/{id}" },
    new_key = { method = "POST", path = "/members/{id}/key" },
    whoami = { method = "GET", path = "/me" },
  },
  paging = { op = "list_members", style = "offset", items = "members", next = "next", max = 50 },
  people = {
    lookup = { email = { op = "list_members", params = function(email) return { email = email } end },
               id = { op = "get_member" } },
    normalize = function(m)
      return { id = m.id, email = m.email, name = m.name, kind = m.kind, active = m.status ~= "disabled",
               pending = m.status == "invited" or nil, last_seen_at = m.last_login }
    end,
    fields = { name = "string" },
    create = { { op = "invite_member", action = "invited",
                 body = function(s) return { email = s.email, name = s.name } end } },
    delete = { op = "delete_member" },
    rotate = { op = "new_key", kinds = { "bot" }, verify = "whoami",
               login = function(res) return { api_key = res.key } end },
  },
}
]=]

local SERVER = [=[
package.path = "ROOT/?.lua;" .. package.path
local http = require "sim.http"
local cjson = require "cjson"
local port_file, watch = arg[2], tonumber(arg[4])

local members, keys, requests, n = {}, {}, {}, 0
local function add(m) members[m.id] = m; n = n + 1; m.n = n end
add{ id = "m1", email = "ops@example.com", name = "Ops", kind = "person", status = "active",
     last_login = "2026-11-30T08:00:00Z" }
add{ id = "m2", email = "ada@example.com", name = "Ada", kind = "person", status = "active" }
add{ id = "m3", email = "ci@example.com", name = "ci bot", kind = "bot", status = "active" }
keys["quill-admin-key"] = "m1"

local function J(status, v) return { status = status, headers = { ["Content-Type"] = "application/json" },
                                     body = cjson.encode(v) } end
local function args(q)
  local t = {}
  for k, v in (q or ""):gmatch("([^&=]+)=([^&]*)") do
    t[k] = v:gsub("%%(%x%x)", function(x) return string.char(tonumber(x, 16)) end)
  end
  return t
end
local function sorted()
  local list = {}
  for _, m in pairs(members) do list[#list + 1] = m end
  table.sort(list, function(a, b) return a.n < b.n end)
  return list
end
local function shown(m)
  return { id = m.id, email = m.email, name = m.name, kind = m.kind, status = m.status, last_login = m.last_login }
end

local function handle(req)
  if req.path == "/_requests" then return J(200, requests) end
  requests[#requests + 1] = { method = req.method, path = req.path, query = req.query or "", body = req.body,
                              authorization = req.headers.authorization or "" }
  local me = keys[(req.headers.authorization or ""):match("^Bearer (.+)$") or ""]
  if not me then return J(401, { message = "bad key" }) end
  local id = req.path:match("^/api/members/([^/]+)")
  if req.path == "/api/me" then return J(200, shown(members[me])) end
  if req.path == "/api/members" and req.method == "GET" then
    local a = args(req.query)
    local list = {}
    for _, m in ipairs(sorted()) do
      if not a.email or m.email == a.email then list[#list + 1] = shown(m) end
    end
    return J(200, { members = list, next = cjson.null })
  elseif req.path == "/api/members" and req.method == "POST" then
    local b = cjson.decode(req.body)
    local m = { id = "m" .. (n + 1), email = b.email, name = b.name, kind = "person", status = "invited" }
    add(m)
    return J(201, shown(m))
  elseif id and members[id] and req.path:find("/key$") and req.method == "POST" then
    if members[id].kind ~= "bot" then return J(400, { message = "only bots have keys" }) end
    for k, who in pairs(keys) do if who == id then keys[k] = nil end end
    local key = "qk-" .. id .. "-" .. #requests
    keys[key] = id
    return J(200, { key = key })
  elseif id and members[id] and req.method == "GET" then
    return J(200, shown(members[id]))
  elseif id and members[id] and req.method == "DELETE" then
    members[id] = nil
    return { status = 204, body = "" }
  end
  return J(404, { message = "not found" })
end

http.serve { host = "127.0.0.1", port = 0, handler = handle,
  on_second = function()
    local f = io.open("/proc/" .. watch .. "/stat")
    if not f then os.exit(0) end
    f:close()
  end,
  on_listen = function(port)
    local f = assert(io.open(port_file .. ".tmp", "w"))
    f:write(tostring(port))
    f:close()
    assert(os.rename(port_file .. ".tmp", port_file))
  end }
]=]

describe("a fifth vendor with a people part, from the command", function()
  local srv, dir, env

  local function requests()
    local status, body = sim.session:request{ method = "GET", url = srv.url .. "/_requests" }
    assert(status == 200, tostring(body))
    return cjson.decode(body)
  end
  local function wire(from)
    local list = {}
    for i, r in ipairs(requests()) do
      if i > (from or 0) then
        list[#list + 1] = r.method .. " " .. r.path .. (r.query ~= "" and ("?" .. r.query) or "")
      end
    end
    return list
  end

  setup(function()
    h.build_command()
    dir = sim.sh("mktemp -d /tmp/userapi-quill.XXXXXX")
    local f = assert(io.open(dir .. "/quill_vendor.lua", "w"))
    f:write(VENDOR)
    f:close()
    f = assert(io.open(dir .. "/server.lua", "w"))
    f:write((SERVER:gsub("ROOT", sim.root)))
    f:close()
    srv = sim.spawn(dir .. "/server.lua")
    -- the built-in vendors have no credentials: only Quill is configured
    env = { USERAPI_VENDORS = "quill_vendor", LUA_PATH = dir .. "/?.lua;;",
            USERAPI_QUILL_API_KEY = "quill-admin-key", USERAPI_CONFIG = h.config_file("quill-config",
              "[default.quill]\nbase_url = " .. srv.url .. "/api\n") }
    for k in pairs(h.ENV) do if k ~= "HOME" then env[k] = "" end end
  end)
  teardown(function()
    srv.stop()
    os.execute("rm -rf " .. dir)
  end)

  it("find, offboard (--check, then for real), onboard", function()
    local r = h.userapi({ "find", "ada@example.com", "ops@example.com", "-o", "jsonl" }, env)
    assert.equal(0, r.code, r.err)
    local rows = h.jsonl(r.out)
    assert.same({ "quill", "m2", "active" }, { rows[1].vendor, rows[1].id, rows[1].state })
    assert.same({ "m1", "2026-11-30T08:00:00Z" }, { rows[2].id, rows[2].last_seen_at })
    assert.same({ "GET /api/members?email=ada%40example.com&limit=50&offset=0",
                  "GET /api/members?email=ops%40example.com&limit=50&offset=0" }, wire())
    local n = #requests()
    r = h.userapi({ "offboard", "ada@example.com", "--check" }, env)
    assert.equal(3, r.code, r.err)
    assert.same({ "GET /api/members?email=ada%40example.com&limit=50&offset=0" }, wire(n))
    n = #requests()
    r = h.userapi({ "offboard", "ada@example.com" }, env)
    assert.equal(3, r.code, r.err)
    assert.same({ "GET /api/members?email=ada%40example.com&limit=50&offset=0", "DELETE /api/members/m2" }, wire(n))
    assert.equal(0, h.userapi({ "offboard", "ada@example.com" }, env).code)
    n = #requests()
    r = h.userapi({ "onboard", "marie@example.com", "--first-name", "Marie" }, env)
    assert.equal(3, r.code, r.err)
    local post = requests()[n + 2]
    assert.same({ "POST", "/api/members", { email = "marie@example.com" } },
                { post.method, post.path, cjson.decode(post.body) })
    r = h.userapi({ "find", "marie@example.com", "-o", "jsonl" }, env)
    assert.equal("pending", h.jsonl(r.out)[1].state)
  end)

  it("rotate: its bot's key renewed and tried; a person's refused", function()
    local out = proc.tmpdir() .. "/quill-secrets.jsonl"
    os.remove(out)
    local n = #requests()
    local r = h.userapi({ "rotate", "quill:ci bot", "--out", out }, env)
    assert.equal(0, r.code, r.err)
    local rec = h.jsonl(proc.slurp(out))[1]
    assert.same({ "quill", "m3", true }, { rec.vendor, rec.id, rec.verified })
    local sent = requests()
    local key, check = sent[#sent - 1], sent[#sent]
    assert.same({ "POST", "/api/members/m3/key" }, { key.method, key.path })
    assert.same({ "GET", "/api/me", "Bearer " .. rec.api_key }, { check.method, check.path, check.authorization })
    assert.truthy(#sent > n)
    r = h.userapi({ "rotate", "quill:m1" }, env)
    assert.equal(1, r.code)
    assert.truthy(r.err:find("m1 is a person, not a bot", 1, true), r.err)
    -- a built-in vendor without a rotate part is refused before anything is sent
    assert.equal(2, h.userapi({ "rotate", "kandji:x" }, env).code)
  end)
end)
