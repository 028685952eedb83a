--- The `userapi` command's argument parsing: the flags declared in
-- `userapi.cli.flags` (why not lua-argparse: see there), and an operation's
-- parameters converted per its operation table.
-- @module userapi.cli.args
local json = require "userapi.json"
local usage_ = require "userapi.cli.usage"
local flags = require "userapi.cli.flags"
local usage, did_you_mean = usage_.raise, usage_.did_you_mean

local type, pairs, ipairs, tonumber, tostring, getmetatable = type, pairs, ipairs, tonumber, tostring, getmetatable
local concat, sort = table.concat, table.sort

local _M = {}

--- The names of the path parameters of an operation, in URL order.
-- @tparam table op an operation
-- @treturn {string,...}
function _M.path_params(op)
  -- a compiled vendor table (userapi.vendor) has them already
  if op.path_params then return op.path_params end
  local names = {}
  for name in op.path:gmatch("{([%w_]+)}") do names[#names + 1] = name end
  return names
end

-- the value of an option: after `=`, else the next word
local function value_of(argv, i, name, value)
  if value ~= nil then return value, i end
  value = argv[i + 1]
  if value == nil then usage("--%s needs a value", name) end
  return value, i + 1
end

--- Splits argv into the flags of `userapi.cli.flags` (`o[name]`), the
-- subcommand (`o.command`, a `flags.COMMANDS` row, when the first word names
-- one), positional arguments (`o.positional`) and, for `VENDOR OPERATION`,
-- the operation's parameters in order (`o.order`).
-- @tparam {string,...} argv
-- @treturn table
-- @raise a usage error
function _M.parse(argv)
  local o = { positional = {}, order = {} }
  local i, rest, known = 1, false, flags.index()
  while i <= #argv do
    local a = argv[i]
    if rest or a == "-" or a:sub(1, 1) ~= "-" then
      o.positional[#o.positional + 1] = a
      if #o.positional == 1 then
        o.command = flags.command(a)
        known = flags.index(o.command)
      end
    elseif a == "--" then
      rest = true
    else
      local name, value = a:match("^%-%-([^=]+)=(.*)$")
      if not name then name = a:match("^%-%-(.+)$") end
      local f = known[name and name:gsub("_", "-") or a]
      -- spelt with _ these are an operation's own parameters (Arthur's page_size)
      if f and f.dash_only and name ~= f[1] then f = nil end
      if not name and not f then usage("unknown option '%s'", a) end
      -- a subcommand takes its flags and the global ones only
      if not f and o.command then
        local names = {}
        for _, g in ipairs(flags.all(o.command)) do names[#names + 1] = g[1] end
        usage("unknown option '--%s' for %s%s", name, o.command[1], did_you_mean(name, names, "--"))
      end
      if f == nil then
        -- an operation parameter: always a value
        value, i = value_of(argv, i, name, value)
        o.order[#o.order + 1] = { name = name, value = value }
      elseif f.value then
        value, i = value_of(argv, i, f[1], value)
        if o[f[1]] ~= nil then usage("--%s given twice", f[1]) end
        o[f[1]] = value
      else
        if value ~= nil then usage("--%s takes no value", f[1]) end
        o[f[1]] = true
      end
    end
    i = i + 1
  end
  return o
end

--- Every field of an operation's body model, required ones included (a
-- field only named as required reads as text), through `__index` chains of
-- models built on another.
-- @tparam table op an operation
-- @treturn table name -> spec
-- @treturn table name -> true for the required ones
function _M.body_fields(op)
  local fields, required = {}, {}
  if not op.body then return fields, required end
  local t = op.body.fields
  while type(t) == "table" do
    for k, spec in pairs(t) do fields[k] = fields[k] or spec end
    local mt = getmetatable(t)
    t = mt and mt.__index
  end
  for _, k in ipairs(op.body.required or {}) do
    fields[k] = fields[k] or { type = "string" }
    required[k] = true
  end
  return fields, required
end

--- The parameters an operation takes as options: name -> `{ name, spec, where }`,
-- where is "query", "option" or "body"; both Lua and wire names are keys.
-- @tparam table op an operation
-- @treturn table
function _M.op_params(op)
  local params = {}
  for k, spec in pairs(op.query or {}) do
    local p = { name = k, spec = spec, where = "query" }
    params[k] = p
    if spec.wire then params[spec.wire] = p end
  end
  for k, t in pairs(op.options or {}) do params[k] = { name = k, spec = { type = t }, where = "option" } end
  for k, spec in pairs((_M.body_fields(op))) do params[k] = { name = k, spec = spec, where = "body" } end
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

-- a parameter the operation does not take: the nearest one or global option, and the list
local function unknown_parameter(name, vname, opname, known)
  local names, candidates = {}, {}
  for k in pairs(known) do names[#names + 1], candidates[#candidates + 1] = "--" .. k, k end
  sort(names)
  for _, f in ipairs(flags.FLAGS) do candidates[#candidates + 1] = f[1] end
  local hint = did_you_mean(name, candidates, "--")
  usage("unknown parameter '--%s' for %s %s%s%s", name, vname, opname, hint,
    hint ~= "" and "" or #names > 0 and (" (takes " .. concat(names, ", ") .. ")") or " (it takes none)")
end

--- The query/options table and the body fields of the operation, from the
-- options in command-line order (`o.order` of `parse`), converted per its table.
-- @tparam string vname the vendor, for messages
-- @tparam string opname the operation, for messages
-- @tparam table op the operation
-- @tparam {table,...} order `{ name, value }` pairs
-- @treturn table the query (or local options)
-- @treturn table the body fields
-- @raise a usage error on an unknown parameter or a bad value
function _M.collect(vname, opname, op, order)
  local known = _M.op_params(op)
  local query, fields, seen = {}, {}, {}
  for _, item in ipairs(order) do
    local p = known[item.name] or known[(item.name:gsub("%-", "_"))]
    if not p then unknown_parameter(item.name, vname, opname, known) end
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

return _M
