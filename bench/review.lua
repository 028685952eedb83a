-- `userapi review` at scale: the simulator holding N accounts in each of the
-- four vendors, the command walking them side by side and writing every row.
-- Peak RSS of the command's process (VmHWM) at each N: memory must not grow
-- with the accounts (the rows go through a scratch file and sort(1)).
--
--   lua5.4 bench/review.lua [N ...]      (default 5000 10000 20000; make bench runs it)
package.path = "bench/?.lua;" .. package.path
local common = require "common"
local sh, must = common.sh, common.must

local sizes = {}
for i, a in ipairs(arg) do sizes[i] = assert(math.tointeger(tonumber(a)), "sizes are whole numbers") end
if #sizes == 0 then sizes = { 5000, 10000, 20000 } end

-- the command in-process, reporting its own peak RSS when it is done
local HARNESS = [[
local cli = require "userapi.cli"
local out = assert(io.open("/dev/null", "w"))
local code = cli.main({ "review", "-o", "jsonl", "--stale-days", "90" }, nil, { stdout = out, stderr = io.stderr })
for line in io.lines("/proc/self/status") do
  local kb = line:match("^VmHWM:%s*(%d+)")
  if kb then print("peak_kb " .. kb) end
end
os.exit(code)
]]

local dir = must("mktemp -d /tmp/userapi-bench-review.XXXXXX"):gsub("%s+$", "")
local f = assert(io.open(dir .. "/harness.lua", "w"))
f:write(HARNESS)
f:close()

local function one(n)
  local port = common.free_port()
  local pid = must(("lua5.4 sim/server.lua --port %d >%s/sim.log 2>&1 & echo $!"):format(port, dir)):match("%d+")
  local url = "http://127.0.0.1:" .. port
  for _ = 1, 100 do
    if select(2, sh("curl -sf " .. url .. "/_sim/health")) then break end
    must("sleep 0.05")
  end
  local ok, res = pcall(function()
    for _, v in ipairs({ "opendatasoft", "arthur", "kandji", "sigfox" }) do
      must(("curl -sf -X POST -d '{\"vendor\":\"%s\",\"count\":%d}' %s/_sim/seed"):format(v, n, url))
    end
    local env = table.concat({
      "USERAPI_ODS_BASE_URL=" .. url .. "/ods/api/automation/v1.0", "USERAPI_ODS_APIKEY=ods-test-key",
      "USERAPI_ARTHUR_BASE_URL=" .. url .. "/arthur", "USERAPI_ARTHUR_TOKEN=arthur-test-token",
      "USERAPI_KANDJI_BASE_URL=" .. url .. "/kandji", "USERAPI_KANDJI_TOKEN=kandji-test-token",
      "USERAPI_SIGFOX_BASE_URL=" .. url .. "/sigfox/v2", "USERAPI_SIGFOX_LOGIN=sigfox-login",
      "USERAPI_SIGFOX_PASSWORD=sigfox-secret", "HOME=/nonexistent",
      "LUA_PATH='lua/?.lua;lua/?/init.lua;;'", "LUA_CPATH='build/lua5.4/?.so;;'" }, " ")
    local clock0 = must("date +%s.%N")
    local out = must(("env %s lua5.4 %s/harness.lua"):format(env, dir))
    local secs = tonumber(must("date +%s.%N")) - tonumber(clock0)
    local accounts = tonumber(out:match("(%d+) accounts in 4 vendors"))
    return { n = n, accounts = accounts, peak_kb = tonumber(out:match("peak_kb (%d+)")), secs = secs }
  end)
  os.execute("kill " .. pid)
  if not ok then error(res, 0) end
  return res
end

print("| accounts per vendor | accounts reviewed | seconds | peak RSS |")
print("| --- | --- | --- | --- |")
local results = {}
for _, n in ipairs(sizes) do
  local r = one(n)
  results[#results + 1] = r
  print(("| %d | %d | %.1f | %.1f MB |"):format(r.n, r.accounts, r.secs, r.peak_kb / 1024))
end
os.execute("rm -rf " .. dir)
if #results > 1 then
  local first, last = results[#results - 1], results[#results]
  local growth = last.peak_kb / first.peak_kb
  print(("Peak RSS from %d to %d accounts per vendor: %.2fx (target: at most 1.10x, constant memory)")
    :format(first.n, last.n, growth))
end
