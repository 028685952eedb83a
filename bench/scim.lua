-- make bench-scim: worker CPU per request of the SCIM bridge's
-- GET /Users?filter=userName eq "..." against a plain userapi lookup of the
-- same account in the same nginx worker, the simulator behind both (its time
-- is not the worker's). Target: at most 1.3x.
-- usage: lua5.4 bench/scim.lua [REQUESTS_A_BATCH [BATCHES]]
local ROOT = arg[0]:match("^(.*)/bench/scim%.lua$") or "."
if ROOT:sub(1, 1) ~= "/" then ROOT = io.popen("cd " .. ROOT .. " && pwd"):read("*l") end
package.path = ROOT .. "/?.lua;" .. ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;" .. package.path

local core = require "userapi.core"
local sim = require "spec.helper"
local run = require "spec.nginx.run"

local N = tonumber(arg[1]) or 300     -- requests a batch
local ROUNDS = tonumber(arg[2]) or 25
local TOKEN = "bench-scim-token-000"

-- the worker's CPU time so far, in seconds: /proc/PID/schedstat counts
-- nanoseconds on the CPU (the 10 ms ticks of /proc/PID/stat are too coarse)
local function cpu(pid)
  local f = assert(io.open("/proc/" .. pid .. "/schedstat"))
  local ns = f:read("*n")
  f:close()
  return ns / 1e9
end

sim.reset()
local url, stop, prefix = run.start("bench/scim.conf.in", "nginx.pid", run.filler(), { USERAPI_SCIM_TOKEN = TOKEN })
local ok, err = pcall(function()
  local master = sim.sh("cat " .. prefix .. "/nginx.pid")
  local worker = sim.sh("pgrep -P " .. master)
  local session = core.session{ timeout_ms = 10000 }
  local scim = url .. "/scim/v2/opendatasoft/Users?filter=userName%20eq%20%22ada%40example.com%22"
  local plain = url .. "/plain?email=ada%40example.com"
  local headers = { Authorization = "Bearer " .. TOKEN }
  local function measure(target)
    local before = cpu(worker)
    for _ = 1, N do
      local status, body = session:request{ method = "GET", url = target, headers = headers }
      assert(status == 200, tostring(status) .. " " .. tostring(body))
      assert(body:find("ada@example.com", 1, true), body)
    end
    return (cpu(worker) - before) / N
  end
  for _ = 1, 3 do measure(scim) measure(plain) end -- warm: JIT, pools, the dicts
  -- paired batches, close in time: a shared machine slows both alike; the median of the pairs
  local ratios, scims, plains = {}, {}, {}
  for i = 1, ROUNDS do
    scims[i], plains[i] = measure(scim), measure(plain)
    ratios[i] = scims[i] / plains[i]
  end
  local function median(t)
    table.sort(t)
    return t[(#t + 1) // 2]
  end
  local ratio = median(ratios)
  print(("scim userName eq (1 vendor lookup)  %7.1f us CPU/request (median of %d batches of %d)")
    :format(median(scims) * 1e6, ROUNDS, N))
  print(("plain userapi lookup (same worker)  %7.1f us CPU/request"):format(median(plains) * 1e6))
  print(("ratio %.2fx, median of the pairs (target <= 1.30x) %s"):format(ratio, ratio <= 1.3 and "ok" or "OVER"))
end)
stop()
assert(ok, err)
