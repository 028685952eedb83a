--- Output formats shared by the `userapi` command and scripts: JSON with
-- sorted keys, and rows as JSON lines, CSV or an aligned table.
-- @module userapi.format
-- @usage
-- local format = require "userapi.format"
-- local w = format.writer("table", io.stdout, { "id", "email" })
-- for u in kandji:each_user() do w.row(u) end
-- w.finish()
local json = require "userapi.json"
local csv = require "userapi.csv"

local type, pairs, ipairs, tostring, select, next = type, pairs, ipairs, tostring, select, next
local concat, sort, huge, sformat = table.concat, table.sort, math.huge, string.format
local find, gmatch, tonumber = string.find, string.gmatch, tonumber

local _M = {}

--- The names of the formats.
_M.NAMES = { json = true, jsonl = true, csv = true, table = true }

--- The keys of a table, sorted by their string form (@{userapi.json.sorted_keys}).
-- @function sorted_keys
-- @tparam table t
-- @treturn {any,...}
-- @usage format.sorted_keys{ b = 1, a = 2 }  --> { "a", "b" }
_M.sorted_keys = json.sorted_keys

--- A `table.sort` order for names: those in `rank` by their rank, then the
-- others by name.
-- @tparam table rank name -> number
-- @treturn function
-- @usage table.sort(names, format.ranked{ id = 1, email = 2 })
function _M.ranked(rank)
  return function(a, b)
    local ra, rb = rank[a] or huge, rank[b] or huge
    if ra ~= rb then return ra < rb end
    return a < b
  end
end

