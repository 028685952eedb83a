-- A hostile HTTP server for spec/limits_spec.lua: streams that drip, stall,
-- never end a row or send a huge error body; paging that never ends or hands
-- out cursors and offsets the client must refuse.
--   lua5.4 spec/limits_server.lua PORT
-- The first path segment names the scenario (the client's base_url is
-- http://127.0.0.1:PORT/<scenario>). Every answer closes its connection, so
-- one connection at a time is enough. GET /_stats answers what was sent:
-- { [scenario] = { requests = n, bytes = n, ms = n } }.
-- Each endless scenario stops by itself (a page without a next link, or a
-- closed body) so that a client without bounds fails its spec instead of hanging.
local socket = require "socket"
local json = require "cjson"

local port = assert(tonumber(arg[1]), "usage: limits_server.lua PORT")
local server = assert(socket.bind("127.0.0.1", port))
local CAP = 300 -- pages an endless pager serves before it gives up

local stats = {}
local function stat(name)
  stats[name] = stats[name] or { requests = 0, bytes = 0, ms = 0 }
  return stats[name]
end

local function now_ms() return socket.gettime() * 1000 end

local function head(conn, status, ctype, length)
  local h = { "HTTP/1.1 " .. status .. " X", "Content-Type: " .. ctype, "Connection: close" }
  if length then h[#h + 1] = "Content-Length: " .. length end
  return conn:send(table.concat(h, "\r\n") .. "\r\n\r\n")
end

local function reply(conn, status, body, ctype)
  head(conn, status, ctype or "application/json", #body)
  conn:send(body)
end

-- Sends pieces from next_piece() until it returns nil or the client goes away;
-- records bytes and duration.
local function pour(conn, st, next_piece)
  local t0 = now_ms()
  while true do
    local piece = next_piece()
    if not piece then break end
    local ok = conn:send(piece)
    if not ok then break end
    st.bytes = st.bytes + #piece
  end
  st.ms = now_ms() - t0
end

local function query_num(q, key) return tonumber(q:match("[?&]" .. key .. "=(%d+)")) end

local STREAMS = {}

-- a row that arrives one byte every 50 ms, for 8 s at most
function STREAMS.drip(conn, st)
  head(conn, 200, "text/csv")
  local row, k, t0 = "ada,ada@example.com\r\n", 0, now_ms()
  local sent_head = false
  pour(conn, st, function()
    if not sent_head then sent_head = true return "username,email\r\n" end
    if now_ms() - t0 > 8000 then return nil end
    socket.sleep(0.05)
    k = k % #row + 1
    return row:sub(k, k)
  end)
end

-- True once the client has closed its end, waiting at most `seconds` for it.
local function gone_within(conn, seconds)
  conn:settimeout(seconds)
  local _, err = conn:receive(1)
  conn:settimeout(10)
  return err == "closed"
end

-- one row, then nothing for 5 s (unless the client leaves), then the end
function STREAMS.silent(conn, st)
  head(conn, 200, "text/csv")
  local step = 0
  pour(conn, st, function()
    step = step + 1
    if step == 1 then return "username,email\r\nada,ada@example.com\r\n" end
    if step == 2 then
      for _ = 1, 50 do if gone_within(conn, 0.1) then return nil end end
      return "alan,alan@example.com\r\n"
    end
  end)
end

local BLOCK = string.rep("0123456789abcdef", 4096)

-- the pieces of <n> filler bytes, then nil
local function filler(n)
  local left = n
  return function()
    if left <= 0 then return nil end
    local piece = left >= #BLOCK and BLOCK or BLOCK:sub(1, left)
    left = left - #piece
    return piece
  end
end

-- a 500 whose body is <n> bytes (errorbody_<n>)
function STREAMS.errorbody(conn, st, n)
  head(conn, 500, "text/plain", n)
  pour(conn, st, filler(n))
end

-- a header, then one row of <n> bytes that never ends (endless_<n>), or
-- the same inside a quoted field (endlessq_<n>)
local function endless(quoted)
  return function(conn, st, n)
    head(conn, 200, "text/csv")
    local started, rest = false, filler(n)
    pour(conn, st, function()
      if started then return rest() end
      started = true
      return "username,email\r\nada," .. (quoted and '"' or "")
    end)
  end
end
STREAMS.endless, STREAMS.endlessq = endless(false), endless(true)

-- ---- pagers: (base, query, n) -> page table; n counts this scenario's requests

local function user(i) return { id = "u" .. i, username = "user" .. i, email = "user" .. i .. "@example.com" } end
local function users(from, count)
  local out = {}
  for i = 1, count do out[i] = user(from + i) end
  return out
end

local PAGERS = {}

-- Opendatasoft: full pages and a next link forever, no total_count
function PAGERS.fullpages(base, q, n)
  local limit, offset = query_num(q, "limit") or 10, query_num(q, "offset") or 0
  local nxt = n < CAP and (base .. "/users/?limit=" .. limit .. "&offset=" .. (offset + limit)) or json.null
  return { results = users(offset, limit), next = nxt }
end

-- Opendatasoft: full pages and a next link forever, but a total_count of 250
function PAGERS.pasttotal(base, q, n)
  local page = PAGERS.fullpages(base, q, n)
  page.total_count = 250
  return page
end

-- Kandji: a fresh cursor on every page
function PAGERS.freshcursor(base, _, n)
  return { results = { user(n) }, next = n < CAP and (base .. "/api/v1/users?cursor=c" .. n) or json.null }
end

-- Arthur: one more page than this one, always
function PAGERS.growing(_, q, n)
  local page = query_num(q, "page") or 1
  return { records = { user(page) }, pagination = { page = page, total_pages = n < CAP and page + 1 or page } }
end

-- Opendatasoft: a next link whose offset is not an integer
function PAGERS.floatoffset(base, _, n)
  return { results = users(n * 10, 10), next = base .. "/users/?limit=10&offset=20.5" }
end

-- Kandji: a cursor carrying CR LF, then one longer than 8 KiB
function PAGERS.crlfcursor(base)
  return { results = { user(1) }, next = base .. "/api/v1/users?cursor=abc%0D%0AX-Injected:%201" }
end
function PAGERS.longcursor(base)
  return { results = { user(1) }, next = base .. "/api/v1/users?cursor=" .. string.rep("c", 9000) }
end

-- Arthur's total_pages as 1e400 (infinity once decoded): written by hand
local INFINITE = '{"records":[{"id":"u1"}],"pagination":{"page":%d,"total_pages":%s}}'

local function handle(conn)
  conn:settimeout(10)
  local line = conn:receive("*l")
  if not line then return end
  repeat local h = conn:receive("*l") until not h or h == ""
  local target = line:match("^%u+ (%S+)")
  local name = target:match("^/([^/?]+)")
  if name == "_stats" then return reply(conn, 200, json.encode(stats)) end
  local scenario, n = name:match("^(%a+)_(%d+)$")
  scenario, n = scenario or name, tonumber(n)
  local st = stat(name)
  st.requests = st.requests + 1
  local base = "http://127.0.0.1:" .. port .. "/" .. name
  local query = target:match("%?.*$") or ""
  if STREAMS[scenario] then return STREAMS[scenario](conn, st, n) end
  if scenario == "infinite" then
    local page = query_num(query, "page") or 1
    return reply(conn, 200, INFINITE:format(page, st.requests < CAP and "1e400" or page))
  end
  if PAGERS[scenario] then return reply(conn, 200, json.encode(PAGERS[scenario](base, query, st.requests))) end
  reply(conn, 404, '{"message":"no such scenario"}')
end

while true do
  local conn = server:accept()
  if conn then
    local ok, err = pcall(handle, conn)
    if not ok then io.stderr:write("limits_server: ", tostring(err), "\n") end
    conn:close()
  end
end
