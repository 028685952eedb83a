-- Starts the vendor simulator once for the whole busted run (unless
-- USERAPI_SIM_URL points at one) and stops it by its pid at exit.
local core = require "userapi.core"
local json = require "userapi.json"

local helper = {}

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return (out:gsub("%s+$", ""))
end
helper.sh = sh

--- A free TCP port on the loopback interface, for servers a spec starts.
function helper.free_port()
  local socket = require "socket"
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

--- The one request the simulator recorded since the last reset.
function helper.only_request()
  local all = helper.requests()
  assert(#all == 1, "expected exactly one request, got " .. #all)
  return all[1]
end

helper.root = debug.getinfo(1, "S").source:match("^@(.*)/spec/helper%.lua$") or "."

--- Starts a Lua 5.4 server script on a free loopback port and waits for it.
-- The script takes `--port-file FILE --watch-pid PID` (writes its port to
-- FILE, exits when PID is gone). Stopped by its pid when the spec run ends
-- (or earlier with `stop()`).
-- @treturn table `url` (`http://127.0.0.1:PORT`), `pid`, `dir` (its temp dir), `stop()`
function helper.spawn(script)
  local dir = sh("mktemp -d /tmp/userapi-srv.XXXXXX")
  local self_pid = sh("echo $PPID")
  -- a server must not inherit the sanitizer preload of make memcheck
  local pid = sh(("env -u LD_PRELOAD lua5.4 %s --port-file %s/port --watch-pid %s >%s/log 2>&1 & echo $!")
    :format(script, dir, self_pid, dir))
  local port
  for _ = 1, 200 do
    local f = io.open(dir .. "/port")
    if f then
      port = f:read("*n")
      f:close()
      if port then break end
    end
    core.sleep(25)
  end
  if not port then error("server " .. script .. " did not start: " .. sh("cat " .. dir .. "/log")) end
  local stopped = false
  local function stop()
    if stopped then return end
    stopped = true
    os.execute("kill " .. pid .. " 2>/dev/null; rm -rf " .. dir)
  end
  -- a finalizer runs when busted closes the Lua state: stop the server
  local stopper
  if newproxy then -- LuaJIT: tables take no __gc
    stopper = newproxy(true)
    getmetatable(stopper).__gc = stop
  else
    stopper = setmetatable({}, { __gc = stop })
  end
  return { url = "http://127.0.0.1:" .. port, pid = pid, dir = dir, stop = stop, _stopper = stopper }
end

local function start()
  local server = helper.spawn(helper.root .. "/sim/server.lua")
  helper.pid, helper._server = server.pid, server
  return server.url
end

helper.url = os.getenv("USERAPI_SIM_URL") or start()
helper.session = core.session{ timeout_ms = 10000 }

--- The base URL of each vendor on the simulator.
helper.base = {
  opendatasoft = helper.url .. "/ods/api/automation/v1.0",
  arthur = helper.url .. "/arthur",
  kandji = helper.url .. "/kandji",
  sigfox = helper.url .. "/sigfox/v2",
}

--- Credentials the simulator accepts.
helper.creds = {
  opendatasoft = { apikey = "ods-test-key" },
  arthur = { access_token = "arthur-test-token" },
  kandji = { token = "kandji-test-token" },
  sigfox = { login = "sigfox-login", password = "sigfox-secret" },
}

--- A control API call; returns the decoded JSON answer.
function helper.control(method, path, body)
  local status, res = helper.session:request{
    method = method, url = helper.url .. "/_sim/" .. path,
    body = body and json.encode(body) or nil,
    headers = body and { ["Content-Type"] = "application/json" } or nil,
  }
  assert(status and status < 300, "control " .. path .. ": " .. tostring(status) .. " " .. tostring(res))
  return res ~= "" and json.decode(res) or true
end

function helper.reset() return helper.control("POST", "reset") end
function helper.requests() return helper.control("GET", "requests") end
function helper.last_request()
  local all = helper.requests()
  return all[#all]
end
function helper.fault(f) return helper.control("POST", "faults", f) end
function helper.state(vendor) return helper.control("GET", "state/" .. vendor) end
function helper.stats() return helper.control("GET", "stats") end
function helper.config(c) return helper.control("POST", "config", c) end

--- Asserts a failed call: nil, then an error object read as the README
-- promises (one attempt). Returns the error.
function helper.failed(vendor, op, status, message, res, err)
  local assert = require "luassert"
  assert.is_nil(res)
  assert.is_true(require("userapi").is_error(err))
  assert.equal(vendor, err.vendor)
  assert.equal(op, err.operation)
  assert.equal(status, err.status)
  assert.equal(message, err.message)
  assert.equal(1, err.attempts)
  assert.equal(("%s %s: %d %s"):format(vendor, op, status, message), tostring(err))
  return err
end

--- Asserts that a call raises `message` (exact, or a plain substring with
-- partial = true) and sends nothing.
function helper.refuses(message, call, partial)
  local assert = require "luassert"
  if partial then
    assert.error_matches(call, message, 1, true)
  else
    assert.has_error(call, message)
  end
  assert.same({}, helper.requests())
end

--- A clock to inject as a client's `clock` option: time moves only when the
-- client sleeps (or the spec calls `advance`), and every sleep is recorded.
-- @treturn table `now()`, `sleep(ms)`, `advance(ms)`, `slept` (the sleeps, in
-- order), `total()` (their sum)
function helper.clock()
  local c = { t = 0, slept = {} }
  function c.now() return c.t end
  function c.sleep(ms)
    c.slept[#c.slept + 1] = ms
    if ms > 0 then c.t = c.t + ms end
  end
  function c.advance(ms) c.t = c.t + ms end
  function c.total()
    local sum = 0
    for _, ms in ipairs(c.slept) do sum = sum + ms end
    return sum
  end
  return c
end

--- Asserts the headers every call of a vendor carries: its Authorization,
-- Accept JSON, and Content-Type (nil: none, for a call without body).
function helper.assert_headers(r, authorization, content_type)
  local assert = require "luassert"
  assert.equal(authorization, r.headers["authorization"])
  assert.equal("application/json", r.headers["accept"])
  assert.equal(content_type, r.headers["content-type"])
end

--- Asserts an error object of vendor: its fields `operation`, `status`,
-- `message`, `retryable` (false when absent) as given in f, and its sentence.
function helper.assert_error(vendor, err, f)
  local assert = require "luassert"
  assert.is_true(require("userapi").is_error(err))
  assert.equal(vendor, err.vendor)
  assert.equal(f.operation, err.operation)
  assert.equal(f.status, err.status)
  assert.equal(f.message, err.message)
  assert.equal(f.retryable or false, err.retryable)
  assert.equal(vendor .. " " .. f.operation .. ": " .. f.status .. " " .. f.message, tostring(err))
end

--- A client of vendor on the simulator; extra options are merged in.
function helper.client(vendor, extra)
  local opts = { base_url = helper.base[vendor], retries = false }
  for k, v in pairs(helper.creds[vendor]) do opts[k] = v end
  for k, v in pairs(extra or {}) do opts[k] = v end
  return require("userapi")[vendor](opts)
end


--- A client of vendor on the simulator with the client-side rate limit off.
function helper.unlimited(vendor, extra)
  local opts = { rate_limit = false }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return helper.client(vendor, opts)
end

--- Retries that cost no time.
helper.FAST_RETRIES = { max = 3, base_ms = 5, max_ms = 20 }

--- How many requests the simulator recorded since the last reset.
function helper.count() return #helper.requests() end

--- How many times the simulator applied vendor's operation op.
function helper.applied(vendor, op) return helper.state(vendor).applied[op] or 0 end

--- on_request events, collected: returns the list and the hook that fills it.
function helper.recorder()
  local events = {}
  return events, function(e) events[#events + 1] = e end
end

--- Everything reachable from v as one string, to grep for secrets.
function helper.dump(v, seen)
  if type(v) ~= "table" then return tostring(v) end
  seen = seen or {}
  if seen[v] then return "" end
  seen[v] = true
  local parts = { tostring(v) }
  for k, x in pairs(v) do parts[#parts + 1] = helper.dump(k, seen) .. "=" .. helper.dump(x, seen) end
  return "{" .. table.concat(parts, ",") .. "}"
end


--- The checks a vendor's specs share: `applied(op)` (how many times the
-- simulator applied op), `assert_headers(r, content_type)` (with the vendor's
-- `authorization`), `refused(fn, message, partial)` (raises, sends nothing)
-- and `assert_error(err, f)`.
function helper.checks(vendor, authorization)
  return {
    applied = function(op) return helper.state(vendor).applied[op] end,
    assert_headers = function(r, content_type) return helper.assert_headers(r, authorization, content_type) end,
    refused = function(fn, message, partial) return helper.refuses(message, fn, partial) end,
    assert_error = function(err, f) return helper.assert_error(vendor, err, f) end,
  }
end


--- The field `name` of each record of a list, in order.
function helper.pluck(list, name)
  local out = {}
  for i, r in ipairs(list) do out[i] = r[name] end
  return out
end

return helper
