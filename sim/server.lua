-- userapi vendor simulator.
-- usage: lua5.4 sim/server.lua [--host 127.0.0.1] [--port 0] [--port-file FILE] [--watch-pid PID]
-- --watch-pid: exit when that process is gone, so a crashed test run never
-- leaves a simulator behind.
-- the simulator's modules live under sim. (sim.http, sim.json, ...), found
-- from the repository root: bare names would shadow real modules
local dir = (arg and arg[0] or ""):match("^(.*)[/\\][^/\\]*$") or "."
package.path = dir .. "/../?.lua;" .. package.path

local http = require "sim.http"

local opts = { host = "127.0.0.1", port = 0 }
local i = 1
while arg[i] do
  local a, v = arg[i], arg[i + 1]
  if a == "--host" then opts.host = v; i = i + 2
  elseif a == "--port" then opts.port = tonumber(v); i = i + 2
  elseif a == "--port-file" then opts.port_file = v; i = i + 2
  elseif a == "--watch-pid" then opts.watch_pid = tonumber(v); i = i + 2
  elseif a == "--empty" then opts.empty = true; i = i + 1
  elseif a == "-h" or a == "--help" then
    print("usage: lua5.4 server.lua [--host 127.0.0.1] [--port 0] [--port-file FILE] [--watch-pid PID] [--empty]")
    os.exit(0)
  else
    io.stderr:write("unknown argument: ", a, "\n"); os.exit(2)
  end
end
if opts.host ~= "127.0.0.1" and opts.host ~= "localhost" and not opts.host:match("^127%.") then
  io.stderr:write("refusing to listen on ", opts.host, ": loopback only\n"); os.exit(2)
end
if not opts.port then io.stderr:write("--port needs a number\n"); os.exit(2) end

local app = require "sim.app"
-- --empty: tenants start without users, and every reset keeps them so
if opts.empty then
  local control = require "sim.control"
  control.start_empty = true
  control.reset()
end

http.serve {
  host = opts.host, port = opts.port, handler = app.handle,
  on_second = opts.watch_pid and function()
    local f = io.open("/proc/" .. opts.watch_pid .. "/stat")
    if not f then os.exit(0) end
    f:close()
  end,
  on_listen = function(port)
    if opts.port_file then
      local tmp = opts.port_file .. ".tmp." .. tostring(os.time()) .. tostring(math.random(1e6))
      local f = assert(io.open(tmp, "w"))
      f:write(tostring(port))
      f:close()
      assert(os.rename(tmp, opts.port_file))
    end
    io.stdout:write("listening on http://", opts.host, ":", port, "\n")
    io.stdout:flush()
  end,
}
