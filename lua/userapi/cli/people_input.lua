--- What the people commands (`userapi.cli.people`) read from the command
-- line and from a people file, checked before anything is sent: emails,
-- vendor lists, and the CSV (`email,first_name,last_name[,vendors]`).
-- @module userapi.cli.people_input
local userapi = require "userapi"
local config = require "userapi.config"
local csv = require "userapi.csv"
local usage_ = require "userapi.cli.usage"

local ipairs, pairs, tostring, pcall, type = ipairs, pairs, tostring, pcall, type
local usage, did_you_mean = usage_.raise, usage_.did_you_mean

local _M = {}

--- The names of a list: `a,b`, `a;b` or `a b`.
-- @tparam string s
-- @tparam string what where it came from, for the message
-- @treturn {string,...}
function _M.names(s, what)
  local list = {}
  for name in s:gmatch("[^,;%s]+") do list[#list + 1] = name end
  if #list == 0 then usage("%s: a list of names expected, got '%s'", what, s) end
  return list
end

--- A vendor's name from what was typed: a registered vendor with a people part.
-- @tparam string typed
-- @tparam string what where it came from
-- @treturn string
function _M.vendor(typed, what)
  local name = config.vendor_name(typed)
  if not name then usage("%s: unknown vendor '%s'%s", what, typed, did_you_mean(typed, userapi.vendors)) end
  if not userapi.vendors[name].people then
    usage("%s: %s has no people part (userapi.state): it has no accounts of people to find or change", what, name)
  end
  return name
end

local function email(s, what)
  -- no control byte either (ESC, DEL, ...): a stray one from a terminal or a file names nobody
  if type(s) ~= "string" or not s:find("^[^@%s%c]+@[^@%s%c]+$") then
    usage("%s: an email expected, got '%s'", what, tostring(s))
  end
  return s:lower()
end

--- The emails of the positional arguments from index `first`.
-- @tparam {string,...} positional
-- @tparam int first
-- @tparam string cmd the command, for messages
-- @treturn {string,...} lower-cased
function _M.emails(positional, first, cmd)
  local list = {}
  for i = first, #positional do list[#list + 1] = email(positional[i], cmd) end
  return list
end

local COLUMNS = { email = true, first_name = true, last_name = true, vendors = true }

-- the people of a CSV text: { email, first_name, last_name, vendors = set }
local function from_csv(text, path)
  -- a spreadsheet's export: a byte order mark (Excel's "CSV UTF-8"), quoted
  -- header names, spaces after the commas; the names are read as the parser
  -- reads the fields, so that the rows are keyed by the names checked
  text = text:gsub("^\239\187\191", "")
  local names, records = nil, {}
  local ok, err = pcall(function()
    local p = csv.parser(",", function(f)
      if names then records[#records + 1] = f else names = f end
    end)
    p.feed(text)
    p.finish()
    if p.unclosed() then error(("row %d: a quoted field is never closed"):format(#records + 1), 0) end
  end)
  if not ok then usage("--file %s: %s", path, tostring(err):gsub("^[^\n]-:%d+: ", "")) end
  names = names or {}
  for i, name in ipairs(names) do names[i] = name:gsub("^%s+", ""):gsub("%s+$", "") end
  local rows = {}
  for i, f in ipairs(records) do rows[i] = csv.record(names, f) end
  for _, name in ipairs(names) do
    -- an empty name: a trailing comma, a column left blank
    if name ~= "" and not COLUMNS[name] then
      usage("--file %s: unknown column '%s'%s (email, first_name, last_name, vendors)", path, name,
        did_you_mean(name, COLUMNS))
    end
  end
  local people = {}
  for i, r in ipairs(rows) do
    local where = ("--file %s: row %d"):format(path, i + 1)
    if r.email == nil then usage("--file %s: an email column is required", path) end
    local p = { email = email(r.email, where) }
    if r.first_name ~= nil and r.first_name ~= "" then p.first_name = r.first_name end
    if r.last_name ~= nil and r.last_name ~= "" then p.last_name = r.last_name end
    if r.vendors ~= nil and r.vendors:find("%S") then
      p.vendors = {}
      for _, typed in ipairs(_M.names(r.vendors, where)) do p.vendors[_M.vendor(typed, where)] = true end
    end
    people[#people + 1] = p
  end
  return people
end

local function read_file(path, stdin)
  if path == "-" then return stdin:read("*a") or "" end
  return require("userapi.cli.usage").read_file(path, "--file")
end

--- The people of the command: its EMAIL arguments (onboard: one, with
-- `--first-name` and `--last-name`), or `--file`'s rows; one each, the first kept.
-- @tparam string mode `onboard` or `offboard`
-- @tparam table o the parsed command line
-- @tparam table stdin the command's standard input
-- @treturn {table,...} `{ email, first_name, last_name, vendors = { name = true } }`
-- @treturn table the vendors the file names (name -> true)
-- @raise a usage error
function _M.people(mode, o, stdin)
  local people
  if o.file then
    if #o.positional > 1 then usage("%s: EMAIL arguments and --file do not go together", mode) end
    people = from_csv(read_file(o.file, stdin), o.file == "-" and "(stdin)" or o.file)
  else
    people = {}
    for _, e in ipairs(_M.emails(o.positional, 2, mode)) do people[#people + 1] = { email = e } end
    if (o["first-name"] or o["last-name"]) and #people ~= 1 then
      usage("%s: --first-name and --last-name go with one EMAIL (a file gives several: --file)", mode)
    end
    if people[1] then people[1].first_name, people[1].last_name = o["first-name"], o["last-name"] end
  end
  if #people == 0 then usage("%s: which person? userapi %s EMAIL..., or --file people.csv", mode, mode) end
  local seen, unique, needed = {}, {}, {}
  for _, p in ipairs(people) do
    if not seen[p.email] then seen[p.email], unique[#unique + 1] = true, p end
    for v in pairs(p.vendors or {}) do needed[v] = true end
  end
  return unique, needed
end

return _M
