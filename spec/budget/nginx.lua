-- Starts the budget specs' nginx (spec/budget/nginx.conf.in) and drives runs in it.
local core = require "userapi.core"
local json = require "userapi.json"
local sim = require "spec.helper"
local sh, free_port = sim.sh, sim.free_port

local _M = {}

local ROOT = debug.getinfo(1, "S").source:match("^@(.*)/spec/budget/nginx%.lua$") or "."
if ROOT:sub(1, 1) ~= "/" then ROOT = io.popen("pwd"):read("*l") .. "/" .. ROOT end
_M.ROOT = ROOT

--- Starts nginx with `workers` workers; `dict` is the shared dict line (or "").
-- `env` adds environment variables. Returns an instance: url, stop(), run(params).
function _M.start(workers, dict, env)
  local prefix = sh("mktemp -d /tmp/userapi-budget.XXXXXX")
  os.execute("mkdir -p " .. prefix .. "/tmp " .. prefix .. "/logs")
  local port = free_port()
  local conf = assert(io.open(ROOT .. "/spec/budget/nginx.conf.in")):read("*a")
  conf = conf:gsub("@(%u+)@", { PREFIX = prefix, ROOT = ROOT, PORT = tostring(port),
                                WORKERS = tostring(workers), DICT = dict or "" })
  local f = assert(io.open(prefix .. "/nginx.conf", "w"))
  f:write(conf)
  f:close()
  -- nginx must not inherit the sanitizer preload of make memcheck
  local out = sh(("env -u LD_PRELOAD USERAPI_SIM_URL=%s %s /usr/sbin/nginx -p %s -c %s/nginx.conf 2>&1; echo rc=$?")
    :format(sim.url, env or "", prefix, prefix))
  assert(out:find("rc=0", 1, true), "nginx did not start: " .. out)
  local self = { url = "http://127.0.0.1:" .. port, prefix = prefix, workers = workers,
                 session = core.session{ timeout_ms = 10000 } }

  function self.stop()
    local pid = io.open(prefix .. "/nginx.pid")
    if pid then
      os.execute("kill " .. pid:read("*l"))
      pid:close()
    end
    if os.getenv("USERAPI_KEEP_NGINX") then print("nginx prefix kept: " .. prefix) return end
    os.execute("sleep 0.2; rm -rf " .. prefix)
  end

  local function get(path)
    for _ = 1, 100 do
      local status, body = self.session:request{ method = "GET", url = self.url .. path }
      if status == 200 then return json.decode(body) end
      core.sleep(20)
    end
    error("nginx did not answer " .. path .. "; error.log: " .. sh("tail -5 " .. prefix .. "/error.log"))
  end

  --- Starts a run in every worker (query parameters `params`); returns the request
  --- to wait for it.
  function self.start_run(params)
    local q = {}
    for k, v in pairs(params) do q[#q + 1] = k .. "=" .. tostring(v) end
    return ("%d"):format(get("/run?" .. table.concat(q, "&")).id)
  end

  --- Waits for run `id` to finish in every worker; returns their reports.
  function self.wait_run(id, timeout_ms)
    local deadline = core.now() + (timeout_ms or 30000)
    while core.now() < deadline do
      local s = get("/status?id=" .. id)
      if #s.done == s.workers then return s.done end
      core.sleep(50)
    end
    error("run " .. id .. " did not finish; error.log: " .. sh("tail -5 " .. prefix .. "/error.log"))
  end

  function self.run(params, timeout_ms) return self.wait_run(self.start_run(params), timeout_ms) end

  --- The lines of error.log that match a plain string.
  function self.log_lines(s)
    local lines = {}
    for line in io.lines(prefix .. "/error.log") do
      if line:find(s, 1, true) then lines[#lines + 1] = line end
    end
    return lines
  end

  get("/status?id=0")
  return self
end

return _M
