-- LuaSocket's socket.http with lua-cjson. usage: lua5.4 luasocket_peer.lua SCENARIO BASE N
local http = require "socket.http"
local ltn12 = require "ltn12"
local socket = require "socket"
local cjson = require "cjson"

local scenario, base, n = arg[1], arg[2], tonumber(arg[3])

local function request(method, url)
  local out = {}
  local _, status = http.request{ method = method, url = url, sink = ltn12.sink.table(out),
                                  headers = { Authorization = "Apikey bench-key" } }
  return status, table.concat(out)
end

local t0 = socket.gettime()
if scenario == "S1" then
  for i = 1, n do
    local status, body = request("GET", ("%s/users/user%07d/"):format(base, i % 5000 + 1))
    assert(status == 200 and cjson.decode(body))
  end
elseif scenario == "S2" then
  local count, offset = 0, 0
  while count < n do
    local status, body = request("GET", ("%s/users/?limit=100&offset=%d"):format(base, offset))
    assert(status == 200)
    for _ in ipairs(cjson.decode(body).results) do count = count + 1 end
    offset = offset + 100
  end
elseif scenario == "S3" then
  for i = 1, n do assert(request("DELETE", ("%s/users/user%07d/"):format(base, i)) == 204) end
end
print(("RESULT %s %.3f %d"):format(scenario, socket.gettime() - t0, n))