--- True for a non-empty table whose keys are 1..n.
-- @tparam table t
-- @treturn boolean
function _M.is_array(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end
local is_array = _M.is_array

-- ---- JSON output: sorted keys, no escaped slashes ---------------------------

--- Renders a value as JSON with sorted keys (@{userapi.json.encode_sorted}).
-- @function to_json
-- @param v any value read from a vendor
-- @tparam[opt] number indent spaces per level; compact when nil
-- @tparam[opt=0] number depth the starting level
-- @treturn string
_M.to_json = json.encode_sorted

-- ---- rows: jsonl, csv, table ------------------------------------------------

local PREFERRED = { "id", "username", "email", "name", "first_name", "last_name", "display_name",
                    "user_type", "account_type" }
local RANK = {}
for i, k in ipairs(PREFERRED) do RANK[k] = i end

--- The union of the keys of rows, identifying columns first (`id`,
-- `username`, `email`, `name`, ...), then the others alphabetically.
-- @tparam {table,...} rows records
-- @treturn {string,...} column names
function _M.columns(rows)
  local seen, cols = {}, {}
  for _, r in ipairs(rows) do
    if type(r) == "table" then
      for k in pairs(r) do
        local name = tostring(k)
        if not seen[name] then seen[name], cols[#cols + 1] = true, name end
      end
    end
  end
  sort(cols, _M.ranked(RANK))
  return cols
end

--- One cell of a CSV or table row: strings as they are, arrays of scalars
-- joined with `;`, other tables as compact JSON, null and nil empty.
-- @param v a field of a record
-- @treturn string
function _M.cell(v)
  if v == nil or v == json.null then return "" end
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return json.encode_sorted(v) end
  if t == "table" then
    if next(v) == nil then return "" end
    if is_array(v) then
      local scalars = {}
      for i, x in ipairs(v) do
        if type(x) == "table" then return _M.to_json(v) end
        scalars[i] = _M.cell(x)
      end
      return concat(scalars, ";")
    end
    return _M.to_json(v)
  end
  return tostring(v)
end

-- display width of UTF-8 text: code points
local function width(s) return #s - select(2, s:gsub("[\128-\191]", "")) end

local NAMED = { ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

-- A run of bytes >= 0x80: well-formed UTF-8 kept, except the C1 controls
-- (U+0080..U+009F); every byte outside a well-formed sequence (a lone 0x9b
-- is CSI to a terminal in an 8-bit locale) written as \xNN.
local function escape_high(run)
  local out, i, n = {}, 1, #run
  while i <= n do
    local c = run:byte(i)
    local len = (c >= 0xC2 and c <= 0xDF and 2) or (c >= 0xE0 and c <= 0xEF and 3) or (c >= 0xF0 and c <= 0xF4 and 4)
    local seq = len and run:sub(i, i + len - 1)
    if seq and #seq == len and not seq:find("[^\128-\191]", 2) then
      out[#out + 1] = (c == 0xC2 and seq:byte(2) <= 0x9F) and sformat("\\u%04x", seq:byte(2)) or seq
      i = i + len
    else
      out[#out + 1] = sformat("\\x%02x", c)
      i = i + 1
    end
  end
  return table.concat(out)
end

--- Text from a vendor made safe for a terminal: control characters (C0,
-- DEL and the C1 range, which terminals read as escape sequences that set the
-- title or clear the screen) are written as `\n`, `\t`, `\x1b`, `\u009b`,
-- and a byte that is not part of well-formed UTF-8 as `\x9b`.
-- @tparam string s
-- @treturn string
function _M.escape_terminal(s)
  s = s:gsub("%c", function(c) return NAMED[c] or sformat("\\x%02x", c:byte()) end)
  return (s:gsub("[\128-\255]+", escape_high))
end

local MAX_CELL = 48

local function fit(s)
  s = _M.escape_terminal(s)
  if width(s) <= MAX_CELL then return s end
  -- cut at a code point boundary
  local n, i = 0, 1
  while i <= #s do
    local b = s:byte(i)
    if b < 128 or b >= 192 then
      n = n + 1
      if n > MAX_CELL - 3 then break end
    end
    i = i + 1
  end
  return s:sub(1, i - 1) .. "..."
end

--- Writes rows as an aligned text table: a header, a rule, one line per row;
-- long cells are cut to 48 characters.
-- @tparam file out where to write (anything with `write`)
-- @tparam {table,...} rows records
-- @tparam[opt] {string,...} cols the columns; all keys by default
function _M.write_table(out, rows, cols)
  cols = cols or _M.columns(rows)
  if #cols == 0 then return end
  local cells, widths, header = {}, {}, {}
  for j, c in ipairs(cols) do header[j] = fit(c) widths[j] = width(header[j]) end
  for i, r in ipairs(rows) do
    local line = {}
    for j, c in ipairs(cols) do
      local v = _M.field(r, c)
      line[j] = fit(_M.cell(v))
      if width(line[j]) > widths[j] then widths[j] = width(line[j]) end
    end
    cells[i] = line
  end
  local function emit(line)
    local parts = {}
    for j = 1, #cols do
      parts[j] = j < #cols and (line[j] .. (" "):rep(widths[j] - width(line[j]))) or line[j]
    end
    out:write((concat(parts, "  "):gsub("%s+$", "")), "\n")
  end
  emit(header)
  local rule = {}
  for j = 1, #cols do rule[j] = ("-"):rep(widths[j]) end
  emit(rule)
  for _, line in ipairs(cells) do emit(line) end
end

--- Writes rows as CSV (RFC 4180 quoting, LF line ends) with a header line.
-- @tparam file out where to write
-- @tparam {table,...} rows records
-- @tparam[opt] {string,...} cols the columns; the union of the keys by default
function _M.write_csv(out, rows, cols)
  cols = cols or _M.columns(rows)
  if #cols == 0 then return end
  out:write(csv.format_row(cols), "\n")
  for _, r in ipairs(rows) do
    local fields = {}
    for j, c in ipairs(cols) do
      local v = _M.field(r, c)
      fields[j] = _M.cell(v)
    end
    out:write(csv.format_row(fields), "\n")
  end
end

--- The value of a column in a record: its key, else a path into nested
-- objects (`integration.name`, `groups.1.uid`).
-- @param r a record
-- @tparam string col the column
-- @return the value, or nil
function _M.field(r, col)
  if type(r) ~= "table" then return nil end
  local v = r[col]
  if v ~= nil or not find(col, ".", 1, true) then return v end
  v = r
  for key in gmatch(col, "[^%.]+") do
    if type(v) ~= "table" then return nil end
    local x = v[key]
    if x == nil and find(key, "^%d+$") then x = v[tonumber(key)] end
    v = x
  end
  return v
end

--- The columns that no record has (every column, when there is no record:
-- nothing tells then): the caller's typing mistakes.
-- @tparam {table,...} rows records
-- @tparam {string,...} cols columns
-- @treturn {string,...} the unknown ones, empty when all are known
function _M.unknown_columns(rows, cols)
  local unknown = {}
  if #rows == 0 then return unknown end
  for _, c in ipairs(cols) do
    local found = false
    for _, r in ipairs(rows) do
      if _M.field(r, c) ~= nil then found = true break end
    end
    if not found then unknown[#unknown + 1] = c end
  end
  return unknown
end

--- A sink for rows in one of the formats: `row(r)` as they come, `finish()`
-- at the end. json and jsonl stream; csv and table need every row for the columns.
-- @tparam string fmt `json`, `jsonl`, `csv` or `table`
-- @tparam file out where to write
-- @tparam[opt] {string,...} cols the columns of csv and table
-- @treturn table `{ row = function(r), finish = function(), unknown = function() }`:
-- `unknown()` lists the columns no row of csv or table has, before `finish`
function _M.writer(fmt, out, cols)
  local w, rows, n = {}, {}, 0
  function w.row(r)
    n = n + 1
    if fmt == "jsonl" then
      out:write(_M.to_json(r), "\n")
    elseif fmt == "json" then
      out:write(n == 1 and "[\n  " or ",\n  ", _M.to_json(r, 2, 1))
    else
      rows[n] = r
    end
  end
  function w.unknown()
    if not cols or (fmt ~= "csv" and fmt ~= "table") then return {} end
    return _M.unknown_columns(rows, cols)
  end
  function w.rows() return rows end
  function w.finish()
    if fmt == "json" then
      out:write(n == 0 and "[]\n" or "\n]\n")
    elseif fmt == "csv" then
      _M.write_csv(out, rows, cols)
    elseif fmt == "table" then
      _M.write_table(out, rows, cols)
    end
  end
  return w
end

return _M
