--- HTTP/1.x responses read off a cosocket under one deadline: a buffered
-- reader whose every socket operation gets the time that remains (nginx's
-- own read timeout restarts at each byte, so it alone cannot bound a body
-- that drips), the response head, and body readers for Content-Length,
-- chunked and close-delimited bodies. Used by `userapi.transport.nginx`.
local errors = require "userapi.errors"

local ngx = ngx
local type, tonumber, tostring, min, floor = type, tonumber, tostring, math.min, math.floor
local concat, lower, find, sub, match, gmatch, byte =
  table.concat, string.lower, string.find, string.sub, string.match, string.gmatch, string.byte

local _M = {}

local READ_SIZE = 65536     -- bytes asked of the socket at once
local MAX_HEAD = 64 * 1024  -- a response head larger than this is refused

--- An error of the transport (`kind`, `code = 0`, `message`), as `nil, err`.
function _M.fail(kind, message)
  return nil, errors.new{ kind = kind, code = 0, message = message }
end
local fail = _M.fail

local function now_ms() return ngx.now() * 1000 end

--- A reader over `sock` that must finish by `deadline` (ms, nginx clock);
-- `idle_ms` (optional) also ends a read that gets no byte for that long.
function _M.reader(sock, deadline, idle_ms)
  return { sock = sock, buf = "", pos = 1, deadline = deadline, idle = idle_ms }
end

--- Gives the socket the time that remains before its next operation:
-- the milliseconds left, or nil when the deadline has passed. nginx's clock
-- moves only when the worker waited, so an unmoved clock needs no new timeout.
function _M.arm(r)
  local now = ngx.now()
  local left = r.deadline - now * 1000
  if left < 1 then return nil end
  if now ~= r.armed then
    r.sock:settimeout(r.idle and min(left, r.idle) or left)
    r.armed = now
  end
  return left
end
local arm = _M.arm

--- The error of a socket operation that failed with `err` while `doing`
-- something: `timeout` (the deadline, or idle_timeout_ms) or `recv`.
function _M.socket_error(r, err, doing)
  if err == "timeout" then
    local whole = r.deadline - now_ms() < 1 or not r.idle
    return fail("timeout", (whole and "deadline reached while " or "no byte for idle_timeout_ms while ") .. doing)
  end
  return fail("recv", doing .. ": " .. err)
end
local socket_error = _M.socket_error

-- Reads at most `max` more bytes from the socket into the buffer.
local function fill(r, max, doing)
  if not arm(r) then return socket_error(r, "timeout", doing) end
  local data, err = r.sock:receiveany(max)
  if not data then return socket_error(r, err, doing) end
  local buf, pos = r.buf, r.pos
  if pos > #buf then r.buf = data else r.buf = sub(buf, pos) .. data end
  r.pos = 1
  return true
end

--- The next line without its end (CRLF or LF), or nil and an error.
function _M.line(r, doing)
  while true do
    local e = find(r.buf, "\n", r.pos, true)
    if e then
      local s = r.pos
      r.pos = e + 1
      if e > s and byte(r.buf, e - 1) == 13 then e = e - 1 end
      return sub(r.buf, s, e - 1)
    end
    if #r.buf - r.pos > MAX_HEAD then return fail("protocol", "a line longer than " .. MAX_HEAD .. " bytes") end
    local ok, err = fill(r, READ_SIZE, doing)
    if not ok then return nil, err end
  end
end
local line = _M.line

--- At most `max` bytes: what the buffer holds, else one read of the socket;
-- nil and an error on failure (`closed` when the server closed).
function _M.take(r, max, doing)
  local buf, pos = r.buf, r.pos
  if pos > #buf then
    if not arm(r) then return socket_error(r, "timeout", doing) end
    local data, err = r.sock:receiveany(min(max, READ_SIZE))
    if not data then
      if err == "closed" then return nil, "closed" end
      return socket_error(r, err, doing)
    end
    return data
  end
  local e = pos + max - 1
  r.pos = e + 1
  if pos == 1 and e >= #buf then return buf end
  return sub(buf, pos, e)
end
local take = _M.take

