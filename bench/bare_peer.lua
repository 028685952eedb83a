-- The bare same stack: one reused libcurl handle (bench/bare.c) and
-- cjson.decode in a Lua loop. usage: LUA bare_peer.lua SCENARIO BASE N
local bare = require "benchbare"
local cjson = require "cjson"
local now = require("userapi.core").now

local scenario, base, n = arg[1], arg[2], tonumber(arg[3])
local t0 = now()
if scenario == "S1" then
  for i = 1, n do
    local status, body = bare.request("GET", ("%s/users/user%07d/"):format(base, i % 5000 + 1))
    assert(status == 200 and cjson.decode(body))
  end
elseif scenario == "S2" then
  local count, offset = 0, 0
  while count < n do
    local status, body = bare.request("GET", ("%s/users/?limit=100&offset=%d"):format(base, offset))
    assert(status == 200)
    -- a walk visits every user, as each_user does
    for _ in ipairs(cjson.decode(body).results) do count = count + 1 end
    offset = offset + 100
  end
elseif scenario == "S3" then
  for i = 1, n do assert(bare.request("DELETE", ("%s/users/user%07d/"):format(base, i)) == 204) end
end
print(("RESULT %s %.3f %d"):format(scenario, (now() - t0) / 1000, n))
