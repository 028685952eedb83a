-- The nginx side of spec/nginx/transport_spec.lua: handlers that use
-- userapi in each phase and answer what happened as JSON.
local userapi = require "userapi"
local json = require "userapi.json"

local _M = {}

local ADA = "69c009ca-1f78-4bdf-bb93-08d6d39041db"

local function reply(v)
  ngx.header["Content-Type"] = "application/json"
  ngx.say(json.encode(v))
end

-- A Kandji client; `base` is the simulator by default.
local function kandji(extra, base)
  local opts = { base_url = (base or os.getenv("USERAPI_SIM_URL")) .. "/kandji", token = "kandji-test-token",
                 retries = false, rate_limit = false, allow_insecure = true }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return userapi.kandji(opts)
end

-- A Kandji client that can reach its vendor only through the proxy.
local function proxied(scheme, extra)
  extra = extra or {}
  extra.proxy = extra.proxy or os.getenv("USERAPI_PROXY")
  return kandji(extra, os.getenv(scheme == "https" and "USERAPI_VIA_HTTPS" or "USERAPI_VIA_HTTP"))
end

local function outcome(c)
  local ok, u, err = pcall(c.get_user, c, ADA)
  if not ok then return { raised = tostring(u) } end
  if not u then
    return { kind = err.kind, status = err.status, text = tostring(err), body = err.body }
  end
  return { email = u.email, tls = u.tls }
end

function _M.at_init()
  local res = {}
  for _, scheme in ipairs({ "http", "https" }) do
    res[scheme] = outcome(proxied(scheme, { ca_file = os.getenv("USERAPI_CA") }))
  end
  ngx.shared.results:set("init", json.encode(res))
end

function _M.results()
  local out = {}
  for _, k in ipairs(ngx.shared.results:get_keys()) do out[k] = ngx.shared.results:get(k) end
  reply(out)
end

function _M.proxied() reply(outcome(proxied(ngx.var.arg_scheme))) end

function _M.denied()
  reply(outcome(proxied(ngx.var.arg_scheme, { proxy = os.getenv("USERAPI_BAD_PROXY") })))
end

-- straight to the TLS stand-in by address: its certificate names vendor.test
function _M.direct_tls()
  local port = os.getenv("USERAPI_VIA_HTTPS"):match(":(%d+)$")
  reply(outcome(kandji({ verify_tls = ngx.var.arg_verify ~= "false" }, "https://127.0.0.1:" .. port)))
end

-- options cosockets cannot honour
function _M.refused()
  local what = ngx.var.arg_what
  local c
  if what == "socks" then c = kandji{ proxy = "socks5://127.0.0.1:1080" }
  else c = kandji{ ca_file = os.getenv("USERAPI_CA") } end
  reply(outcome(c))
end

function _M.deadline()
  ngx.update_time()
  local t0 = ngx.now()
  local res = outcome(kandji{ timeout_ms = 1000 })
  ngx.update_time()
  res.ms = (ngx.now() - t0) * 1000
  reply(res)
end

function _M.retry()
  local log
  if ngx.var.arg_log == "false" then log = false end
  local c = kandji{ retries = { max = 2, base_ms = 1 }, log = log, transport = ngx.var.arg_transport }
  ngx.update_time()
  local t0 = ngx.now()
  local res = outcome(c)
  ngx.update_time()
  res.ms, res.retried = (ngx.now() - t0) * 1000, c.retried
  reply(res)
end

function _M.pool()
  local a = ngx.var
  local c = kandji{ pool_size = tonumber(a.arg_size), backlog = tonumber(a.arg_backlog),
                    keepalive_timeout_ms = tonumber(a.arg_keepalive) }
  local ok = 0
  if a.arg_mode == "bulk" then
    local ids = {}
    for i = 1, 5 do ids[i] = ADA end
    ok = c:bulk("get_user", ids, { concurrency = 5 }).ok
  else
    for _ = 1, 2 do
      if c:get_user(ADA) then ok = ok + 1 end
      ngx.sleep(0.3)
    end
  end
  reply{ ok = ok }
end

function _M.multi_wait()
  local c = kandji()
  local m = c.transport:multi()
  -- the clock starts before add: add may send the request at once, and the
  -- simulator's second starts when it reads it
  ngx.update_time()
  local t_add = ngx.now()
  m:add{ method = "GET", url = c.base_url .. "/api/v1/users", query = { email = "slow" } }
  ngx.update_time()
  local t0 = ngx.now()
  local first = m:wait(100)
  ngx.update_time()
  local t1 = ngx.now()
  local second = m:wait(5000)
  ngx.update_time()
  local t2 = ngx.now()
  m:close()
  reply{ first = #first, first_ms = (t1 - t0) * 1000, second = second[1] and second[1].status,
         second_ms = (t2 - t_add) * 1000 }
end

-- one headers table changed between requests: each request carries it as it is then
function _M.headers()
  local t = kandji().transport
  local h = { ["X-Probe"] = "one" }
  local url = os.getenv("USERAPI_SIM_URL") .. "/kandji/api/v1/users/" .. ADA
  local function send() return (t:request{ method = "GET", url = url, headers = h }) end
  local statuses = { send() }
  h["X-Probe"] = "two"
  statuses[2] = send()
  h["X-Other"] = "three"
  statuses[3] = send()
  h["X-Probe"] = nil
  statuses[4] = send()
  reply(statuses)
end

-- a call in a phase without cosockets: what it did, kept for /results
function _M.in_phase(phase)
  local ok, err = pcall(function() return kandji():get_user(ADA) end)
  ngx.shared.results:set(phase, ok and "sent" or tostring(err))
  return "done"
end

-- the same call on a client built with transport = "nginx": the same refusal
function _M.in_phase_forced(phase)
  local ok, err = pcall(function() return kandji{ transport = "nginx" }:get_user(ADA) end)
  ngx.shared.results:set("nginx_" .. phase, ok and "sent" or tostring(err))
  return "done"
end

-- the opt-in: libcurl blocks this log phase; its retry waits would too, so they raise
function _M.log_curl()
  local ok, err = pcall(function() return kandji({ transport = "curl", retries = { max = 1 } }):get_user(ADA) end)
  ngx.shared.results:set("log_curl_wait", ok and "no error" or tostring(err))
  local u = kandji{ transport = "curl" }:get_user(ADA)
  ngx.shared.results:set("log_curl", u and u.email or "failed")
end

return _M
