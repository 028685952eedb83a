-- The floor of S1 (issue 20 item 8): the tuned libcurl binding of
-- bench/bare.c (URL parsed once, path set per call, two header lines, no
-- proxy lookup) and cjson.decode, nothing else. usage: LUA floor_peer.lua S1 BASE N
local bare = require "benchbare"
local cjson = require "cjson"
local now = require("userapi.core").now

local scenario, base, n = arg[1], arg[2], tonumber(arg[3])
assert(scenario == "S1", "the floor is measured on S1 only")
local prefix = base:match("^%a+://[^/]+(.*)$")
local t0 = now()
for i = 1, n do
  local status, body = bare.floor(base, ("%s/users/user%07d/"):format(prefix, i % 5000 + 1))
  assert(status == 200 and cjson.decode(body))
end
print(("RESULT %s %.3f %d"):format(scenario, (now() - t0) / 1000, n))
