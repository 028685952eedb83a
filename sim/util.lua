-- Small helpers shared by the simulator modules: URL/query codecs, base64,
-- ids, timestamps, CSV, sorting.
local socket = require "socket"

local M = {}

function M.unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

function M.unescape_form(s) return M.unescape((s:gsub("+", " "))) end

function M.escape(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- Parse a raw query string into ({key -> string | {strings}}, {ordered {k, v} pairs}).
function M.parse_query(q)
  local args, pairs_ = {}, {}
  if not q or q == "" then return args, pairs_ end
  for part in q:gmatch("[^&]+") do
    local k, v = part:match("^([^=]*)=(.*)$")
    if not k then k, v = part, "" end
    k, v = M.unescape_form(k), M.unescape_form(v)
    pairs_[#pairs_ + 1] = { k, v }
    local old = args[k]
    if old == nil then args[k] = v
    elseif type(old) == "table" then old[#old + 1] = v
    else args[k] = { old, v } end
  end
  return args, pairs_
end

-- Values of a query key as a list (repeated keys -> several entries).
function M.list_arg(args, k)
  local v = args[k]
  if v == nil then return nil end
  if type(v) == "table" then return v end
  return { v }
end

-- Last value of a query key as a string.
function M.str_arg(args, k)
  local v = args[k]
  if type(v) == "table" then return v[#v] end
  return v
end

-- Rebuild a raw query string from `raw`, dropping keys in `drop` and
-- appending `extra` ({{k, v}, ...}) in order.  Kept pairs stay byte-identical.
function M.rebuild_query(raw, drop, extra)
  local out = {}
  for part in (raw or ""):gmatch("[^&]+") do
    local k = M.unescape_form(part:match("^([^=]*)") or part)
    if not drop[k] then out[#out + 1] = part end
  end
  for _, kv in ipairs(extra or {}) do out[#out + 1] = M.escape(kv[1]) .. "=" .. M.escape(kv[2]) end
  return table.concat(out, "&")
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
function M.b64encode(s)
  return ((s:gsub(".", function(c)
    local b, r = c:byte(), ""
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return B64:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end

function M.b64decode(s)
  if not s or s:find("[^%w%+/=]") then return nil end
  s = s:gsub("=", "")
  return (s:gsub(".", function(x)
    local f, r = B64:find(x, 1, true) - 1, ""
    for i = 6, 1, -1 do r = r .. (f % 2 ^ i - f % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end):gsub("%d%d%d?%d?%d?%d?%d?%d?", function(x)
    if #x ~= 8 then return "" end
    local c = 0
    for i = 1, 8 do c = c + (x:sub(i, i) == "1" and 2 ^ (8 - i) or 0) end
    return string.char(c)
  end))
end

function M.hex(n)
  local t = {}
  for i = 1, n do t[i] = string.format("%x", math.random(0, 15)) end
  return table.concat(t)
end

function M.uuid()
  local h = M.hex(32)
  return string.format("%s-%s-4%s-%x%s-%s", h:sub(1, 8), h:sub(9, 12), h:sub(14, 16),
    8 + math.random(0, 3), h:sub(18, 20), h:sub(21, 32))
end

function M.now() return socket.gettime() end

-- ISO-8601 UTC with microseconds: 2025-01-02T03:04:05.123456Z
function M.iso(t)
  t = t or socket.gettime()
  local s = math.floor(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", s) .. string.format(".%06dZ", math.floor((t - s) * 1e6))
end

-- Does a string contain `needle`, case-insensitively (plain)?
function M.icontains(hay, needle)
  if type(hay) ~= "string" then return false end
  return hay:lower():find(needle:lower(), 1, true) ~= nil
end

-- RFC 4180 field quoting for the given delimiter.
function M.csv_field(v, delim)
  v = v == nil and "" or tostring(v)
  if v:find(delim, 1, true) or v:find('["\r\n]') then
    return '"' .. v:gsub('"', '""') .. '"'
  end
  return v
end

-- Parse an integer-valued query string; nil if not an integer.
function M.int(s)
  if type(s) ~= "string" or not s:match("^%s*[-+]?%d+%.?0*%s*$") then return nil end
  return math.tointeger(tonumber(s)) or math.floor(tonumber(s))
end

-- Stable sort by a list of {key=fn, desc=bool} comparators.
function M.stable_sort(items, keys)
  local idx = {}
  for i, v in ipairs(items) do idx[v] = i end
  table.sort(items, function(a, b)
    for _, k in ipairs(keys) do
      local x, y = k.key(a), k.key(b)
      if x ~= y then
        if k.desc then return x > y end
        return x < y
      end
    end
    return idx[a] < idx[b]
  end)
  return items
end

function M.shallow_copy(t)
  local r = {}
  for k, v in pairs(t) do r[k] = v end
  return r
end

function M.deep_copy(t)
  if type(t) ~= "table" then return t end
  local r = {}
  for k, v in pairs(t) do r[k] = M.deep_copy(v) end
  return setmetatable(r, getmetatable(t))
end

-- Cheap stable fake hash (hex) for gravatar-like URLs.
function M.fakehash(s, len)
  local h1, h2 = 5381, 52711
  for i = 1, #s do
    local c = s:byte(i)
    h1 = (h1 * 33 + c) % 4294967296
    h2 = (h2 * 31 + c) % 4294967296
  end
  local out = string.format("%08x%08x", h1, h2)
  return (out:rep(4)):sub(1, len or 32)
end

return M
