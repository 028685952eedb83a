-- Run by spec/journal_spec.lua as a separate process (it gets SIGKILLed):
-- deletes the simulator's generated Kandji users 1..N with a journal and
-- prints the merged result as one JSON line.
--   lua journal_child.lua SIM_URL JOURNAL N
local userapi = require "userapi"
local cjson = require "cjson"

local url, journal, n = arg[1], arg[2], tonumber(arg[3])
local kandji = userapi.kandji{ base_url = url .. "/kandji", token = "kandji-test-token",
                               rate_limit = false, retries = false }
local ids = {}
for k = 1, n do ids[k] = ("20000000-0000-4000-8000-%012d"):format(k) end
local res = kandji:bulk("delete_user", ids, { journal = journal, concurrency = 8 })
local each = {}
for i, r in ipairs(res) do
  each[i] = { ok = r.ok, resumed = r.resumed or false, confirmed = r.confirmed or false,
              in_doubt = r.in_doubt or false, err = r.err and tostring(r.err) or nil }
end
print(cjson.encode({ ok = res.ok, failed = res.failed, resumed = res.resumed, each = each }))
