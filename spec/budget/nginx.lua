-- Starts the budget specs' nginx (spec/budget/nginx.conf.in) and drives runs in it.
local core = require "userapi.core"
local json = require "userapi.json"
local sim = require "spec.helper"
local run = require "spec.nginx.run"
local sh = sim.sh

local _M = {}

--- Starts nginx with `workers` workers; `dict` is the shared dict line (or "").
-- `env` is a table of variables the config passes on. Returns an instance:
-- url, stop(), run(params).
function _M.start(workers, dict, env)
  local url, stop, prefix = run.start("spec/budget/nginx.conf.in", "nginx.pid",
                                      run.filler{ WORKERS = tostring(workers), DICT = dict or "" }, env)
  local self = { url = url, prefix = prefix, workers = workers, stop = stop,
                 session = core.session{ timeout_ms = 10000 } }

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

  --- Whether a worker holds the token renewal lock in the dict, and its pid when the lock names it.
  function self.renewer()
    local r = get("/renewer")
    return r.locked, r.pid
  end

  --- Fills the userapi dict to the last byte; returns how many entries it took.
  function self.fill() return get("/fill").entries end

  --- The keys of the userapi dict without an expiry.
  function self.forever() return get("/forever").keys end

  --- The pid of a worker of this nginx with a connection open to the simulator, or nil.
  function self.talking_to_sim()
    local pid = sh(("ss -tnpH state established '( dport = :%s )' | grep -o 'pid=[0-9]*' | cut -d= -f2"
      .. " | grep -xF \"$(ps -o pid= --ppid $(cat %s/nginx.pid) | tr -d ' ')\" | head -1")
      :format(sim.url:match(":(%d+)$"), prefix))
    return pid ~= "" and tonumber(pid) or nil
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
