-- What the bench scripts share: shell commands and free loopback ports.
local socket = require "socket"

local M = {}

--- A shell command's output (stderr included) and whether it succeeded.
function M.sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("*a")
  local ok = p:close()
  return out, ok
end

--- A shell command's output; raises with it when the command fails.
function M.must(cmd)
  local out, ok = M.sh(cmd)
  if not ok then error(cmd .. " failed:\n" .. out) end
  return out
end

--- A port on 127.0.0.1 that nothing listens on now.
function M.free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

return M
