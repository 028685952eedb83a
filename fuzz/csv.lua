-- Property fuzzing of the incremental CSV parser (userapi.csv), seeded:
--   lua5.4 fuzz/csv.lua [seconds=20] [seed=os.time()]
-- For random texts (quotes, doubled quotes, CR, LF, delimiters, multi-byte
-- text, long runs), random delimiters and random chunkings:
--   1. the parser never raises;
--   2. its rows equal those of the reference reader below (a byte-by-byte
--      reading of the same lenient RFC 4180 rules), whatever the chunk cuts;
--   3. with max_row_bytes, the rows are the same when every row fits, and
--      otherwise exactly the rows before the first row longer than the limit,
--      then `nil, "... max_row_bytes (N)"`, and the parser stays failed;
--   4. rows written with csv.format_row read back as themselves.
-- A failure prints the seed, the case and the difference, and exits 1.
local csv = require "userapi.csv"

local fuzz = require("fuzz.harness").new("csv")
local random, concat = math.random, table.concat

-- ---- the reference: one byte at a time --------------------------------------

-- rows (arrays of fields) and, for each row read (blank ones too), its size in bytes
local function reference(text, delim)
  local rows, spans = {}, {}
  local fields, field = {}, {}
  local state, row_start = "start", 1 -- start | plain | quoted | after
  local function end_field(strip_cr)
    local v = concat(field)
    if strip_cr and v:sub(-1) == "\r" then v = v:sub(1, -2) end
    fields[#fields + 1] = v
    field = {}
  end
  local function end_row(last)
    spans[#spans + 1] = last - row_start + 1
    row_start = last + 1
    if not (#fields == 1 and fields[1] == "") then rows[#rows + 1] = fields end
    fields = {}
  end
  local i = 1
  while i <= #text do
    local c = text:sub(i, i)
    if state == "start" then
      if c == '"' then state = "quoted" else state = "plain" i = i - 1 end
    elseif state == "plain" then
      if c == delim then end_field(false) state = "start"
      elseif c == "\n" then end_field(true) end_row(i) state = "start"
      else field[#field + 1] = c end
    elseif state == "quoted" then
      if c == '"' then state = "after" else field[#field + 1] = c end
    else -- after a quote in a quoted field
      if c == '"' then field[#field + 1] = '"' state = "quoted"
      elseif c == delim then end_field(false) state = "start"
      elseif c == "\n" then end_field(false) end_row(i) state = "start"
      elseif c ~= "\r" then state = "plain" i = i - 1 end
    end
    i = i + 1
  end
  if state ~= "start" or #fields > 0 then
    end_field(state == "plain")
    end_row(#text)
  end
  return rows, spans
end

-- ---- random cases ---------------------------------------------------------------

local DELIMS = { ",", ";", "|", ".", "%", "\t", "a" }
local PIECES = { "a", "b", "xyz", " ", '"', '"', '""', "\r", "\n", "\r\n", "\r\n", "é", "\0", "%", "." }

local function random_text(delim)
  local out, n = {}, random(0, 60)
  for k = 1, n do
    local r = random(100)
    if r <= 20 then out[k] = delim
    elseif r <= 23 then out[k] = string.rep("x", random(20, 400)) -- a long row now and then
    else out[k] = PIECES[random(#PIECES)] end
  end
  return concat(out)
end

-- the text cut at random places (sometimes one byte at a time)
local function chunks(text)
  local out, i = {}, 1
  local step = random(4) == 1 and 1 or nil
  while i <= #text do
    local n = step or random(1, 64)
    out[#out + 1] = text:sub(i, i + n - 1)
    i = i + n
  end
  if random(3) == 1 then table.insert(out, random(#out + 1), "") end
  return out
end

-- runs the parser over the chunks: rows, and the failure if any
local function run(text, delim, limit)
  local rows = {}
  local p = csv.parser(delim, function(f) rows[#rows + 1] = f end, limit)
  for _, c in ipairs(chunks(text)) do
    local ok, err = p.feed(c)
    if not ok then
      if p.feed("x\n") or p.finish() then return rows, "parser went on after a failure" end
      return rows, err
    end
  end
  local ok, err = p.finish()
  return rows, (not ok) and err or nil
end

local function show(v)
  if type(v) ~= "table" then return string.format("%q", tostring(v)) end
  local parts = {}
  for i, x in ipairs(v) do parts[i] = show(x) end
  return "{" .. concat(parts, ", ") .. "}"
end

local function same(a, b) return show(a) == show(b) end

local function fail(what, text, delim, limit, got, want)
  fuzz.fail(what, { "delimiter " .. show(delim) .. ", max_row_bytes " .. tostring(limit), "text " .. show(text),
                    "got  " .. show(got), "want " .. show(want) })
end

local function check_case()
  local delim = DELIMS[random(#DELIMS)]
  local text = random_text(delim)
  local want, spans = reference(text, delim)
  local ok, rows, err = pcall(run, text, delim, nil)
  if not ok then fail("raised", text, delim, nil, rows, want) end
  if err or not same(rows, want) then fail("rows", text, delim, nil, { rows, err }, want) end

  local limit = random(1, 300)
  local first_over
  for k, s in ipairs(spans) do
    if s > limit and not first_over then first_over = k end
  end
  ok, rows, err = pcall(run, text, delim, limit)
  if not ok then fail("raised with a limit", text, delim, limit, rows, want) end
  if not first_over then
    if err or not same(rows, want) then fail("rows under the limit", text, delim, limit, { rows, err }, want) end
  else
    -- the rows before the first long one, blank rows left out
    local consumed = 0
    for k = 1, first_over - 1 do consumed = consumed + spans[k] end
    local before = reference(text:sub(1, consumed), delim)
    local message = "a CSV row is longer than max_row_bytes (" .. limit .. ")"
    if err ~= message or not same(rows, before) then
      fail("rows past the limit", text, delim, limit, { rows, err }, { before, message })
    end
  end

  -- format_row round trip (a row of one empty field is a blank line: left out)
  local fields = {}
  for k = 1, random(1, 5) do fields[k] = random_text(delim):sub(1, 30) end
  if not (#fields == 1 and fields[1] == "") then
    local line = csv.format_row(fields, delim) .. "\r\n"
    local back = run(line, delim, nil)
    if not same(back, { fields }) then fail("format_row round trip", line, delim, nil, back, { fields }) end
  end
end

fuzz.run(check_case, 100)
