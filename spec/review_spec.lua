-- A second review, as an attacker and as a careless playbook author: each
-- case reproduces a defect found at the seams of issues 12, 13 and 14
-- against a hostile server on 127.0.0.1 (spec/review_server.lua).
local helper = require "spec.helper"
local userapi = require "userapi"
local json = require "userapi.json"

local srv = helper.spawn(helper.root .. "/spec/review_server.lua")

local function program(answers)
  local status = helper.session:request{ method = "POST", url = srv.url .. "/_program",
    body = json.encode(answers), headers = { ["Content-Type"] = "application/json" } }
  assert(status == 200)
end

local function received()
  local _, body = helper.session:request{ method = "GET", url = srv.url .. "/_requests" }
  return json.decode(body)
end

-- every string reachable from v, concatenated (keys too)
local function all_text(v, seen, out)
  out, seen = out or {}, seen or {}
  if type(v) == "table" then
    if seen[v] then return out end
    seen[v] = true
    for k, x in pairs(v) do all_text(k, seen, out) all_text(x, seen, out) end
  elseif v ~= nil then
    out[#out + 1] = tostring(v)
  end
  return table.concat(out, "\n")
end

describe("review: secrets", function()
  it("an Opendatasoft error_code echoing the API key is redacted (err.code)", function()
    local key = "ods-KEY-0123456789"
    program{ { status = 401, body = { error_code = "bad key " .. key, message = "Unauthorized" } } }
    local ods = userapi.opendatasoft{ base_url = srv.url, apikey = key, retries = false }
    local res, err = ods:get_users()
    assert.is_nil(res)
    assert.is_nil(all_text(err):find(key, 1, true))
  end)

  it("a renewed token comes back JSON-escaped or percent-encoded: redacted", function()
    local tok = 'tok/en+"x"=9Z'
    local pct = tok:gsub("[^%w]", function(c) return ("%%%02X"):format(c:byte()) end)
    program{
      { status = 200, body = { access_token = tok, expires_in = 3600 } },
      { status = 400,
        headers = { ["X-Token"] = "Bearer%20" .. pct },
        body = json.encode({ message = "bad", token = tok }) },
    }
    local arthur = userapi.arthur{ base_url = srv.url, client_id = "cid", client_secret = "csecret-123456",
                                   token_url = srv.url .. "/token", retries = false }
    local res, err = arthur:get_users_me()
    assert.is_nil(res)
    assert.equal(400, err.status)
    local text = all_text(err)
    assert.is_nil(text:find(json.encode(tok):sub(2, -2), 1, true), text)
    assert.is_nil(text:find("tok%2Fen", 1, true), text)
  end)
end)

describe("review: server data never raises in desired state", function()
  local cases = {
    { "opendatasoft", { apikey = "k-123456" },
      { results = { { username = "u", email = "a@b.co", first_name = { x = 1 } } }, total_count = 1 } },
    { "opendatasoft", { apikey = "k-123456" }, { results = { "a string" }, total_count = 1 } },
    { "arthur", { access_token = "t-123456" },
      { records = { { id = "1", email = "a@b.co", first_name = true } }, pagination = { total_pages = 1 } } },
    { "sigfox", { login = "l", password = "p-123456" },
      { data = { { id = "1", name = "a@b.co x", group = { 5 }, profiles = {} } } } },
    { "sigfox", { login = "l", password = "p-123456" },
      { data = { { id = "1", name = "a@b.co x", profiles = { 7 } } } } },
  }
  for n, c in ipairs(cases) do
    it(("ensure_user, ensure_absent and accounts on an unreadable %s record (%d): nil, err"):format(c[1], n), function()
      local opts = { base_url = srv.url, retries = false }
      for k, v in pairs(c[2]) do opts[k] = v end
      local client = userapi[c[1]](opts)
      program{ { status = 200, body = c[3] } }
      local res, err = client:ensure_user({ email = "a@b.co" }, { check = true })
      assert.is_nil(res)
      assert.equal("protocol", err.kind)
      assert.matches("a user record from the server cannot be read", tostring(err), 1, true)
      assert.is_nil(tostring(err):find("%.lua:%d"))
      res, err = client:ensure_absent("a@b.co")
      assert.is_nil(res)
      assert.equal("protocol", err.kind)
      -- nothing was deleted on the strength of it
      for _, r in ipairs(received()) do assert.equal("GET", r.method) end
      local ok, raised = pcall(function() for _ in require("userapi.people").accounts(client) do end end)
      assert.is_false(ok)
      assert.is_true(userapi.is_error(raised))
    end)
  end
end)

describe("review: journal", function()
  it("an outcome read back from the journal prints as it did (status 404, not 404.0)", function()
    helper.reset()
    local path = os.tmpname()
    os.remove(path)
    local kandji = helper.client("kandji")
    local first = kandji:bulk("delete_user", { "nope-0000" }, { journal = path })
    local again = kandji:bulk("delete_user", { "nope-0000" }, { journal = path })
    os.remove(path)
    assert.equal(1, again.resumed)
    assert.equal(tostring(first[1].err), tostring(again[1].err))
    assert.equal(math.type and "integer" or "number", (math.type or type)(again[1].err.status))
    assert.equal(math.type and "integer" or "number", (math.type or type)(again[1].err.attempts))
  end)
end)

describe("review: journal on a file that is not one", function()
  -- in a child process with a memory cap: before the fix it read /dev/zero without end
  local function child(code)
    local lua, build = "lua5.4", "lua5.4"
    if jit then lua, build = "luajit", "luajit" end
    local root = helper.root
    local cmd = ("cd %s && ulimit -v 600000; LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua;;' "
      .. "LUA_CPATH='%s/build/%s/?.so;;' timeout 60 %s -e %q 2>&1"):format(root, root, root, root, build, lua, code)
    return helper.sh(cmd)
  end

  it("--journal /dev/zero is refused with a clear error, not read until memory runs out", function()
    local out = child([[
      local c = require("userapi").kandji{ base_url = "http://127.0.0.1:9", token = "tok-123456", retries = false }
      local ok, err = pcall(c.bulk, c, "delete_user", { "a" }, { journal = "/dev/zero" })
      print(ok, err)]])
    assert.equal("false\tbad argument #3 to 'bulk' (journal /dev/zero is not a regular file (a pipe, a device or a "
      .. "directory))", out)
  end)

  it("a journal that cannot be created fails with a message without a file position", function()
    local kandji = helper.client("kandji")
    local ok, err = pcall(kandji.bulk, kandji, "delete_user", { "a" }, { journal = "/nonexistent-dir/j" })
    assert.is_false(ok)
    assert.matches("^userapi journal: cannot open /nonexistent%-dir/j", err)
  end)
end)

describe("review: credentials and URLs refused at construction", function()
  local function refuses(vendor, opts, message)
    local ok, err = pcall(userapi[vendor], opts)
    assert.is_false(ok)
    assert.equal(message, tostring(err))  -- a structured refusal (userapi.refusal)
    assert.is_nil(err:find("SEC", 1, true))
  end

  it("a control byte in a token, key, login or secret: bad argument naming the option, no file position", function()
    local bad = "bad argument #1 to 'userapi.%s' (%s: contains a control byte (TAB, CR, LF, DEL, ...))"
    refuses("kandji", { subdomain = "acme", token = "SEC\tRET-1234" }, bad:format("kandji", "token"))
    refuses("opendatasoft", { domain = "x.example", apikey = "SEC\127RET" }, bad:format("opendatasoft", "apikey"))
    refuses("sigfox", { login = "lo\tgin", password = "SECRET-PW" }, bad:format("sigfox", "login"))
    refuses("arthur", { client_id = "id", client_secret = "SEC\rRET-x" }, bad:format("arthur", "client_secret"))
    -- and in the other text options the C core refused with a file position
    refuses("kandji", { subdomain = "acme", token = "tok-1234", user_agent = "x\r\nX-Evil: 1" },
      bad:format("kandji", "user_agent"))
    refuses("kandji", { subdomain = "acme", token = "tok-1234", ca_file = "/tmp/x\n" }, bad:format("kandji", "ca_file"))
  end)

  it("a proxy URL without a host is refused, never quoted with its password by libcurl", function()
    refuses("kandji", { subdomain = "acme", token = "tok-123456", proxy = "http://u:SECRETPW@" },
      "bad argument #1 to 'userapi.kandji' (proxy: a URL with a host expected)")
    refuses("kandji", { subdomain = "acme", token = "tok-123456", proxy = "http://u:SECRETPW@proxy:8080/\r\n" },
      "bad argument #1 to 'userapi.kandji' (proxy: contains a control byte or a space)")
    -- libcurl's "Unsupported proxy scheme for 'socks9://u:SECRETPW@...'" reached on_request (and -v) unredacted
    refuses("kandji", { subdomain = "acme", token = "tok-123456", proxy = "socks9://u:SECRETPW@127.0.0.1:1" },
      "bad argument #1 to 'userapi.kandji' (proxy: scheme http, https, socks4, socks4a, socks5 or socks5h expected)")
    refuses("kandji", { subdomain = "acme", token = "tok-123456", proxy = "http://u:SECRETPW@127.0.0.1:99999" },
      "bad argument #1 to 'userapi.kandji' (proxy: port 1..65535 expected)")
  end)

  it("a refused base_url of an odd shape is quoted without its password", function()
    refuses("kandji", { base_url = "http:/u:SECRETPW@example.com", token = "tok-123456" },
      "userapi.kandji: base_url must be an http(s) URL, got 'http:/[REDACTED]@example.com'")
    refuses("kandji", { base_url = " http://u:SECRETPW@example.com", token = "tok-123456" },
      "userapi.kandji: base_url must be an http(s) URL, got '[REDACTED]@example.com'")
  end)
end)

describe("review: bulk and tokens", function()
  it("bulk with a token endpoint that fails returns failed items (no raise), one token request", function()
    program{ { status = 500, body = { error = "server_error", error_description = "IdP down" } } }
    local arthur = userapi.arthur{ base_url = srv.url, client_id = "cid", client_secret = "csecret-1234",
                                   token_url = srv.url .. "/token", retries = false }
    local ok, res = pcall(arthur.bulk, arthur, "delete_user", { "a", "b", "c" })
    assert.is_true(ok, tostring(res))
    assert.same({ 0, 3 }, { res.ok, res.failed })
    for i = 1, 3 do assert.equal("arthur token: 500 IdP down", tostring(res[i].err)) end
    local sent = received()
    assert.equal(1, #sent)
    assert.equal("/token", sent[1].path)
  end)
end)

describe("review: partial failures are not reported as no change", function()
  it("ensure_absent deleting one of two accounts, then failing: the error and Ansible say changed", function()
    local users = { { id = "u1", email = "ada@x.co" }, { id = "u2", email = "ada@x.co" } }
    local page = { status = 200, body = { results = users, next = json.null } }
    program{ page, { status = 204, body = "" }, { status = 400, body = { detail = "User still assigned." } } }
    local kandji = userapi.kandji{ base_url = srv.url, token = "tok-123456", retries = false }
    local res, err = kandji:ensure_absent("ada@x.co", { all = true })
    assert.is_nil(res)
    assert.equal(400, err.status)
    assert.is_true(err.changed)
    assert.equal("u1", err.removed[1].id)
    -- the same through the Ansible module
    program{ page, { status = 204, body = "" }, { status = 400, body = { detail = "User still assigned." } } }
    local args = os.tmpname()
    local f = assert(io.open(args, "w"))
    f:write(json.encode{ vendor = "kandji", email = "ada@x.co", state = "absent", all = true, base_url = srv.url,
                         credentials = { token = "tok-123456" } })
    f:close()
    local out = helper.sh(("cd %s && LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua;;' LUA_CPATH='%s/build/lua5.4/?.so;;' "
      .. "HOME=/nonexistent lua5.4 ansible/library/userapi_user %s"):format(helper.root, helper.root, helper.root,
      helper.root, args))
    os.remove(args)
    local answer = json.decode(out)
    assert.is_true(answer.failed)
    assert.is_true(answer.changed)
    assert.is_nil(out:find("tok-123456", 1, true))
  end)
end)

describe("review: a token lifetime from the server", function()
  local redis = require "spec.budget.redis"
  local server
  setup(function() server = redis.start() end)
  teardown(function() server.stop() end)

  it("an absurd expires_in (1e300 s) neither breaks the shared store nor costs a token per request", function()
    program{ { status = 200, body = '{"access_token": "tok-1e300", "expires_in": 1e300}' },
             { status = 200, body = { id = "me" } } }
    local lines = {}
    local function arthur()
      return userapi.arthur{ base_url = srv.url, token_url = srv.url .. "/token", retries = false,
        client_id = "cid-1e300", client_secret = "csecret-1e300", store = server.url,
        log = function(msg) lines[#lines + 1] = msg end }
    end
    local a, b = arthur(), arthur()
    assert(a:get_users_me())
    assert(b:get_users_me())
    assert.same({}, lines)
    local tokens = 0
    for _, r in ipairs(received()) do if r.path == "/token" then tokens = tokens + 1 end end
    assert.equal(1, tokens)
  end)
end)

describe("review: programmer errors raise at construction, not after a request went out", function()
  it("a retries value of the wrong type or range", function()
    local function bad(retries, message)
      local ok, err = pcall(userapi.kandji, { base_url = srv.url, token = "tok-123456", retries = retries })
      assert.is_false(ok)
      assert.equal(message, err)
    end
    bad({ max_ms = "x" }, "userapi: retries.max_ms must be a finite number >= 0, got x")
    bad({ max = -1 }, "userapi: retries.max must be an integer >= 0, got -1")
    bad({ max = 1.5 }, "userapi: retries.max must be an integer >= 0, got 1.5")
    bad({ unsafe = 1 }, "userapi: retries.unsafe must be a boolean, got 1")
    -- what it prevented: a 503 answered, then a raise from the comparison with "x"
    assert.has_no_error(function()
      userapi.kandji{ base_url = srv.url, token = "tok-123456", retries = { max = 0, base_ms = 1, max_ms = 5 } }
    end)
  end)

  it("an unknown transport name: bad argument, not a module search path with file positions", function()
    local ok, err = pcall(userapi.kandji, { base_url = srv.url, token = "tok-123456", transport = "record" })
    assert.is_false(ok)
    assert.equal("bad argument #1 to 'userapi.kandji' (transport: \"curl\", \"nginx\" or a transport module expected, "
      .. "got 'record')", tostring(err))
  end)
end)

describe("review: JSON-escaped secrets as other servers escape them", function()
  it("a password echoed by a server that leaves '/' alone (Python) or escapes <>& (Go) is redacted", function()
    local pw = 'pa/ss"w&rd<1>'
    local python = 'pa/ss\\"w&rd<1>'                       -- json.dumps
    local go = 'pa/ss\\"w\\u0026rd\\u003c1\\u003e'          -- encoding/json
    program{ { status = 401, headers = { ["Content-Type"] = "application/json" },
               body = '{"message": "bad", "a": "' .. python .. '", "b": "' .. go .. '"}' } }
    local sigfox = userapi.sigfox{ base_url = srv.url, login = "login-1", password = pw, retries = false }
    local res, err = sigfox:list_api_users()
    assert.is_nil(res)
    local text = all_text(err)
    assert.is_nil(text:find(python, 1, true), text)
    assert.is_nil(text:find(go, 1, true), text)
  end)
end)

describe("review: a plan asked for carelessly never writes", function()
  it("check = 'true', check = 1 or dry_run = true raise before anything is sent", function()
    local page = { status = 200, body = { results = { { id = "u1", email = "ada@x.co" } }, next = json.null } }
    local kandji = userapi.kandji{ base_url = srv.url, token = "tok-123456", retries = false }
    for _, opts in ipairs({ { check = "true" }, { check = 1 }, { dry_run = true }, { check_mode = true } }) do
      program{ page, { status = 204, body = "" } }
      assert.error_matches(function() kandji:ensure_absent("ada@x.co", opts) end, "^bad argument #2 to 'ensure_absent'")
      assert.error_matches(function() userapi.directory{ kandji = kandji }:offboard("ada@x.co", opts) end,
        "^bad argument #2 to 'ensure_absent'")
      assert.same({}, received())
    end
  end)
end)

describe("review: bulk options", function()
  it("an unknown bulk option (dry_run, check) raises before anything is sent", function()
    program{ { status = 204, body = "" } }
    local kandji = userapi.kandji{ base_url = srv.url, token = "tok-123456", retries = false }
    for _, opts in ipairs({ { dry_run = true }, { check = true }, { dry_run = true, journal = os.tmpname() } }) do
      assert.error_matches(function() kandji:bulk("delete_user", { "u1", "u2" }, opts) end,
        "bad argument #3 to 'bulk' (unknown option '", 1, true)
      if opts.journal then os.remove(opts.journal) end
    end
    assert.same({}, received())
  end)
end)

describe("review: careless inputs", function()
  it("bulk items with a hole raise instead of dropping the items after it", function()
    local kandji = userapi.kandji{ base_url = srv.url, token = "tok-123456", retries = false }
    program{ { status = 204, body = "" } }
    -- the length of a table with a hole is 1 or 3 as the Lua likes: either way "u3" must not be lost
    assert.has_error(function() kandji:bulk("delete_user", { "u1", nil, "u3" }) end,
      "bad argument #2 to 'bulk' (item 2 is nil)")
    local journal = os.tmpname()
    assert.has_error(function() kandji:bulk("delete_user", { "u1", nil, "u3" }, { journal = journal }) end,
      "bad argument #2 to 'bulk' (item 2 is nil)")
    os.remove(journal)
    assert.same({}, received())
  end)

  it("onboard with a vendor's fields that are not a table: bad argument, no file position", function()
    local sigfox = userapi.sigfox{ base_url = srv.url, login = "l", password = "p-123456", retries = false }
    local ok, err = pcall(function() return userapi.directory{ sigfox }:onboard{ email = "a@b.co", sigfox = 5 } end)
    assert.is_false(ok)
    assert.equal("bad argument #1 to 'onboard' (sigfox: table of its fields expected, got number)", err)
  end)
end)

describe("review: the Ansible info module", function()
  it("a listing cut at its bound says truncated and warns, instead of passing for the whole", function()
    local users = {}
    for i = 1, 3 do users[i] = { id = "u" .. i, email = "u" .. i .. "@x.co" } end
    program{ { status = 200, body = { results = users, next = json.null } } }
    local args = os.tmpname()
    local f = assert(io.open(args, "w"))
    f:write(json.encode{ vendor = "kandji", base_url = srv.url, credentials = { token = "tok-123456" } })
    f:close()
    local code = ("local a = require 'userapi.ansible'; a.MAX_ACCOUNTS = 2; os.exit(a.main('info', %q))"):format(args)
    local out = helper.sh(("cd %s && LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua;;' LUA_CPATH='%s/build/lua5.4/?.so;;' "
      .. "HOME=/nonexistent lua5.4 -e %q"):format(helper.root, helper.root, helper.root, helper.root, code))
    os.remove(args)
    local answer = json.decode(out)
    assert.equal(2, answer.count)
    assert.is_true(answer.truncated)
    assert.matches("stops at 2 accounts", answer.warnings[1], 1, true)
  end)
end)

describe("review: tenants on one shared store", function()
  local redis = require "spec.budget.redis"
  local server
  setup(function() server = redis.start() end)
  teardown(function() server.stop() end)

  it("two Arthur organizations with token functions never send each other's token", function()
    program{ { status = 200, body = { id = "me" } } }
    local function org(token)
      return userapi.arthur{ base_url = srv.url, retries = false, store = server.url, log = false,
                             token = function() return token, 3600 end }
    end
    assert(org("org-A-token-1234"):get_users_me())
    assert(org("org-B-token-5678"):get_users_me())
    local sent = received()
    assert.equal("Bearer org-A-token-1234", sent[1].headers.authorization)
    assert.equal("Bearer org-B-token-5678", sent[2].headers.authorization)
  end)
end)
