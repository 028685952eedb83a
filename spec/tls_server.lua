-- A minimal HTTPS server for spec/security_spec.lua (Lua 5.4, LuaSocket,
-- LuaSec): lua5.4 spec/tls_server.lua CERT KEY PORT-FILE
-- Answers every request with 200 {"tls":true} and closes; a client that
-- refuses the certificate just ends the handshake. Exits after 60 s idle.
local socket = require "socket"
local ssl = require "ssl"

local cert, key, port_file = arg[1], arg[2], arg[3]
local srv = assert(socket.bind("127.0.0.1", 0))
local _, port = srv:getsockname()
local f = assert(io.open(port_file .. ".tmp", "w"))
f:write(port)
f:close()
assert(os.rename(port_file .. ".tmp", port_file))

local ctx = assert(ssl.newcontext{ mode = "server", protocol = "any", key = key, certificate = cert,
                                  options = "all" })
srv:settimeout(60)
while true do
  local c = srv:accept()
  if not c then break end
  c:settimeout(2)
  local s = ssl.wrap(c, ctx)
  if s and s:dohandshake() then
    repeat local line = s:receive("*l") until not line or line == ""
    local body = '{"tls":true}'
    s:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " .. #body ..
           "\r\nConnection: close\r\n\r\n" .. body)
  end
  ;(s or c):close()
end
