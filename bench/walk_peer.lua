-- userapi walking users in the walk benchmark.
-- usage: LUA walk_peer.lua offset|cursor BASE N CONCURRENCY [WORK_MS]
-- WORK_MS: what the caller spends on each page (a sleep), 0 by default.
local userapi = require "userapi"
local core = require "userapi.core"

local style, base, n, conc, work = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5] or "0")
local client = style == "offset"
  and userapi.opendatasoft{ base_url = base .. "/ods", apikey = "bench-key", retries = false }
  or userapi.kandji{ base_url = base .. "/kandji", token = "bench-token", retries = false, rate_limit = false }
local params = { concurrency = conc }
if style == "offset" then params.limit = 100 end

local t0 = core.now()
local count = 0
for _, page, err in client:pages(params) do
  assert(page, tostring(err))
  count = count + #(page.results)
  if work > 0 then core.sleep(work) end
end
assert(count == n, count)
print(("RESULT walk %.3f %d"):format((core.now() - t0) / 1000, n))
