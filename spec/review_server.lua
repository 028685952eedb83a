-- A programmable hostile HTTP server for spec/review_spec.lua.
--   lua5.4 spec/review_server.lua --port-file FILE --watch-pid PID
-- POST /_program with a JSON array of answers `{ status, headers = {}, body }`
-- (or `{ echo = true }`: a 400 whose body and headers repeat the request's
-- headers and body): each later request takes the next answer, the last one
-- repeats. GET /_requests returns what was received since the last program:
-- `[{ method, path, headers, body }]`. Every answer closes its connection.
local socket = require "socket"
local json = require "cjson"

local port_file, watch
for i = 1, #arg do
  if arg[i] == "--port-file" then port_file = arg[i + 1] end
  if arg[i] == "--watch-pid" then watch = arg[i + 1] end
end
local server = assert(socket.bind("127.0.0.1", 0))
server:settimeout(1)
local f = assert(io.open(port_file, "w"))
f:write(select(2, server:getsockname()))
f:close()

local program, seen, next_i = {}, {}, 1

local function read_request(conn)
  local line = conn:receive("*l")
  if not line then return nil end
  local method, path = line:match("^(%S+) (%S+)")
  local headers, raw = {}, {}
  while true do
    local h = conn:receive("*l")
    if not h or h == "" then break end
    raw[#raw + 1] = h
    local k, v = h:match("^([^:]+):%s*(.*)$")
    if k then headers[k:lower()] = v end
  end
  local body = ""
  local n = tonumber(headers["content-length"])
  if n and n > 0 then body = conn:receive(n) or "" end
  return { method = method, path = path, headers = headers, raw = table.concat(raw, "\n"), body = body }
end

local function send(conn, status, headers, body)
  local h = { "HTTP/1.1 " .. status .. " X", "Connection: close", "Content-Length: " .. #body }
  for k, v in pairs(headers or {}) do h[#h + 1] = k .. ": " .. v end
  conn:send(table.concat(h, "\r\n") .. "\r\n\r\n" .. body)
end

local function answer(conn, req)
  if req.path == "/_program" then
    program, seen, next_i = json.decode(req.body), {}, 1
    return send(conn, 200, { ["Content-Type"] = "application/json" }, "{}")
  end
  if req.path == "/_requests" then
    return send(conn, 200, { ["Content-Type"] = "application/json" }, json.encode(seen))
  end
  seen[#seen + 1] = { method = req.method, path = req.path, headers = req.headers, body = req.body }
  local a = program[math.min(next_i, #program)] or { status = 404, body = "" }
  next_i = next_i + 1
  if a.echo then
    local text = "you sent: " .. req.raw .. " body: " .. req.body
    return send(conn, a.status or 400, { ["X-Echo"] = text:gsub("[\r\n]", " ") }, text)
  end
  local body = a.body or ""
  if type(body) == "table" then body = json.encode(body) end
  send(conn, a.status or 200, a.headers or { ["Content-Type"] = "application/json" }, body)
end

while true do
  local conn = server:accept()
  if conn then
    conn:settimeout(5)
    local req = read_request(conn)
    if req then answer(conn, req) end
    conn:close()
  elseif watch and not os.execute("kill -0 " .. watch .. " 2>/dev/null") then
    break
  end
end
