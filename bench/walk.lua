-- make bench, the walk that hides latency (issue 16.1): 50,000 users in pages
-- of 100 from a local nginx that takes 20 ms to answer each page.
--   offset style (Opendatasoft): userapi sequential, userapi at concurrency 8,
--     Python urllib3's loop (bench/peer.py S2);
--   cursor style (Kandji), the caller spending 10 ms on each page: userapi
--     sequential, and with the next page asked for while the caller works.
-- usage: lua5.4 bench/walk.lua (bench/run.lua runs it); prints a table and
-- writes build/bench/walk.md.

local ROOT = arg[0]:match("^(.*)/bench/walk%.lua$") or "."
if ROOT:sub(1, 1) ~= "/" then ROOT = io.popen("cd " .. ROOT .. " && pwd"):read("*l") end
local BUILD = ROOT .. "/build/bench/walk"
local USERS, PAGE_MS, WORK_MS = 50000, 20, 10

local common = dofile(ROOT .. "/bench/common.lua")
local sh, must, free_port = common.sh, common.must, common.free_port

local CONF = [[
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
worker_processes 1;
daemon on;
pid @BUILD@/nginx.pid;
error_log @BUILD@/error.log warn;
env BENCH_USERS;
env BENCH_PAGE_MS;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path @BUILD@/tmp;
    proxy_temp_path @BUILD@/tmp;
    fastcgi_temp_path @BUILD@/tmp;
    uwsgi_temp_path @BUILD@/tmp;
    scgi_temp_path @BUILD@/tmp;
    lua_package_path "@ROOT@/bench/?.lua;;";
    default_type application/json;
    server {
        listen 127.0.0.1:@PORT@ backlog=1024;
        location = /ods/users/ { content_by_lua_block { require("walk_server").offset() } }
        location = /kandji/api/v1/users { content_by_lua_block { require("walk_server").cursor() } }
    }
}
]]

local port = free_port()
must("mkdir -p " .. BUILD .. "/tmp")
local conf = CONF:gsub("@BUILD@", BUILD):gsub("@ROOT@", ROOT):gsub("@PORT@", tostring(port))
local f = assert(io.open(BUILD .. "/nginx.conf", "w"))
f:write(conf)
f:close()
local out, ok = sh(("BENCH_USERS=%d BENCH_PAGE_MS=%d /usr/sbin/nginx -p %s -c %s/nginx.conf")
  :format(USERS, PAGE_MS, BUILD, BUILD))
if not ok then error("nginx: " .. out) end
local pid = sh("sleep 0.3; cat " .. BUILD .. "/nginx.pid"):gsub("%s+$", "")
local BASE = "http://127.0.0.1:" .. port

local ENV = ("LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua;;' LUA_CPATH='%s/build/lua5.4/?.so;;' ")
  :format(ROOT, ROOT, ROOT)

-- seconds for one run of a peer, or nil
local function run(label, cmd)
  local text = sh(cmd)
  local secs = tonumber(text:match("RESULT %S+ ([%d%.]+)"))
  io.stderr:write(("  walk %-40s %s\n"):format(label, secs and ("%.3f s"):format(secs) or ("failed: " .. text)))
  return secs
end

local peer = ENV .. "lua5.4 " .. ROOT .. "/bench/walk_peer.lua "
local t = {}
local done, err = pcall(function()
  t.seq = run("offset, userapi sequential", peer .. ("offset %s %d 1"):format(BASE, USERS))
  t.c8 = run("offset, userapi concurrency 8", peer .. ("offset %s %d 8"):format(BASE, USERS))
  t.py = run("offset, python urllib3 loop",
    ("/usr/bin/python3 %s/bench/peer.py S2 %s/ods %d"):format(ROOT, BASE, USERS))
  t.cseq = run("cursor, userapi sequential, 10 ms work", peer .. ("cursor %s %d 1 %d"):format(BASE, USERS, WORK_MS))
  t.cpre = run("cursor, userapi prefetch, 10 ms work", peer .. ("cursor %s %d 2 %d"):format(BASE, USERS, WORK_MS))
end)
os.execute("kill " .. pid)
if not done then error(err) end

local function cell(s) return s and ("%.2f s (%.0f users/s)"):format(s, USERS / s) or "failed" end
local function x(a, b) return (a and b) and ("%.1fx"):format(a / b) or "?" end
local text = table.concat({
  ("| walk %d users, pages of 100, %d ms per page | userapi sequential | userapi ahead | python urllib3 loop |")
    :format(USERS, PAGE_MS),
  "| --- | --- | --- | --- |",
  ("| offset style, concurrency 8 | %s | %s | %s |"):format(cell(t.seq), cell(t.c8), cell(t.py)),
  ("| cursor style, caller %d ms a page, next page asked for at once | %s | %s | |")
    :format(WORK_MS, cell(t.cseq), cell(t.cpre)),
  "",
  ("Offset style at concurrency 8: %s faster than sequential, %s faster than Python's loop (target 6x)."
    .. " Cursor style with prefetch: %s faster than sequential (target 1.3x).")
    :format(x(t.seq, t.c8), x(t.py, t.c8), x(t.cseq, t.cpre)),
}, "\n") .. "\n"
print(text)
local md = io.open(BUILD .. "/../walk.md", "w")
md:write(text)
md:close()
