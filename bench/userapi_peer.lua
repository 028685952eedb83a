-- userapi in the benchmark scenarios. usage: LUA userapi_peer.lua SCENARIO BASE [N] [CONCURRENCY]
local userapi = require "userapi"
local core = require "userapi.core"

local scenario, base, n, conc = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4] or "1")
local ods = userapi.opendatasoft{ base_url = base, apikey = "bench-key", retries = false }

local function rss_kb()
  for line in io.lines("/proc/self/status") do
    local v = line:match("^VmHWM:%s+(%d+)")
    if v then return tonumber(v) end
  end
end

local t0 = core.now()
local extra = ""
if scenario == "S1" then
  for i = 1, n do assert(ods:get_user(("user%07d"):format(i % 5000 + 1))) end
elseif scenario == "S2" or scenario == "S4" then
  local size = scenario == "S2" and 100 or 1000
  local count = 0
  for _ in ods:each_user{ limit = size, concurrency = 1 } do -- sequential, as the peers
    count = count + 1
    if count == n then break end
  end
  assert(count == n, count)
  if scenario == "S4" then extra = rss_kb() end
elseif scenario == "S3" then
  local ids = {}
  for i = 1, n do ids[i] = ("user%07d"):format(i) end
  local res = ods:bulk("delete_user", ids, { concurrency = conc })
  assert(res.ok == n, res.failed)
end
print(("RESULT %s %.3f %d %s"):format(scenario, (core.now() - t0) / 1000, n, extra))
