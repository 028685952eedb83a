-- make bench's OpenResty row (run by bench/run.lua): a client nginx with one
-- worker (bench/openresty.conf.in) drives the benchmark server, N sequential
-- get_user calls at a time, through userapi and through a hand-written
-- cosocket GET (bench/openresty_peer.lua); the worker's CPU time per call is
-- read from /proc/<worker>/stat, best of interleaved repeats.
local http = require "socket.http"

return function(ctx)
  local ROOT, BUILD, must = ctx.root, ctx.build, ctx.must
  local port = ctx.free_port()
  local conf = assert(io.open(ROOT .. "/bench/openresty.conf.in")):read("*a")
  conf = conf:gsub("@PREFIX@", BUILD):gsub("@ROOT@", ROOT):gsub("@PORT@", tostring(port))
  local f = assert(io.open(BUILD .. "/openresty.conf", "w"))
  f:write(conf)
  f:close()
  must(("BENCH_BASE=%s /usr/sbin/nginx -p %s -c %s/openresty.conf"):format(ctx.base, BUILD, BUILD))
  local pid = must("sleep 0.3; cat " .. BUILD .. "/openresty.pid"):gsub("%s+$", "")
  local tick_us = 1e6 / tonumber(must("getconf CLK_TCK"))

  local function drive(peer, n)
    local body, code = http.request(("http://127.0.0.1:%d/drive?peer=%s&n=%d"):format(port, peer, n))
    if code ~= 200 then error("OpenResty " .. peer .. ": " .. tostring(code) .. " " .. tostring(body)) end
    return tonumber(body) * tick_us / n
  end

  local best, N = {}, ctx.calls or 30000
  local ok, err = pcall(function()
    drive("userapi", 3000) -- warm: JIT traces, pooled connections
    drive("handmade", 3000)
    for _ = 1, ctx.repeats or 5 do
      for _, peer in ipairs({ "userapi", "handmade" }) do
        local us = drive(peer, N)
        io.stderr:write(("  %-10s %-14s %8.2f µs CPU per call\n"):format("OpenResty", peer, us))
        best[peer] = math.min(best[peer] or math.huge, us)
      end
    end
  end)
  os.execute("kill " .. pid)
  if not ok then error(err, 0) end
  best.calls = N
  return best
end
