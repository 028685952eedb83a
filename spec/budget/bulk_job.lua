-- A plain-Lua bulk job sharing a Redis budget (run by spec/redis_spec.lua):
-- lua spec/budget/bulk_job.lua REDIS_URL ITEMS OUT_FILE, with USERAPI_SIM_URL set.
local sim = require "spec.helper"
local json = require "userapi.json"
local redis_url, n, out = arg[1], tonumber(arg[2]), arg[3]
local c = sim.client("kandji", { store = redis_url })
c.warn = function(msg) io.stderr:write(msg, "\n") end
local ids = {}
for i = 1, n do ids[i] = "69c009ca-1f78-4bdf-bb93-08d6d39041db" end
local res = c:bulk("get_user", ids, { concurrency = 16 })
local f = assert(io.open(out, "w"))
f:write(json.encode{ ok = res.ok, failed = res.failed })
f:close()
