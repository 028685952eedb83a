-- Keep-alive throughput check: one connection, N sequential requests.
-- usage: lua5.4 sim/bench.lua PORT [N] [PATH] [AUTH-HEADER]
-- Run several copies in parallel for concurrent connections.
local socket = require "socket"

local port = assert(tonumber(arg[1]), "usage: bench.lua PORT [N] [PATH] [AUTH]")
local n = tonumber(arg[2] or "10000")
local path = arg[3] or "/kandji/api/v1/users/69c009ca-1f78-4bdf-bb93-08d6d39041db"
local auth = arg[4] or "Authorization: Bearer kandji-test-token"

local c = assert(socket.connect("127.0.0.1", port))
c:setoption("tcp-nodelay", true)
local req = "GET " .. path .. " HTTP/1.1\r\nHost: 127.0.0.1:" .. port .. "\r\n" .. auth .. "\r\n\r\n"
local t0, bad = socket.gettime(), 0
for _ = 1, n do
  assert(c:send(req))
  local status = assert(c:receive("*l"))
  if not status:find(" 200 ", 1, true) then bad = bad + 1 end
  local len = 0
  while true do
    local l = assert(c:receive("*l"))
    if l == "" then break end
    local v = l:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)")
    if v then len = tonumber(v) end
  end
  if len > 0 then assert(c:receive(len)) end
end
local dt = socket.gettime() - t0
c:close()
print(string.format("%d requests in %.2fs = %.0f req/s (non-200: %d)", n, dt, n / dt, bad))
