-- A forward proxy for spec/nginx/transport_spec.lua (Lua 5.4, LuaSocket):
--   lua5.4 spec/nginx/proxy.lua PORT-FILE LOG-FILE USER:PASS|- NAME=IP,...
-- Records each request it is asked (method, target, Proxy-Authorization) as
-- one tab-separated line of LOG-FILE. Absolute-form requests are sent on in
-- origin form, one per connection; CONNECT opens a tunnel. The NAMEs resolve
-- only here, so a vendor named by one can be reached through this proxy
-- alone. Wrong credentials get a 407 whose body echoes what was sent (a
-- hostile proxy: the client must redact it). Exits after 120 s idle.
local socket = require "socket"

local port_file, log_file, creds, map = arg[1], arg[2], arg[3], arg[4]
local hosts = {}
for name, ip in (map or ""):gmatch("([^=,]+)=([^,]+)") do hosts[name] = ip end

-- the repository root, for the spec helpers (this runs as a script, not under busted)
package.path = (arg[0]:match("^(.*)/spec/nginx/proxy%.lua$") or ".") .. "/?.lua;" .. package.path
local base64 = require "spec.base64"
local expected = creds ~= "-" and ("Basic " .. base64(creds)) or nil

local srv = assert(socket.bind("127.0.0.1", 0))
srv:settimeout(0)
local _, listening = srv:getsockname()
local f = assert(io.open(port_file .. ".tmp", "w"))
f:write(listening)
f:close()
assert(os.rename(port_file .. ".tmp", port_file))

local function log(...)
  local out = assert(io.open(log_file, "a"))
  out:write(table.concat({ ... }, "\t"), "\n")
  out:close()
end

-- ---- a coroutine per connection, woken when its socket is readable ----
local waiting = {}

local function spawn(fn, ...)
  local ok, err = coroutine.resume(coroutine.create(fn), ...)
  if not ok then io.stderr:write("proxy: ", tostring(err), "\n") end
end

local function recv(sock)
  while true do
    local data, err, partial = sock:receive(8192)
    if data then return data end
    if partial and partial ~= "" then return partial end
    if err == "closed" then return nil end
    waiting[sock] = coroutine.running()
    coroutine.yield()
  end
end

local function send_all(sock, data)
  sock:settimeout(5)
  local ok = sock:send(data)
  sock:settimeout(0)
  return ok
end

local function pipe(from, to)
  while true do
    local data = recv(from)
    if not data or not send_all(to, data) then break end
  end
  from:close()
  to:close()
end

local function answer(client, status, reason, body)
  send_all(client, ("HTTP/1.1 %d %s\r\nProxy-Authenticate: Basic realm=\"spec\"\r\nContent-Type: text/plain\r\n"
    .. "Content-Length: %d\r\nConnection: close\r\n\r\n%s"):format(status, reason, #body, body))
  client:close()
end

local function open(host, port)
  local up = socket.connect(hosts[host] or host, tonumber(port))
  if up then up:settimeout(0) end
  return up
end

local function handle(client)
  local buf = ""
  while not buf:find("\r\n\r\n", 1, true) do
    local data = recv(client)
    if not data then client:close() return end
    buf = buf .. data
  end
  local _, e = buf:find("\r\n\r\n", 1, true)
  local head, rest = buf:sub(1, e), buf:sub(e + 1)
  local method, target = head:match("^(%u+) (%S+) HTTP/1%.%d\r\n")
  local auth = head:match("\n[Pp]roxy%-[Aa]uthorization:%s*([^\r\n]*)")
  log(method or "?", target or "?", auth or "-")
  if expected and auth ~= expected then
    return answer(client, 407, "Proxy Authentication Required", "denied, you sent: " .. tostring(auth))
  end
  if method == "CONNECT" then
    local host, port = target:match("^(.+):(%d+)$")
    local up = host and open(host, port)
    if not up then return answer(client, 502, "Bad Gateway", "no tunnel") end
    send_all(client, "HTTP/1.1 200 Connection established\r\n\r\n")
    if rest ~= "" then send_all(up, rest) end
    spawn(pipe, up, client)
    return pipe(client, up)
  end
  local host, port, path = (target or ""):match("^http://([^/:]+):?(%d*)(/.*)$")
  local up = host and open(host, port ~= "" and port or 80)
  if not up then return answer(client, 502, "Bad Gateway", "no origin") end
  -- origin form, one request per connection: the answer ends when the origin closes
  head = head:gsub("^(%u+) %S+", function(m) return m .. " " .. path end)
    :gsub("\r\n[Pp]roxy%-[Aa]uthorization:[^\r\n]*", ""):gsub("\r\n[Cc]onnection:[^\r\n]*", "")
  send_all(up, head:sub(1, -3) .. "Connection: close\r\n\r\n" .. rest)
  spawn(pipe, client, up)
  return pipe(up, client)
end

local last = socket.gettime()
while socket.gettime() - last < 120 do
  local list = { srv }
  for s in pairs(waiting) do list[#list + 1] = s end
  local readable = socket.select(list, nil, 1)
  for _, s in ipairs(readable) do
    last = socket.gettime()
    if s == srv then
      local c = srv:accept()
      if c then
        c:settimeout(0)
        spawn(handle, c)
      end
    elseif waiting[s] then
      local co = waiting[s]
      waiting[s] = nil
      coroutine.resume(co)
    end
  end
  -- a socket closed by the other half of its tunnel: wake its reader to see it
  for s, co in pairs(waiting) do
    if s:getfd() == -1 then
      waiting[s] = nil
      coroutine.resume(co)
    end
  end
end
