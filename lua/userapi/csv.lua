--- RFC 4180 CSV, parsed incrementally: feed chunks as they arrive, get rows
-- as soon as they are complete. Each byte is looked at once, whatever the
-- chunk boundaries, and memory holds at most one unfinished row, which
-- `max_row_bytes` bounds.
-- @module userapi.csv
local _M = {}

local find, sub, gsub, byte, concat = string.find, string.sub, string.gsub, string.byte, table.concat
local huge = math.huge
local DQUOTE, CR, LF = 34, 13, 10

-- where the parser is: at a field's start, inside an unquoted field, inside a
-- quoted one, or just after a quote inside a quoted one (a doubled quote or the end)
local START, PLAIN, QUOTED, AFTER_QUOTE = 1, 2, 3, 4

--- A parser calling `on_row(fields)` for each record (an array of strings).
-- A quote after a quoted field's closing quote, or text after it, is read
-- leniently as part of the field.
-- @tparam[opt=","] string delimiter one character
-- @tparam function on_row called with each record's fields
-- @tparam[opt] int max_row_bytes the longest row, line end included; none by default
-- @treturn table the parser: `feed(chunk)` as the text arrives and `finish()` at
-- the end; each returns `true`, or `nil` and a message once a row is longer than
-- `max_row_bytes` (the parser then takes no more)
-- @usage local p = csv.parser(",", function(fields) print(#fields) end)
-- p.feed('a,"b\n') p.feed('c"\r\n') p.finish()   -- one record: a, b<LF>c
function _M.parser(delimiter, on_row, max_row_bytes)
  delimiter = delimiter or ","
  local stop = "[" .. gsub(delimiter, "%W", "%%%0") .. "\n]"
  local dbyte = byte(delimiter)
  local limit = max_row_bytes or huge
  local fields, nf = {}, 0
  local parts, np = {}, 0  -- the pieces of the field being read, across chunks
  local state, row_bytes, failed = START, 0, nil

  local function piece(s)
    np = np + 1
    parts[np] = s
  end

  -- the field read so far, with `last` (the text up to its end in this chunk)
  local function field_text(last)
    if np == 0 then return last end
    local v
    if np == 1 and last == "" then
      v = parts[1]
    else
      piece(last)
      v = concat(parts, "", 1, np)
    end
    for k = 1, np do parts[k] = nil end
    np = 0
    return v
  end

  local function end_field(v)
    nf = nf + 1
    fields[nf] = v
  end

  local function end_row()
    local row, blank = fields, nf == 1 and fields[1] == ""
    fields, nf, row_bytes = {}, 0, 0
    if not blank then on_row(row) end
  end

  local function too_long()
    failed = "a CSV row is longer than max_row_bytes (" .. limit .. ")"
    return nil, failed
  end

  local p = {}
  function p.feed(chunk)
    if failed then return nil, failed end
    local i, n, row_start = 1, #chunk, 1
    while i <= n do
      if state == START then
        if byte(chunk, i) == DQUOTE then
          state, i = QUOTED, i + 1
        else
          state = PLAIN
        end
      elseif state == PLAIN then
        local s = find(chunk, stop, i)
        if not s then
          piece(sub(chunk, i))
          i = n + 1
        else
          local v = field_text(sub(chunk, i, s - 1))
          i, state = s + 1, START
          if byte(chunk, s) == LF then
            if byte(v, -1) == CR then v = sub(v, 1, -2) end
            end_field(v)
            if row_bytes + (i - row_start) > limit then return too_long() end
            end_row()
            row_start = i
          else
            end_field(v)
          end
        end
      elseif state == QUOTED then
        local q = find(chunk, '"', i, true)
        if not q then
          piece(sub(chunk, i))
          i = n + 1
        else
          if q > i then piece(sub(chunk, i, q - 1)) end
          i, state = q + 1, AFTER_QUOTE
        end
      else -- AFTER_QUOTE
        local c = byte(chunk, i)
        i = i + 1
        if c == DQUOTE then
          piece('"')
          state = QUOTED
        elseif c == dbyte then
          end_field(field_text(""))
          state = START
        elseif c == LF then
          end_field(field_text(""))
          state = START
          if row_bytes + (i - row_start) > limit then return too_long() end
          end_row()
          row_start = i
        elseif c ~= CR then
          -- text after the closing quote: kept, as most readers do
          i, state = i - 1, PLAIN
        end
      end
    end
    row_bytes = row_bytes + (n - row_start + 1)
    if row_bytes > limit then return too_long() end
    return true
  end

  local unclosed = false
  function p.finish()
    if failed then return nil, failed end
    unclosed = state == QUOTED
    if state ~= START or nf > 0 then
      local v = field_text("")
      if state == PLAIN and byte(v, -1) == CR then v = sub(v, 1, -2) end
      end_field(v)
      end_row()
      state = START
    end
    return true
  end

  --- After `finish`: whether the text ended inside a quoted field, its closing
  -- quote missing (the last field then holds every line after its opening quote).
  function p.unclosed() return unclosed end

  return p
end

--- Parses a whole CSV text into rows keyed by the header; the `groups` and
-- `permissions` columns of Opendatasoft's export become arrays.
-- @tparam string text the CSV text, header first
-- @tparam[opt=","] string delimiter one character
-- @treturn {table,...} the rows
function _M.parse(text, delimiter)
  local rows, header = {}, nil
  local p = _M.parser(delimiter, function(f)
    if not header then header = f else rows[#rows + 1] = _M.record(header, f) end
  end)
  p.feed(text)
  p.finish()
  return rows
end

local LISTS = { groups = true, permissions = true }

local function split(s)
  local out = {}
  for item in s:gmatch("[^;]+") do out[#out + 1] = item end
  return out
end

--- One row keyed by the header names.
-- @tparam {string,...} header the column names
-- @tparam {string,...} fields the row's values
-- @treturn table `{ [name] = value }`; `groups` and `permissions` split on `;`
function _M.record(header, fields)
  local r = {}
  for i, name in ipairs(header) do
    local v = fields[i] or ""
    r[name] = LISTS[name] and split(v) or v
  end
  return r
end

--- One CSV line (without its line end): fields quoted when they hold the
-- delimiter, a double quote, CR or LF (RFC 4180).
-- @tparam {string,...} fields the values; non-strings go through `tostring`
-- @tparam[opt=","] string delimiter one character
-- @treturn string
-- @usage io.write(csv.format_row{ "ada", "Ada, Countess", 'say "hi"' }, "\n")
-- -- ada,"Ada, Countess","say ""hi"""
function _M.format_row(fields, delimiter)
  delimiter = delimiter or ","
  local out = {}
  for i, f in ipairs(fields) do
    f = type(f) == "string" and f or tostring(f == nil and "" or f)
    if find(f, '[\r\n"]') or find(f, delimiter, 1, true) then f = '"' .. gsub(f, '"', '""') .. '"' end
    out[i] = f
  end
  return table.concat(out, delimiter)
end

return _M
