-- make bench's OpenResty row (run by bench/run.lua): a client nginx with one
-- worker (bench/openresty.conf.in) drives the benchmark server, N sequential
-- get_user calls at a time, through userapi and through a hand-written
-- cosocket GET (bench/openresty_peer.lua). Reported per call: the worker's CPU
-- time, read from /proc/<worker>/stat (best of interleaved repeats), and the
-- instructions the worker executed, counted by callgrind on a single-process
-- nginx (stable where CPU time is noisy; kernel time is not in it).
local socket = require "socket"
local http = require "socket.http"

local function fill_conf(ctx, port, name, single)
  local conf = assert(io.open(ctx.root .. "/bench/openresty.conf.in")):read("*a")
  conf = conf:gsub("@PREFIX@", ctx.build):gsub("@ROOT@", ctx.root):gsub("@PORT@", tostring(port))
  if single then conf = conf:gsub("daemon on;", "daemon off; master_process off;") end
  local f = assert(io.open(ctx.build .. "/" .. name, "w"))
  f:write(conf)
  f:close()
end

local function drive(port, peer, n)
  local body, code = http.request(("http://127.0.0.1:%d/drive?peer=%s&n=%d"):format(port, peer, n))
  if code ~= 200 then error("OpenResty " .. peer .. ": " .. tostring(code) .. " " .. tostring(body)) end
  return tonumber(body)
end

-- worker CPU µs per call, best of `repeats` interleaved runs of `calls`
local function cpu(ctx, result)
  local port = ctx.free_port()
  fill_conf(ctx, port, "openresty.conf")
  ctx.must(("BENCH_BASE=%s /usr/sbin/nginx -p %s -c %s/openresty.conf"):format(ctx.base, ctx.build, ctx.build))
  local pid = ctx.must("sleep 0.3; cat " .. ctx.build .. "/openresty.pid"):gsub("%s+$", "")
  local tick_us = 1e6 / tonumber(ctx.must("getconf CLK_TCK"))
  local ok, err = pcall(function()
    drive(port, "userapi", 3000) -- warm: JIT traces, pooled connections
    drive(port, "handmade", 3000)
    for _ = 1, ctx.repeats or 5 do
      for _, peer in ipairs({ "userapi", "handmade" }) do
        local us = drive(port, peer, result.calls) * tick_us / result.calls
        io.stderr:write(("  %-10s %-14s %8.2f µs CPU per call\n"):format("OpenResty", peer, us))
        result[peer] = math.min(result[peer] or math.huge, us)
      end
    end
  end)
  os.execute("kill " .. pid)
  if not ok then error(err, 0) end
end

-- instructions per call under callgrind, counted over `n` calls after a warm-up
local function instructions(ctx, result, n)
  if not ctx.sh("command -v callgrind_control"):find("callgrind_control", 1, true) then return end
  local port, dir = ctx.free_port(), ctx.build .. "/callgrind"
  fill_conf(ctx, port, "openresty-cg.conf", true)
  ctx.must("rm -rf " .. dir .. " && mkdir -p " .. dir)
  local pid = ctx.must(("cd %s && BENCH_BASE=%s valgrind --tool=callgrind --smc-check=all-non-file"
    .. " --callgrind-out-file=%s/out.%%p /usr/sbin/nginx -p %s -c %s/openresty-cg.conf >/dev/null 2>&1 & echo $!")
    :format(dir, ctx.base, dir, ctx.build, ctx.build)):gsub("%s+$", "")
  local ok, err = pcall(function()
    for _ = 1, 150 do
      if http.request(("http://127.0.0.1:%d/drive?peer=handmade&n=1"):format(port)) then break end
      socket.sleep(0.2)
    end
    for _, peer in ipairs({ "userapi", "handmade" }) do
      drive(port, peer, 3000)
      ctx.must("callgrind_control -z " .. pid)
      drive(port, peer, n)
      ctx.must("callgrind_control -d " .. pid)
      local file = ctx.must("ls -t " .. dir .. "/out." .. pid .. ".* | head -1"):gsub("%s+$", "")
      local total = tonumber(ctx.must("grep -E '^totals:' " .. file):match("(%d+)"))
      result[peer .. "_instructions"] = total / n
      io.stderr:write(("  %-10s %-14s %8.0f instructions per call\n"):format("OpenResty", peer, total / n))
    end
  end)
  os.execute("kill " .. pid)
  if not ok then error(err, 0) end
end

return function(ctx)
  local result = { calls = ctx.calls or 30000 }
  cpu(ctx, result)
  instructions(ctx, result, ctx.instruction_calls or 2000)
  return result
end