--- True when bytes beyond the response are buffered (the connection must not be reused).
function _M.leftover(r) return r.pos <= #r.buf end

--- The header table of a head block (status line and header lines): names
-- lower-cased, a repeated header as an array of its values.
function _M.fields(block)
  local headers = {}
  for k, v in gmatch(sub(block, (find(block, "\n", 1, true))), "([^\r\n:]+):[ \t]*([^\r\n]*)") do
    k = lower(k)
    local last = byte(v, -1)
    if last == 32 or last == 9 then v = match(v, "^(.-)[ \t]+$") end
    local old = headers[k]
    if old == nil then headers[k] = v
    elseif type(old) == "table" then old[#old + 1] = v
    else headers[k] = { old, v } end
  end
  return headers
end
local fields = _M.fields

local DIGIT = {}
for d = 0, 9 do DIGIT[48 + d] = d end

-- The end of the head in the buffer: plain CRLF CRLF first (a plain find
-- is compiled by LuaJIT, a pattern is not), bare LFs as servers may send.
local function head_end(r)
  if r.pos > #r.buf then return nil end -- nothing read yet: the usual case
  local _, e = find(r.buf, "\r\n\r\n", r.pos, true)
  if e then return e end
  _, e = find(r.buf, "\n\r?\n", r.pos)
  return e
end

--- Reads a response head: status, the head block as received (status line
-- and header lines, see `fields`), and whether it is HTTP/1.0; interim
-- (1xx) heads are skipped. Nil and an error on failure.
function _M.head(r, doing)
  while true do
    local e = head_end(r)
    while not e do
      if #r.buf - r.pos > MAX_HEAD then
        return fail("protocol", "a response head larger than " .. MAX_HEAD .. " bytes")
      end
      local ok, err = fill(r, READ_SIZE, doing)
      if not ok then return nil, err end
      e = head_end(r)
    end
    local block = sub(r.buf, r.pos, e)
    r.pos = e + 1
    -- "HTTP/1.x NNN": read byte-wise, without a pattern
    local d1, d2, d3 = byte(block, 10, 12)
    if sub(block, 1, 7) ~= "HTTP/1." or byte(block, 9) ~= 32 or not (DIGIT[d1] and DIGIT[d2] and DIGIT[d3]) then
      return fail("protocol", "not an HTTP/1.x response")
    end
    local status = DIGIT[d1] * 100 + DIGIT[d2] * 10 + DIGIT[d3]
    if status >= 200 or status < 100 then return status, block, byte(block, 8) == 48 end
  end
end

local function joined(v) return type(v) == "table" and concat(v, ",") or v end

-- Whether the server keeps the connection: HTTP/1.1 unless it says close,
-- HTTP/1.0 only if it says keep-alive (Connection is a list of tokens).
local function keeps_alive(conn, http10)
  if conn == nil then return not http10 end
  conn = lower(conn)
  if conn == "keep-alive" then return true elseif conn == "close" then return false end
  conn = "," .. conn:gsub("%s", "") .. ","
  if http10 then return find(conn, ",keep-alive,", 1, true) ~= nil end
  return not find(conn, ",close,", 1, true)
end

-- The framing read from the header table: the general case.
local function framing_of(headers, http10)
  local keep = keeps_alive(joined(headers.connection), http10)
  local te = headers["transfer-encoding"]
  if te and find(lower(joined(te)), "chunked", 1, true) then return "chunked", keep end
  local cl = headers["content-length"]
  if type(cl) == "table" then
    for i = 2, #cl do if cl[i] ~= cl[1] then return nil, "conflicting Content-Length" end end
    cl = cl[1]
  end
  if cl then
    if not match(cl, "^%d+$") or #cl > 15 then return nil, "bad Content-Length" end
    return tonumber(cl), keep
  end
  return "close", false
end

-- The value of the header line whose name ends at `from`, without the
-- blanks around it.
local function value_at(block, from)
  local eol = find(block, "\n", from, true)
  local v = sub(block, from + 1, eol - 1)
  local first, last = byte(v, 1), byte(v, -1)
  -- "name: value\r", the usual form, costs no pattern
  if first == 32 and last == 13 and byte(v, 2) ~= 32 and byte(v, -2) ~= 32 then return sub(v, 2, -2) end
  return match(v, "^[ \t]*(.-)[ \t\r]*$")
end

-- A Content-Length value as a number: digits only.
local function content_length(v)
  local n = tonumber(v)
  if n and n >= 0 and n < 2 ^ 53 and floor(n) == n and (tostring(n) == v or match(v, "^%d+$")) then return n end
  return nil
end

--- How the body of a response is delimited: its length, "chunked" or
-- "close" (the server closes), and whether the connection may be kept;
-- nil and a reason for a head that frames nothing sane.
function _M.framing(block, http10)
  local lb = lower(block)
  -- the common head (one Content-Length, at most one Connection) is read
  -- with plain finds; anything else goes through the header table
  local _, cl_end = find(lb, "\ncontent-length:", 1, true)
  local _, conn_end = find(lb, "\nconnection:", 1, true)
  if not cl_end or find(lb, "\ntransfer-encoding:", 1, true) or find(lb, "\ncontent-length:", cl_end, true)
     or (conn_end and find(lb, "\nconnection:", conn_end, true)) then
    return framing_of(fields(block), http10)
  end
  local length = content_length(value_at(lb, cl_end))
  if not length then return nil, "bad Content-Length" end
  return length, keeps_alive(conn_end and value_at(lb, conn_end), http10)
end

local function chunked_reader(r, state)
  local size_left, finished = 0, false
  return function()
    if finished then return "" end
    if size_left == 0 then
      local size_line, err = line(r, "reading a chunk size")
      if not size_line then return nil, err end
      local hex = match(size_line, "^%x+")
      if not hex or #hex > 12 then return fail("protocol", "bad chunk size") end
      size_left = tonumber(hex, 16)
      if size_left == 0 then
        repeat size_line = line(r, "reading the trailer") until not size_line or size_line == ""
        if not size_line then state.keep = false end -- the trailer did not end cleanly
        finished = true
        return ""
      end
    end
    local data, err = take(r, size_left, "reading a chunk")
    if not data then
      if err == "closed" then return fail("recv", "the connection closed inside a chunk") end
      return nil, err
    end
    size_left = size_left - #data
    if size_left == 0 then
      local crlf = line(r, "reading a chunk end")
      if crlf ~= "" then return fail("protocol", "a chunk does not end with CRLF") end
    end
    return data
  end
end

local function length_reader(r, length)
  local left = length
  return function()
    if left == 0 then return "" end
    local data, err = take(r, left, "reading the body")
    if not data then
      if err == "closed" then return fail("recv", "the connection closed before the body ended") end
      return nil, err
    end
    left = left - #data
    return data
  end
end

-- no length: the body ends when the server closes
local function close_reader(r)
  local finished = false
  return function()
    if finished then return "" end
    local data, err = take(r, READ_SIZE, "reading the body")
    if data then return data end
    if err == "closed" then finished = true return "" end
    return nil, err
  end
end

local function no_body() return "" end

--- A body reader for a response framed by `framing` (a length, "chunked",
-- "close"): a function giving the next chunk, "" at the end, or nil and an
-- error; and a state whose `keep` says whether the connection may be kept
-- (it may turn false while reading).
function _M.body_reader(r, method, status, frame, keep)
  local state = { keep = keep }
  if method == "HEAD" or status == 204 or status == 304 then return no_body, state end
  if frame == "chunked" then return chunked_reader(r, state), state end
  if frame == "close" then
    state.keep = false
    return close_reader(r), state
  end
  return length_reader(r, frame), state
end

--- The whole body when the buffer already holds it (the common small
-- answer): no reader, no chunks. Nil otherwise.
function _M.buffered_body(r, method, status, length)
  if method == "HEAD" or status == 204 or status == 304 then return "" end
  local pos = r.pos
  if type(length) ~= "number" or #r.buf - pos + 1 < length then return nil end
  r.pos = pos + length
  if pos == 1 and length == #r.buf then return r.buf end
  return sub(r.buf, pos, pos + length - 1)
end

return _M
