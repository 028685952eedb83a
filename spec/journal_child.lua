-- Run by spec/journal_spec.lua and spec/journal_guard_spec.lua as a separate
-- process (it gets SIGKILLed, or runs beside another): with a journal,
-- deletes the simulator's generated Kandji users 1..N, or creates N Sigfox
-- API users, and prints the merged result as one JSON line.
--   lua journal_child.lua SIM_URL JOURNAL N [delete|create]
local userapi = require "userapi"
local cjson = require "cjson"

local url, journal, n, what = arg[1], arg[2], tonumber(arg[3]), arg[4] or "delete"
local client, opname
local items = {}
if what == "create" then
  client = userapi.sigfox{ base_url = url .. "/sigfox/v2", login = "sigfox-login", password = "sigfox-secret",
                           rate_limit = false, retries = false }
  opname = "create_api_user"
  for k = 1, n do
    items[k] = { { groupId = "babecafebabecafebabedcef", name = "journal user " .. k, timezone = "UTC",
                   profileIds = { "5138e7dfa2f1fffaf25fd409" } } }
  end
else
  client = userapi.kandji{ base_url = url .. "/kandji", token = "kandji-test-token", rate_limit = false,
                           retries = false }
  opname = "delete_user"
  for k = 1, n do items[k] = ("20000000-0000-4000-8000-%012d"):format(k) end
end
local res = client:bulk(opname, items, { journal = journal, concurrency = 8 })
local each = {}
for i, r in ipairs(res) do
  each[i] = { ok = r.ok, resumed = r.resumed or false, confirmed = r.confirmed or false,
              in_doubt = r.in_doubt or false, err = r.err and tostring(r.err) or nil }
end
print(cjson.encode({ ok = res.ok, failed = res.failed, resumed = res.resumed, each = each }))
