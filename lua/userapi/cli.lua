--- The `userapi` command: every operation of the four vendors from a shell,
-- driven by the same operation tables as the library.
--
--     userapi VENDOR OPERATION [ARGS] [--param value ...] [--body JSON|@file|@-]
--
-- Credentials come from the environment (`USERAPI_KANDJI_TOKEN`, ...) or a
-- config file with one `[profile.vendor]` section per profile and vendor;
-- never from a flag, except `--token-from-stdin`. Exit codes: 0 success, 1 the
-- operation failed (the vendor's error on stderr), 2 usage error.
-- `bin/userapi` is a thin wrapper around `main`.
-- @module userapi.cli
-- @usage
-- -- the command, in-process (the specs capture the streams this way)
-- local cli = require "userapi.cli"
-- local code = cli.main({ "kandji", "list_users", "--archived", "false" }, os.getenv)
local userapi = require "userapi"
local json = require "userapi.json"
local csv = require "userapi.csv"
local core = require "userapi.core"
local errors = require "userapi.errors"

local type, pairs, ipairs, tostring, tonumber, pcall = type, pairs, ipairs, tostring, tonumber, pcall
local concat, sort, floor, format = table.concat, table.sort, math.floor, string.format
local unpack = table.unpack or unpack

local _M = {}

--- The vendors, in the order the help lists them.
_M.VENDORS = { "opendatasoft", "arthur", "kandji", "sigfox" }
local ALIASES = { ods = "opendatasoft" }

--- Where each vendor's constructor options come from: `{ option, ENV_NAME }`
-- pairs, in the order the help lists them.
_M.ENV = {
  opendatasoft = { { "apikey", "USERAPI_ODS_APIKEY" }, { "domain", "USERAPI_ODS_DOMAIN" } },
  arthur = { { "access_token", "USERAPI_ARTHUR_TOKEN" }, { "client_id", "USERAPI_ARTHUR_CLIENT_ID" },
             { "client_secret", "USERAPI_ARTHUR_CLIENT_SECRET" } },
  kandji = { { "token", "USERAPI_KANDJI_TOKEN" }, { "subdomain", "USERAPI_KANDJI_SUBDOMAIN" },
             { "region", "USERAPI_KANDJI_REGION" } },
  sigfox = { { "login", "USERAPI_SIGFOX_LOGIN" }, { "password", "USERAPI_SIGFOX_PASSWORD" } },
}

-- the option naming the tenant's host, when the vendor has one
local HOST = { opendatasoft = "domain", kandji = "subdomain" }

-- the option --token-from-stdin fills
local SECRET = { opendatasoft = "apikey", arthur = "access_token", kandji = "token", sigfox = "password" }

-- keys a config section may hold besides the vendor's own (_M.ENV)
local COMMON_KEYS = { base_url = "string", timeout_ms = "number", connect_timeout_ms = "number",
                      verify_tls = "boolean", ca_file = "string", proxy = "string", allow_insecure = "boolean" }
local VENDOR_KEYS = { opendatasoft = { apikey_in = "string" } }

local FORMATS = { json = true, jsonl = true, csv = true, table = true }

-- global options: true = takes a value
local GLOBAL = {
  all = false, ["dry-run"] = false, help = false, ["token-from-stdin"] = false, verbose = false, version = false,
  format = true, each = true, concurrency = true, body = true, profile = true, ["base-url"] = true, columns = true,
}
local SHORT = { h = "help", v = "verbose" }

-- ---- failures --------------------------------------------------------------

local USAGE_MT = {}

-- raises a usage error (exit code 2)
local function usage(msg, ...)
  if select("#", ...) > 0 then msg = format(msg, ...) end
  error(setmetatable({ message = msg }, USAGE_MT), 0)
end

local function is_usage(e) return type(e) == "table" and getmetatable(e) == USAGE_MT end

-- ---- small helpers ---------------------------------------------------------

local function getenv_of(env)
  if env == nil then return os.getenv end
  if type(env) == "function" then return env end
  return function(k) return env[k] end
end

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local function is_array(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function read_file(path, what)
  local f, err = io.open(path, "rb")
  if not f then usage("%s: cannot read %s", what, tostring(err)) end
  local s = f:read("*a")
  f:close()
  return s
end

-- the names of the path parameters of an operation, in URL order
local function path_params(op)
  local names = {}
  for name in op.path:gmatch("{([%w_]+)}") do names[#names + 1] = name end
  return names
end

-- ---- JSON output: sorted keys, no escaped slashes ---------------------------

local ESC = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f', ['\n'] = '\\n',
              ['\r'] = '\\r', ['\t'] = '\\t' }

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return ESC[c] or format("\\u%04x", c:byte()) end) .. '"'
end

local function number(v)
  if v ~= v or v == math.huge or v == -math.huge then return "null" end
  if floor(v) == v and v > -2^53 and v < 2^53 then return format("%d", v) end
  return format("%.14g", v)
end

--- Renders a value as JSON with sorted keys: compact, or indented by `indent`
-- spaces when given. Empty tables are `{}` (as lua-cjson writes them).
-- @param v any value read from a vendor
-- @tparam[opt] number indent spaces per level; compact when nil
-- @tparam[opt=0] number depth the starting level
-- @treturn string
function _M.to_json(v, indent, depth)
  depth = depth or 0
  local t = type(v)
  if v == nil or v == json.null then return "null" end
  if t == "string" then return quote(v) end
  if t == "number" then return number(v) end
  if t == "boolean" then return tostring(v) end
  if t ~= "table" then return quote(tostring(v)) end
  if next(v) == nil then return "{}" end
  local nl, pad, inner, colon = "", "", "", ":"
  if indent then
    nl, pad, inner, colon = "\n", (" "):rep(indent * depth), (" "):rep(indent * (depth + 1)), ": "
  end
  local parts = {}
  if is_array(v) then
    for i = 1, #v do parts[i] = inner .. _M.to_json(v[i], indent, depth + 1) end
    return "[" .. nl .. concat(parts, "," .. nl) .. nl .. pad .. "]"
  end
  for i, k in ipairs(sorted_keys(v)) do
    parts[i] = inner .. quote(tostring(k)) .. colon .. _M.to_json(v[k], indent, depth + 1)
  end
  return "{" .. nl .. concat(parts, "," .. nl) .. nl .. pad .. "}"
end

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
  sort(cols, function(a, b)
    local ra, rb = RANK[a] or 1000, RANK[b] or 1000
    if ra ~= rb then return ra < rb end
    return a < b
  end)
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
  if t == "number" then return number(v) end
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

local MAX_CELL = 48

local function fit(s)
  s = s:gsub("[%c]", " ")
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
  local cells, widths = {}, {}
  for j, c in ipairs(cols) do widths[j] = width(c) end
  for i, r in ipairs(rows) do
    local line = {}
    for j, c in ipairs(cols) do
      local v
      if type(r) == "table" then v = r[c] end
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
  emit(cols)
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
      local v
      if type(r) == "table" then v = r[c] end
      fields[j] = _M.cell(v)
    end
    out:write(csv.format_row(fields), "\n")
  end
end

-- A sink for rows in one of the formats: row(r) as they come, finish() at the
-- end. json and jsonl stream; csv and table need every row for the columns.
local function row_writer(fmt, out, cols)
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

-- ---- configuration -----------------------------------------------------------

--- Reads an INI-like config file: `[profile.vendor]` sections of
-- `key = value` lines, `#` and `;` comments, values optionally quoted.
-- @tparam string text the file's contents
-- @tparam[opt="config"] string name the file's name, for messages
-- @treturn table `sections["default.kandji"] = { token = ..., subdomain = ... }`
-- @raise a usage error on a malformed line
function _M.parse_config(text, name)
  name = name or "config"
  local sections, current, n = {}, nil, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    line = trim(line:gsub("\r$", ""))
    if line ~= "" and not line:find("^[#;]") then
      local section = line:match("^%[%s*([^%]]-)%s*%]$")
      if section then
        current = sections[section] or {}
        sections[section] = current
      else
        local k, v = line:match("^([%w_%-]+)%s*=%s*(.-)$")
        if not k then usage("%s:%d: expected [profile.vendor] or key = value", name, n) end
        if not current then usage("%s:%d: '%s' outside a [profile.vendor] section", name, n, k) end
        local q = v:match('^"(.*)"$') or v:match("^'(.*)'$")
        current[k:gsub("%-", "_")] = q or v
      end
    end
  end
  return sections
end

local function config_path(getenv)
  local p = getenv("USERAPI_CONFIG")
  if p and p ~= "" then return p, true end
  local home = getenv("HOME")
  if home and home ~= "" then return home .. "/.config/userapi/config", false end
end

-- the typed options of one [profile.vendor] section
local function section_options(vendor, section, where)
  local allowed = {}
  for _, pair in ipairs(_M.ENV[vendor]) do allowed[pair[1]] = "string" end
  for k, t in pairs(COMMON_KEYS) do allowed[k] = t end
  for k, t in pairs(VENDOR_KEYS[vendor] or {}) do allowed[k] = t end
  local opts = {}
  for k, v in pairs(section) do
    local t = allowed[k]
    if not t then usage("%s: unknown key '%s' for %s", where, k, vendor) end
    if t == "number" then
      v = tonumber(v)
      if not v then usage("%s: %s must be a number", where, k) end
    elseif t == "boolean" then
      if v ~= "true" and v ~= "false" then usage("%s: %s must be true or false", where, k) end
      v = v == "true"
    end
    opts[k] = v
  end
  return opts
end

--- The constructor options of a vendor from the config file and the
-- environment (the environment wins over the file). The file is
-- `USERAPI_CONFIG`, else `~/.config/userapi/config`; its section
-- `[PROFILE.VENDOR]` is read.
-- @tparam string vendor `opendatasoft`, `arthur`, `kandji` or `sigfox`
-- @tparam[opt] table|function env variables (a table, or a function like `os.getenv`, the default)
-- @tparam[opt="default"] string profile the config section's profile
-- @treturn table options for `userapi[vendor]`
-- @treturn string where they came from, for messages
-- @raise a usage error on an unreadable or malformed config file
function _M.options(vendor, env, profile)
  local getenv = getenv_of(env)
  profile = profile or getenv("USERAPI_PROFILE") or "default"
  local opts, sources = {}, {}
  local path, explicit = config_path(getenv)
  if path then
    local f = io.open(path, "rb")
    if f then
      local text = f:read("*a")
      f:close()
      local section = _M.parse_config(text, path)[profile .. "." .. vendor]
      if section then
        opts = section_options(vendor, section, path .. " [" .. profile .. "." .. vendor .. "]")
        sources[#sources + 1] = path
      end
    elseif explicit then
      usage("USERAPI_CONFIG: cannot read %s", path)
    end
  end
  for _, pair in ipairs(_M.ENV[vendor]) do
    local v = getenv(pair[2])
    if v and v ~= "" then
      opts[pair[1]] = v
      sources[#sources + 1] = pair[2]
    end
  end
  return opts, concat(sources, ", ")
end

local function credentials_hint(vendor, getenv, profile)
  local names, keys = {}, {}
  for _, pair in ipairs(_M.ENV[vendor]) do names[#names + 1], keys[#keys + 1] = pair[2], pair[1] end
  return format("set %s, or put %s in a [%s.%s] section of %s", concat(names, ", "), concat(keys, ", "),
    profile, vendor, config_path(getenv) or "~/.config/userapi/config")
end

-- ---- arguments -----------------------------------------------------------------

local function parse_argv(argv)
  local o = { positional = {}, params = {}, order = {} }
  local i, n, rest = 1, #argv, false
  while i <= n do
    local a = argv[i]
    if rest or a == "-" or a:sub(1, 1) ~= "-" then
      o.positional[#o.positional + 1] = a
    elseif a == "--" then
      rest = true
    else
      local name, value = a:match("^%-%-([^=]+)=(.*)$")
      if not name then name = a:match("^%-%-(.+)$") or SHORT[a:sub(2)] end
      if not name then usage("unknown option '%s'", a) end
      local gname = name:gsub("_", "-")
      local takes = GLOBAL[gname]
      if takes == nil then
        -- an operation parameter: always a value
        if value == nil then
          i = i + 1
          value = argv[i]
          if value == nil then usage("--%s needs a value", name) end
        end
        o.order[#o.order + 1] = { name = name, value = value }
      elseif takes then
        if value == nil then
          i = i + 1
          value = argv[i]
          if value == nil then usage("--%s needs a value", gname) end
        end
        if o[gname] ~= nil then usage("--%s given twice", gname) end
        o[gname] = value
      else
        if value ~= nil then usage("--%s takes no value", gname) end
        o[gname] = true
      end
    end
    i = i + 1
  end
  return o
end

-- how a parameter reads in the help
local function metavar(spec)
  if spec.enum then return concat(spec.enum, "|") end
  local t = spec.type
  if t == "flag" or t == "boolean" then return "true|false" end
  if t == "integer" then
    if spec.min or spec.max then return format("N (%s..%s)", spec.min or "", spec.max or "") end
    return "N"
  end
  if t == "object" or t == "array_of_objects" then return "JSON" end
  if spec.min_len and spec.min_len == spec.max_len then return format("TEXT (%d char)", spec.min_len) end
  if spec.max_len then return format("TEXT (max %d)", spec.max_len) end
  return "TEXT"
end

-- The parameters an operation takes as options: name -> { name, spec, where }
-- where is "query", "option" or "body"; both Lua and wire names are keys.
local function op_params(op)
  local params = {}
  for k, spec in pairs(op.query or {}) do
    local p = { name = k, spec = spec, where = "query" }
    params[k] = p
    if spec.wire then params[spec.wire] = p end
  end
  for k, t in pairs(op.options or {}) do params[k] = { name = k, spec = { type = t }, where = "option" } end
  if op.body then
    for k, spec in pairs(op.body.fields or {}) do params[k] = { name = k, spec = spec, where = "body" } end
    for _, k in ipairs(op.body.required or {}) do
      params[k] = params[k] or { name = k, spec = { type = "string" }, where = "body" }
    end
  end
  return params
end

local FLAG_WORDS = { ["true"] = "true", ["false"] = "false", yes = "true", no = "false",
                     ["1"] = "true", ["0"] = "false" }

local function convert(p, value)
  local t, flag = p.spec.type, "--" .. p.name
  if t == "integer" then
    if not value:match("^%-?%d+$") then usage("%s: integer expected, got '%s'", flag, value) end
    local n = tonumber(value)
    return math.tointeger and math.tointeger(n) or n
  elseif t == "flag" or t == "boolean" then
    local b = FLAG_WORDS[value:lower()]
    if not b then usage("%s: true or false expected, got '%s'", flag, value) end
    if t == "boolean" then return b == "true" end
    return b
  elseif t == "object" or t == "array_of_objects" then
    local v, err = json.decode(value)
    if v == nil then usage("%s: bad JSON (%s)", flag, tostring(err)) end
    return v
  end
  return value
end

-- the query/options table and the body fields of the operation, from the options
local function collect_params(vname, opname, op, order)
  local known = op_params(op)
  local query, fields, seen = {}, {}, {}
  for _, item in ipairs(order) do
    local p = known[item.name] or known[(item.name:gsub("%-", "_"))]
    if not p then
      local names = {}
      for k in pairs(known) do names[#names + 1] = "--" .. k end
      sort(names)
      usage("unknown parameter '--%s' for %s %s%s", item.name, vname, opname,
        #names > 0 and (" (takes " .. concat(names, ", ") .. ")") or " (it takes none)")
    end
    local target = p.where == "body" and fields or query
    local v = convert(p, item.value)
    if p.spec.type == "array" then
      target[p.name] = target[p.name] or {}
      local list = target[p.name]
      list[#list + 1] = v
    else
      if seen[p.name] then usage("--%s given twice", p.name) end
      target[p.name] = v
    end
    seen[p.name] = true
  end
  return query, fields
end

-- ---- help ----------------------------------------------------------------------

local METHOD_RANK = { GET = 1, POST = 2, PUT = 3, PATCH = 4, DELETE = 5 }

--- The operation names of a vendor table in reading order: by path, then
-- GET, POST, PUT, PATCH, DELETE.
-- @tparam table vendor an operation table (`userapi.vendors.kandji`)
-- @treturn {string,...}
function _M.operation_names(vendor)
  local names = sorted_keys(vendor.ops)
  sort(names, function(a, b)
    local x, y = vendor.ops[a], vendor.ops[b]
    if x.path ~= y.path then return x.path < y.path end
    return (METHOD_RANK[x.method] or 9) < (METHOD_RANK[y.method] or 9)
  end)
  return names
end

local function op_synopsis(opname, op)
  local parts = { opname }
  for _, p in ipairs(path_params(op)) do parts[#parts + 1] = p:upper() end
  if op.body then parts[#parts + 1] = "--body JSON" end
  return concat(parts, " ")
end

-- appends the words to lines, indented, in lines of at most 100 columns
local function wrap(lines, indent, words)
  local line = nil
  for _, w in ipairs(words) do
    if line and #line + 2 + #w > 100 then
      lines[#lines + 1] = line
      line = nil
    end
    line = line and (line .. "  " .. w) or (indent .. w)
  end
  if line then lines[#lines + 1] = line end
end

local function op_help_lines(vendor, opname, op)
  local synopsis = op_synopsis(opname, op)
  local lines = { format("  %-44s %s %s", synopsis, op.method, op.path) }
  if #synopsis > 44 then lines = { "  " .. synopsis, format("  %-44s %s %s", "", op.method, op.path) } end
  local opts = {}
  for _, k in ipairs(sorted_keys(op.query or {})) do
    local spec = op.query[k]
    opts[#opts + 1] = format("--%s %s%s", k, metavar(spec), spec.type == "array" and " (repeat)" or "")
  end
  for _, k in ipairs(sorted_keys(op.options or {})) do
    opts[#opts + 1] = format("--%s %s", k, metavar({ type = op.options[k] }))
  end
  wrap(lines, "      ", opts)
  if op.body then
    local required, fields = {}, {}
    for _, k in ipairs(op.body.required or {}) do required[k] = true end
    local names = sorted_keys(op.body.fields or {})
    for _, k in ipairs(op.body.required or {}) do
      if not (op.body.fields or {})[k] then names[#names + 1] = k end
    end
    for _, k in ipairs(names) do
      local spec = (op.body.fields or {})[k] or { type = "string" }
      local notes = {}
      if spec.type == "array" or spec.type == "array_of_objects" then notes[#notes + 1] = "repeat" end
      if required[k] then notes[#notes + 1] = "required" end
      fields[#fields + 1] = format("--%s %s%s", k, metavar(spec),
        #notes > 0 and (" (" .. concat(notes, ", ") .. ")") or "")
    end
    local shape = op.body.kind == "array" and "a JSON array of objects"
      or op.body.kind == "object_or_array" and "a JSON object or array of objects" or "a JSON object"
    lines[#lines + 1] = "      body: " .. shape .. (#fields > 0 and ", or its fields as options:" or "")
    wrap(lines, "        ", fields)
  end
  if vendor.paging and vendor.paging.op == opname then lines[#lines + 1] = "      --all walks every page" end
  if op.response == "csv" then
    lines[#lines + 1] = "      prints the CSV as sent; with --format, its rows"
  end
  return lines
end

local function general_help()
  return ([[
Usage: userapi VENDOR OPERATION [ARGS] [--param value ...] [--body JSON|@file|@-]
       userapi VENDOR --help          the vendor's operations and their parameters
       userapi VENDOR OPERATION --help

Vendors: opendatasoft (or ods), arthur, kandji, sigfox.

Options:
  --format json|jsonl|csv|table  json (default): the answer as sent, indented;
                                 jsonl: one user per line; csv: a header from
                                 the union of the keys; table: aligned columns
  --columns a,b,c                the columns of csv and table
  --all                          walk every page of the list operation
  --each FILE|-                  one call per line of FILE (- for stdin): the
                                 line gives the path parameter(s)
  --concurrency N                calls at once with --each (1..64, default 8)
  --body JSON|@FILE|@-           the request body of operations that take one
  --dry-run                      print the requests, send nothing
  --base-url URL                 a self-hosted install, a proxy, the simulator
  --profile NAME                 the config section [NAME.VENDOR] (default "default")
  --token-from-stdin             read the vendor's secret from the first line of stdin
  -v, --verbose                  log each exchange on stderr
  -h, --help                     this help
  --version                      the version

Credentials, from the environment or the config file (USERAPI_CONFIG, else
~/.config/userapi/config, sections [PROFILE.VENDOR] of key = value lines):
  opendatasoft  USERAPI_ODS_APIKEY, USERAPI_ODS_DOMAIN           (apikey, domain)
  arthur        USERAPI_ARTHUR_TOKEN, or USERAPI_ARTHUR_CLIENT_ID and
                USERAPI_ARTHUR_CLIENT_SECRET     (access_token, client_id, client_secret)
  kandji        USERAPI_KANDJI_TOKEN, USERAPI_KANDJI_SUBDOMAIN, USERAPI_KANDJI_REGION
                                                 (token, subdomain, region)
  sigfox        USERAPI_SIGFOX_LOGIN, USERAPI_SIGFOX_PASSWORD    (login, password)
A section may also set base_url, timeout_ms, connect_timeout_ms, verify_tls,
ca_file and proxy.

Exit codes: 0 success, 1 the operation failed (the vendor's error on stderr),
2 usage error (unknown vendor, operation or parameter, bad JSON, missing
credentials).

Examples:
  userapi kandji list_users --archived false --format table
  userapi kandji list_users --all --format jsonl
  userapi sigfox update_api_user 5138e7df --body '{"name":"x"}'
  userapi arthur delete_user --each ids.txt --concurrency 4 --dry-run
]])
end

local function vendor_help(vname)
  local vendor = userapi.vendors[vname]
  local out = { format("userapi %s: %d operations", vname, #_M.operation_names(vendor)), "" }
  for _, opname in ipairs(_M.operation_names(vendor)) do
    for _, l in ipairs(op_help_lines(vendor, opname, vendor.ops[opname])) do out[#out + 1] = l end
  end
  local env = {}
  for _, pair in ipairs(_M.ENV[vname]) do env[#env + 1] = pair[2] .. " (" .. pair[1] .. ")" end
  out[#out + 1] = ""
  out[#out + 1] = "Credentials: " .. concat(env, ", ")
  out[#out + 1] = "Path parameters are the ARGS, in order; --each FILE gives them one call per line."
  return concat(out, "\n") .. "\n"
end

local function op_help(vname, opname)
  local vendor = userapi.vendors[vname]
  local out = { "Usage: userapi " .. vname .. " " .. op_synopsis(opname, vendor.ops[opname]) .. " [options]", "" }
  for _, l in ipairs(op_help_lines(vendor, opname, vendor.ops[opname])) do out[#out + 1] = l end
  return concat(out, "\n") .. "\n"
end

-- ---- dry run -------------------------------------------------------------------

local function redact(s, secrets)
  for _, secret in ipairs(secrets or {}) do
    if #secret >= 4 then
      local at = s:find(secret, 1, true)
      while at do
        s = s:sub(1, at - 1) .. "[REDACTED]" .. s:sub(at + #secret)
        at = s:find(secret, at + 10, true)
      end
    end
  end
  return s
end

--- Renders a request built by `client:build` as text: the request line with
-- the query, the headers with the credentials redacted, the body.
-- @tparam Client client the client that built it (its vendor, options, secrets)
-- @tparam table req the request table
-- @treturn string
function _M.describe_request(client, req)
  local url = req.url
  if req.query and next(req.query) then url = core.url(url, req.query) end
  local auth = client.vendor.auth(client.opts)
  local headers = {}
  for k, v in pairs(req.headers or {}) do headers[#headers + 1] = k .. ": " .. tostring(v) end
  if auth and auth.scheme == "apikey" and (auth["in"] or "header") == "query" then
    url = url .. (url:find("?", 1, true) and "&" or "?") .. "apikey=[REDACTED]"
  elseif auth and auth.scheme == "apikey" then
    headers[#headers + 1] = "Authorization: Apikey [REDACTED]"
  elseif auth and auth.scheme == "basic" then
    headers[#headers + 1] = "Authorization: Basic [REDACTED]"
  elseif auth or client.token_provider then
    headers[#headers + 1] = "Authorization: Bearer [REDACTED]"
  end
  sort(headers)
  local lines = { req.method .. " " .. redact(url, client.secrets) }
  for _, h in ipairs(headers) do lines[#lines + 1] = h end
  if req.body then
    lines[#lines + 1] = ""
    lines[#lines + 1] = redact(req.body, client.secrets)
  end
  return concat(lines, "\n") .. "\n"
end

-- ---- the command ---------------------------------------------------------------

local function default_isatty(streams, name)
  local fd = ({ stdin = 0, stdout = 1, stderr = 2 })[name]
  if streams[name] ~= io[name] then return false end
  local ok, _, code = os.execute("test -t " .. fd)
  if type(ok) == "number" then return ok == 0 end -- Lua 5.1/LuaJIT: the status
  return ok == true and (code == nil or code == 0)
end

local function progress_bar(err_stream)
  local last = -1
  return function(done, n)
    local cols = 30
    local filled = n > 0 and floor(cols * done / n) or cols
    if filled == last and done < n then return end
    last = filled
    err_stream:write(format("\r[%s%s] %d/%d", ("#"):rep(filled), ("."):rep(cols - filled), done, n))
    if done >= n then err_stream:write("\n") end
    if err_stream.flush then err_stream:flush() end
  end
end

local function read_lines(text)
  local items = {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    line = trim(line:gsub("\r$", ""))
    if line ~= "" and not line:find("^#") then items[#items + 1] = line end
  end
  return items
end

-- The rows a result shows as: the items of a page, the elements of an
-- array, or the one object.
local function rows_of(vendor, opname, res)
  if type(res) ~= "table" then return {} end
  local paging = vendor.paging
  if paging and paging.op == opname and type(res[paging.items]) == "table" then return res[paging.items] end
  if is_array(res) then return res end
  if next(res) == nil then return {} end
  return { res }
end

local function split_columns(s)
  if not s then return nil end
  local cols = {}
  for c in s:gmatch("[^,]+") do cols[#cols + 1] = trim(c) end
  if #cols == 0 then usage("--columns: at least one column expected") end
  return cols
end

local function run(argv, getenv, streams)
  local out, err_out = streams.stdout, streams.stderr
  local o = parse_argv(argv)
  if o.version then
    out:write("userapi ", userapi._VERSION, "\n")
    return 0
  end
  local vname = o.positional[1]
  if not vname then
    if o.help then out:write(general_help()) return 0 end
    usage("a vendor and an operation expected (userapi --help)")
  end
  vname = ALIASES[vname] or vname
  local vendor = userapi.vendors[vname]
  if not vendor then usage("unknown vendor '%s' (one of %s)", vname, concat(_M.VENDORS, ", ")) end
  local opname = o.positional[2]
  if opname == nil and o.all and vendor.paging then opname = vendor.paging.op end
  if opname ~= nil and not vendor.ops[opname] then
    usage("unknown operation '%s' for %s (see userapi %s --help)", opname, vname, vname)
  end
  if o.help then
    out:write(opname and op_help(vname, opname) or vendor_help(vname))
    return 0
  end
  if not opname then usage("an operation expected (see userapi %s --help)", vname) end
  local op = vendor.ops[opname]

  -- the options, checked before anything is read or sent
  local fmt = o.format
  if fmt ~= nil and not FORMATS[fmt] then usage("--format: json, jsonl, csv or table expected, got '%s'", fmt) end
  local cols = split_columns(o.columns)
  local concurrency
  if o.concurrency ~= nil then
    if not o.each then usage("--concurrency goes with --each") end
    concurrency = o.concurrency:match("^%d+$") and tonumber(o.concurrency)
    if not concurrency or concurrency < 1 or concurrency > 64 then
      usage("--concurrency: an integer 1..64 expected, got '%s'", o.concurrency)
    end
  end
  if o.all and o.each then usage("--all and --each do not go together") end
  if o.all and not (vendor.paging and vendor.paging.op == opname) then
    usage("--all walks %s, not %s", vendor.paging and vendor.paging.op or "no list", opname)
  end
  local names = path_params(op)
  if o.each and #names == 0 then usage("--each: %s %s takes no path parameter", vname, opname) end
  local stdin_users = (o["token-from-stdin"] and 1 or 0) + (o.each == "-" and 1 or 0) + (o.body == "@-" and 1 or 0)
  if stdin_users > 1 then usage("standard input can feed only one of --token-from-stdin, --each -, --body @-") end

  local query, fields = collect_params(vname, opname, op, o.order)
  local body
  if o.body ~= nil then
    if not op.body then usage("%s %s takes no body", vname, opname) end
    local text = o.body
    if text == "@-" then
      text = streams.stdin:read("*a") or ""
    elseif text:sub(1, 1) == "@" then
      text = read_file(text:sub(2), "--body")
    end
    local v, jerr = json.decode(text)
    if v == nil then usage("--body: bad JSON (%s)", tostring(jerr)) end
    if type(v) ~= "table" then usage("--body: a JSON object or array expected") end
    body = v
  end
  if next(fields) then
    if body and is_array(body) then usage("body fields as options do not go with an array --body") end
    body = body or {}
    for k, v in pairs(fields) do body[k] = v end
    if op.body.kind == "array" then body = { body } end
  end
  if op.body and body == nil then usage("%s %s needs a body: --body JSON, or its fields as options", vname, opname) end
  -- users_export: the raw CSV unless a format asks for rows
  if op.response == "csv" and fmt and query.parse == nil then query.parse = true end
  fmt = fmt or "json"

  -- positional path parameters
  local args = {}
  for i = 3, #o.positional do args[#args + 1] = o.positional[i] end
  local fixed = o.each and (#names - #args) or #names
  if not o.each and #args ~= #names then
    if #args < #names then
      local missing = {}
      for i = #args + 1, #names do missing[#missing + 1] = names[i]:upper() end
      usage("%s %s: missing %s", vname, opname, concat(missing, " "))
    end
    usage("%s %s: too many arguments (takes %s)", vname, opname, #names == 0 and "none" or concat(names, ", "))
  end
  if o.each and fixed < 1 then
    usage("--each: %s %s takes %d path parameter(s), all given as ARGS", vname, opname, #names)
  end

  -- the client, from the environment and the config file
  local profile = o.profile or getenv("USERAPI_PROFILE") or "default"
  local copts = _M.options(vname, getenv, profile)
  if o["token-from-stdin"] then
    local line = streams.stdin:read("*l")
    line = line and trim(line) or ""
    if line == "" then usage("--token-from-stdin: standard input is empty") end
    copts[SECRET[vname]] = line
    if vname == "arthur" then copts.client_id, copts.client_secret = nil, nil end
  end
  if o["base-url"] then copts.base_url = o["base-url"] end
  if o.verbose then
    copts.on_request = function(e)
      err_out:write(format("%s %s %s -> %s%s\n", e.operation, e.method, e.url,
        e.status and tostring(e.status) or tostring(e.error), e.ms and format(" (%.0f ms)", e.ms) or ""))
    end
  end
  local ok, client = pcall(userapi[vname], copts)
  if not ok then
    local msg = tostring(client):gsub("^userapi%.[%w_]+: ", "")
    local what = msg:match("^credentials missing %((.-)%)")
    if msg:find("base_url (or the vendor's host options) required", 1, true) then
      what = (HOST[vname] and (HOST[vname] .. " or ") or "") .. "base_url"
    elseif not what and msg:find("required", 1, true) then
      what = msg:gsub(" required$", "")
    end
    if what then
      usage("missing credentials for %s (%s): %s", vname, what, credentials_hint(vname, getenv, profile))
    end
    usage("%s: %s", vname, msg)
  end

  -- the argument list of one call: path parameters, then the body or the query
  local function call_args(ids)
    local a = {}
    for i = 1, #names do a[i] = ids[i] end
    if op.body then
      a[#names + 1] = body
    elseif next(query) then
      a[#names + 1] = query
    end
    return a, #names + 1
  end

  -- --each: the items, each line's fields first, then the ARGS
  local items, labels
  if o.each then
    local text = o.each == "-" and (streams.stdin:read("*a") or "") or read_file(o.each, "--each")
    items, labels = {}, {}
    for i, line in ipairs(read_lines(text)) do
      local ids = {}
      for f in line:gmatch("%S+") do ids[#ids + 1] = f end
      if #ids ~= fixed then
        usage("--each: line %d has %d field(s), %s %s needs %d", i, #ids, vname, opname, fixed)
      end
      for _, a in ipairs(args) do ids[#ids + 1] = a end
      local a, n = call_args(ids)
      a.n = n
      items[i], labels[i] = a, line
    end
  end

  if o["dry-run"] then
    local reqs = {}
    if items then
      for i, a in ipairs(items) do reqs[i] = client:build(opname, unpack(a, 1, a.n)) end
    else
      local a, n = call_args(args)
      if o.all then
        -- the first page as the iterator asks for it
        local p = {}
        for k, v in pairs(query) do p[k] = v end
        local paging = vendor.paging
        if paging.style == "offset" then
          p.limit, p.offset = p.limit or paging.max, p.offset or 0
        elseif paging.style == "page" then
          p.page_size, p.page = p.page_size or paging.max, p.page or 1
        end
        a[#names + 1] = p
      end
      reqs[1] = client:build(opname, unpack(a, 1, n))
    end
    for i, req in ipairs(reqs) do
      if i > 1 then out:write("\n") end
      out:write(_M.describe_request(client, req))
    end
    if o.all then err_out:write("(dry run: the first page; one request per further page)\n") end
    err_out:write(format("(dry run: %d request(s) not sent)\n", #reqs))
    return 0
  end

  -- every page
  if o.all then
    local w = row_writer(fmt, out, cols)
    for user in client:each_user(next(query) and query or nil) do w.row(user) end
    w.finish()
    return 0
  end

  -- one call per line
  if items then
    local bar = (#items > 0 and streams.isatty("stderr")) and progress_bar(err_out) or nil
    local results = client:bulk(opname, items, { concurrency = concurrency, on_progress = bar })
    local rows = {}
    for i, r in ipairs(results) do
      local e = r.err
      rows[i] = { item = labels[i], ok = r.ok, status = e and e.status or nil,
                  error = e and tostring(e) or nil, result = r.value ~= true and r.value or nil }
      if e then err_out:write(labels[i], ": ", tostring(e), "\n") end
    end
    if fmt == "json" then
      out:write(#rows == 0 and "[]" or _M.to_json(rows, 2), "\n")
    else
      local w = row_writer(fmt, out, cols or { "item", "ok", "status", "error", "result" })
      for _, r in ipairs(rows) do w.row(r) end
      w.finish()
    end
    return results.failed > 0 and 1 or 0
  end

  -- one call
  local a, n = call_args(args)
  local res, err = client[opname](client, unpack(a, 1, n))
  if res == nil then
    err_out:write(tostring(err), "\n")
    return 1
  end
  if type(res) == "string" then
    out:write(res)
  elseif res == true then
    return 0
  elseif fmt == "json" then
    out:write(_M.to_json(res, 2), "\n")
  else
    local w = row_writer(fmt, out, cols)
    for _, r in ipairs(rows_of(vendor, opname, res)) do w.row(r) end
    w.finish()
  end
  return 0
end

--- Runs the command.
-- @tparam {string,...} argv the arguments, without the program name (`arg` of a script)
-- @tparam[opt] table|function env the environment: a table of variables, or a
-- function like `os.getenv` (the default)
-- @tparam[opt] table streams `stdin`, `stdout`, `stderr` (file-like objects;
-- the process's by default) and `isatty(name)` (whether that stream is a
-- terminal; by default asked of the process's own streams)
-- @treturn int the exit code: 0 success, 1 the operation failed, 2 usage error
-- @usage os.exit(require("userapi.cli").main(arg), true)
function _M.main(argv, env, streams)
  streams = streams or {}
  local s = { stdin = streams.stdin or io.stdin, stdout = streams.stdout or io.stdout,
              stderr = streams.stderr or io.stderr }
  s.isatty = streams.isatty or function(name) return default_isatty(s, name) end
  local ok, code = pcall(run, argv or {}, getenv_of(env), s)
  if ok then return code end
  local e = code
  if is_usage(e) then
    s.stderr:write("userapi: ", e.message, "\n")
    return 2
  end
  if errors.is(e) then
    s.stderr:write(tostring(e), "\n")
    return 1
  end
  -- the library raises "bad argument" for input it refuses before sending
  local msg = tostring(e)
  if msg:find("^bad argument") then
    s.stderr:write("userapi: ", msg, "\n")
    return 2
  end
  s.stderr:write("userapi: ", msg, "\n")
  return 1
end

return _M
