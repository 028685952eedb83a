--- RFC 4180 CSV, parsed incrementally: feed chunks as they arrive, get rows
-- as soon as they are complete. Memory holds at most one unfinished row.
-- @module userapi.csv
local _M = {}

local find, sub, gsub, byte = string.find, string.sub, string.gsub, string.byte
local DQUOTE = 34

--- A parser calling `on_row(fields)` for each record (an array of strings).
-- @tparam[opt=","] string delimiter one character
-- @tparam function on_row called with each record's fields
-- @treturn table the parser: `feed(chunk)` as the text arrives, `finish()` at the end
-- @usage local p = csv.parser(",", function(fields) print(#fields) end)
-- p.feed('a,"b\n') p.feed('c"\r\n') p.finish()   -- one record: a, b<LF>c
function _M.parser(delimiter, on_row)
  delimiter = delimiter or ","
  local buf, pos = "", 1
  local fields = {}
  local p = {}

  -- Parses one field at pos; returns the field and the position after the
  -- delimiter or newline that ends it, and what ended it; nil when more input is needed.
  local function field(final)
    if byte(buf, pos) == DQUOTE then
      local i = pos + 1
      while true do
        local q = find(buf, '"', i, true)
        if not q then return nil end
        if byte(buf, q + 1) == DQUOTE then
          i = q + 2
        else
          if q == #buf and not final then return nil end
          local value = gsub(sub(buf, pos + 1, q - 1), '""', '"')
          local c = sub(buf, q + 1, q + 1)
          if c == "\r" then
            if q + 1 == #buf and not final then return nil end
            c = "\n"
            q = q + 1
          end
          return value, q + 2, c == "" and "\n" or c
        end
      end
    end
    local s, e, c = find(buf, "([" .. (delimiter == "%" and "%%" or gsub(delimiter, "%p", "%%%0")) .. "\n])", pos)
    if not s then
      if not final then return nil end
      return sub(buf, pos), #buf + 1, "\n"
    end
    local value = sub(buf, pos, s - 1)
    if c == "\n" and byte(value, -1) == 13 then value = sub(value, 1, -2) end
    return value, e + 1, c
  end

  local function run(final)
    while pos <= #buf do
      local value, nextpos, ended = field(final)
      if not value then
        break
      end
      fields[#fields + 1] = value
      pos = nextpos
      if ended == "\n" then
        local row = fields
        fields = {}
        if not (#row == 1 and row[1] == "") then on_row(row) end
      end
    end
    -- drop what is consumed so memory stays at one record
    if pos > 1 then
      buf = sub(buf, pos)
      pos = 1
    end
  end

  function p.feed(chunk)
    buf = buf .. chunk
    run(false)
  end

  function p.finish()
    run(true)
    if #fields > 0 then
      on_row(fields)
      fields = {}
    end
  end

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
