-- Starts Debian's redis-server for a spec: a free loopback port, its own
-- directory and config, no persistence, a password; stopped by its pid.
local core = require "userapi.core"
local sim = require "spec.helper"

local _M = {}

_M.PASSWORD = "r3dis p@ss/word"

--- Starts a server (on `port`, or a free one); returns { url, port, password, stop() }.
function _M.start(port)
  local dir = sim.sh("mktemp -d /tmp/userapi-redis.XXXXXX")
  port = port or sim.free_port()
  local conf = assert(io.open(dir .. "/redis.conf", "w"))
  conf:write(("bind 127.0.0.1\nport %d\nsave \"\"\nappendonly no\ndir %s\nrequirepass \"%s\"\nloglevel warning\n")
    :format(port, dir, _M.PASSWORD))
  conf:close()
  local pid = sim.sh(("env -u LD_PRELOAD redis-server %s/redis.conf --save '' --appendonly no >%s/log 2>&1 & echo $!")
    :format(dir, dir))
  local socket = require "socket"
  for _ = 1, 100 do
    local s = socket.connect("127.0.0.1", port)
    if s then s:close() break end
    core.sleep(20)
  end
  local escaped = _M.PASSWORD:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end)
  return {
    port = port, password = _M.PASSWORD, escaped = escaped,
    url = ("redis://:%s@127.0.0.1:%d/1"):format(escaped, port),
    stop = function() os.execute("kill " .. pid .. " 2>/dev/null; sleep 0.1; rm -rf " .. dir) end,
  }
end

return _M
