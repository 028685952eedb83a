-- The OpenResty scenario's client side: GET /drive?peer=userapi|handmade&n=N
-- makes N sequential get_user calls (GET + JSON decode) from this worker and
-- answers the worker's CPU time they took, read from /proc/self/stat.
local userapi = require "userapi"
local cjson = require "cjson"

local _M = {}

local BASE = os.getenv("BENCH_BASE")
local HOST, PORT, PREFIX = BASE:match("^http://([^:/]+):(%d+)(/.*)$")
PORT = tonumber(PORT)
local HOSTPORT = HOST .. ":" .. PORT

-- utime + stime of this process, in clock ticks
local function cpu_ticks()
  local f = assert(io.open("/proc/self/stat"))
  local stat = f:read("*a")
  f:close()
  -- the fields after the command name, which is in parentheses
  local rest = stat:match("%) (.*)$")
  local fields = {}
  for v in rest:gmatch("%S+") do fields[#fields + 1] = v end
  return tonumber(fields[12]) + tonumber(fields[13])
end

local ods

-- What one writes by hand for one GET: a pooled cosocket, the request, the
-- status line, headers up to Content-Length, the body, cjson.
local function handmade(id)
  local sock = ngx.socket.tcp()
  sock:settimeout(10000)
  assert(sock:connect(HOST, PORT))
  assert(sock:send("GET " .. PREFIX .. "/users/" .. id .. "/ HTTP/1.1\r\nHost: " .. HOSTPORT
    .. "\r\nAuthorization: Apikey bench-key\r\nAccept: application/json\r\n\r\n"))
  local status = tonumber(assert(sock:receive("*l")):sub(10, 12))
  local len
  while true do
    local line = assert(sock:receive("*l"))
    if line == "" then break end
    local v = line:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)")
    if v then len = tonumber(v) end
  end
  local body = assert(sock:receive(len))
  sock:setkeepalive(60000, 64)
  assert(status == 200)
  return cjson.decode(body)
end

local function with_userapi(id) return assert(ods:get_user(id)) end

function _M.drive()
  ods = ods or userapi.opendatasoft{ base_url = BASE, apikey = "bench-key", retries = false }
  local call = ngx.var.arg_peer == "handmade" and handmade or with_userapi
  local n = tonumber(ngx.var.arg_n)
  -- &profile=FILE: LuaJIT's sampling profiler over the run (a development aid)
  local profile = ngx.var.arg_profile
  if profile then require("jit.p").start("Fli1", profile) end
  if ngx.var.arg_jitv then require("jit.v").start(ngx.var.arg_jitv) end
  local t0 = cpu_ticks()
  for i = 1, n do
    local u = call(("user%07d"):format(i % 5000 + 1))
    assert(u.username)
  end
  local ticks = cpu_ticks() - t0
  if profile then require("jit.p").stop() end
  if ngx.var.arg_jitv then require("jit.v").off() end
  ngx.say(ticks)
end

return _M
