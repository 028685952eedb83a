--- The `userapi` command's help, generated from the operation tables and
-- the vendors' `cli` fields.
-- @module userapi.cli.help
local userapi = require "userapi"
local config = require "userapi.config"
local args = require "userapi.cli.args"
local flags = require "userapi.cli.flags"
local sorted_keys = require("userapi.format").sorted_keys
local path_params, body_fields = args.path_params, args.body_fields

local ipairs = ipairs
local concat, sort, format = table.concat, table.sort, string.format

local _M = {}

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
    local model, required = body_fields(op)
    local fields = {}
    for _, k in ipairs(sorted_keys(model)) do
      local spec = model[k]
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


--- The names of the vendors, sorted.
-- @treturn {string,...}
function _M.vendor_names() return sorted_keys(userapi.vendors) end

-- a vendor and its alias: "name (or alias)"
local function vendor_label(name)
  local alias = (userapi.vendors[name].cli or {}).alias
  return alias and (name .. " (or " .. alias .. ")") or name
end

-- The credentials of a vendor for the general help: its variables (with
-- "or" between alternatives), then the config keys.
local function credentials_lines(name)
  local c = userapi.vendors[name].cli or {}
  local env, keys, pairs_ = {}, {}, config.env(name)
  for _, pair in ipairs(pairs_) do env[pair[1]], keys[#keys + 1] = pair[2], pair[1] end
  local words = {}
  if c.alternatives then
    local groups = {}
    for i, group in ipairs(c.alternatives) do
      local names = {}
      for j, k in ipairs(group) do names[j] = env[k] end
      groups[i] = concat(names, " and ")
    end
    words[1] = concat(groups, ", or ")
  else
    for i, pair in ipairs(pairs_) do words[i] = pair[2] end
    words = { concat(words, ", ") }
  end
  -- the other keys of its config section, besides the common ones
  for _, k in ipairs(sorted_keys(config.keys(name))) do
    if not env[k] and not config.KEYS[k] then keys[#keys + 1] = k end
  end
  return format("  %-13s %s", name, words[1]), format("  %-13s (%s)", "", concat(keys, ", "))
end

--- The global options, as the help and the man page list them:
-- `{ flags, text }`, from `userapi.cli.flags`.
-- @treturn {{string,string},...}
function _M.options()
  local list = {}
  for i, f in ipairs(flags.FLAGS) do list[i] = { flags.label(f), f.help } end
  return list
end

--- The subcommands' usage lines, as the help and the man page list them: `{ synopsis, text }`.
-- @treturn {{string,string},...}
function _M.commands()
  local list = {}
  for i, c in ipairs(flags.COMMANDS) do list[i] = { c[1] .. (c.args and (" " .. c.args) or ""), c.help } end
  return list
end

--- The environment variables the command reads besides the vendors' own: `{ name, text }`.
_M.ENVIRONMENT = {
  { "USERAPI_CONFIG", "the config file (default ~/.config/userapi/config); missing, it matters only when "
    .. "a credential is needed from it" },
  { "USERAPI_PROFILE", "the profile of the config file's sections (default: default)" },
  { "USERAPI_VENDORS", "modules to load at start, comma-separated: each registers a vendor "
    .. "(userapi.register) or returns a vendor table" },
  { "HTTPS_PROXY", "the proxy of https vendors (https_proxy first, as in curl; then ALL_PROXY); "
    .. "a section's proxy key wins" },
  { "HTTP_PROXY", "the proxy of http base URLs (http_proxy first; not read when REQUEST_METHOD is set)" },
  { "NO_PROXY", "hosts reached directly, comma-separated: a name matches its subdomains; * all" },
  { "USERAPI_CA_BUNDLE", "a CA bundle to trust instead of the system's (a section's ca_file wins)" },
}

--- The exit statuses: `{ status, text }`.
_M.EXIT = {
  { "0", "success" },
  { "1", "the operation failed (the vendor's error on stderr), or the output could not be written" },
  { "2", "usage error: unknown vendor, operation, parameter or column, bad JSON, missing credentials, "
    .. "a config file others may read" },
  { "3", "onboard, offboard: something changed (with --check: would change); each command's own: "
    .. "userapi COMMAND --help" },
  { "141", "standard output closed early (| head): as SIGPIPE would end it" },
}

-- lines of text of at most width columns
local function fill(text, width)
  local lines, line = {}, nil
  for word in text:gmatch("%S+") do
    if line and #line + 1 + #word > width then lines[#lines + 1], line = line, nil end
    line = line and (line .. " " .. word) or word
  end
  lines[#lines + 1] = line
  return lines
end

-- "  flags   text" rows, the text wrapped in its column
local function rows(list, indent)
  local out = {}
  for _, item in ipairs(list) do
    local text = fill(item[2], 78 - indent)
    local first = format("  %-" .. (indent - 3) .. "s ", item[1])
    if #first > indent then out[#out + 1], first = (first:gsub("%s+$", "")), (" "):rep(indent) end
    out[#out + 1] = first .. text[1]
    for k = 2, #text do out[#out + 1] = (" "):rep(indent) .. text[k] end
  end
  return concat(out, "\n")
end

--- The vendors' examples: `userapi VENDOR ...` lines.
-- @treturn {string,...}
function _M.examples()
  local examples = {}
  for _, name in ipairs(_M.vendor_names()) do
    for _, e in ipairs((userapi.vendors[name].cli or {}).examples or {}) do
      examples[#examples + 1] = "userapi " .. name .. " " .. e
    end
  end
  return examples
end

--- The general help: usage, vendors, options, credentials, exit codes.
-- @treturn string
function _M.general()
  local labels, creds = {}, {}
  for i, name in ipairs(_M.vendor_names()) do
    labels[i] = vendor_label(name)
    local a, b = credentials_lines(name)
    creds[#creds + 1] = a
    creds[#creds + 1] = b
  end
  local exits = {}
  for i, e in ipairs(_M.EXIT) do exits[i] = { e[1], e[2] } end
  local common = "  " .. concat(fill(concat(sorted_keys(config.KEYS), ", ") .. ".", 76), "\n  ")
  local commands = {}
  for _, c in ipairs(_M.commands()) do
    -- a long synopsis on a line of its own, the text wrapped in its column
    local text, head = fill(c[2], 40), format("       userapi %-22s ", c[1])
    if #head > 38 then commands[#commands + 1], head = (head:gsub("%s+$", "")), (" "):rep(38) end
    commands[#commands + 1] = head .. text[1]
    for k = 2, #text do commands[#commands + 1] = (" "):rep(38) .. text[k] end
  end
  return ([[
Usage: userapi VENDOR OPERATION [ARGS] [--param value ...] [--body JSON|@file|@-]
       userapi VENDOR --help          the vendor's operations and their parameters
       userapi VENDOR OPERATION --help
%s

Vendors: %s.
Operation names take dashes too (list-users); so do parameters.

Options:
%s

Credentials, from the environment or the config file (USERAPI_CONFIG, else
~/.config/userapi/config, sections [PROFILE.VENDOR] of key = value lines;
PROFILE is --profile, else USERAPI_PROFILE, else default; the file must be
private to you: chmod 600):
%s
A section may also set:
%s

Environment:
%s

Exit codes:
%s

Examples:
  %s
]]):format(concat(commands, "\n"), concat(labels, ", "), rows(_M.options(), 33), concat(creds, "\n"), common,
    rows(_M.ENVIRONMENT, 21), rows(exits, 9), concat(_M.examples(), "\n  "))
end

--- The help of one vendor: every operation with its parameters, and its credentials.
-- @tparam string vname
-- @treturn string
function _M.vendor(vname)
  local vendor = userapi.vendors[vname]
  local out = { format("userapi %s: %d operations", vname, #_M.operation_names(vendor)), "" }
  for _, opname in ipairs(_M.operation_names(vendor)) do
    for _, l in ipairs(op_help_lines(vendor, opname, vendor.ops[opname])) do out[#out + 1] = l end
  end
  local env = {}
  for _, pair in ipairs(config.env(vendor)) do env[#env + 1] = pair[2] .. " (" .. pair[1] .. ")" end
  out[#out + 1] = ""
  out[#out + 1] = "Credentials: " .. concat(env, ", ")
  out[#out + 1] = "Path parameters are the ARGS, in order; --each FILE gives them one call per line."
  return concat(out, "\n") .. "\n"
end

--- The help of a subcommand (a `flags.COMMANDS` row): its usage and its own flags.
-- @tparam table c
-- @treturn string
function _M.command(c)
  local out = { format("Usage: userapi %s%s", c[1], c.args and (" " .. c.args) or ""), "", "  " .. c.help }
  if c.flags then
    local own = {}
    for i, f in ipairs(c.flags) do own[i] = { flags.label(f), f.help } end
    out[#out + 1] = ""
    out[#out + 1] = "Options" .. (c.globals and (", and --" .. concat(c.globals, ", --") .. ":")
      or " (besides the global ones, userapi --help):")
    out[#out + 1] = rows(own, 33)
  end
  if c.exits then
    out[#out + 1] = ""
    out[#out + 1] = "Exit codes:"
    out[#out + 1] = rows(c.exits, 9)
  end
  return concat(out, "\n") .. "\n"
end

--- The help of one operation.
-- @tparam string vname
-- @tparam string opname
-- @treturn string
function _M.operation(vname, opname)
  local vendor = userapi.vendors[vname]
  local out = { "Usage: userapi " .. vname .. " " .. op_synopsis(opname, vendor.ops[opname]) .. " [options]", "" }
  for _, l in ipairs(op_help_lines(vendor, opname, vendor.ops[opname])) do out[#out + 1] = l end
  return concat(out, "\n") .. "\n"
end

return _M
