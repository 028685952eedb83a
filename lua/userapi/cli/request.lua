--- The `userapi` command's request: the vendor and operation named, the
-- options checked, the body and the path parameters read. Nothing is read
-- from standard input or sent before every check has passed.
-- @module userapi.cli.request
local userapi = require "userapi"
local json = require "userapi.json"
local fmt_ = require "userapi.format"
local args_ = require "userapi.cli.args"
local help = require "userapi.cli.help"
local usage_ = require "userapi.cli.usage"
local config = require "userapi.config"
local flags = require "userapi.cli.flags"
local records = require "userapi.cli.records"
local usage, did_you_mean = usage_.raise, usage_.did_you_mean

local type, pairs, ipairs, tostring, next = type, pairs, ipairs, tostring, next
local concat = table.concat
local is_array, path_params = fmt_.is_array, args_.path_params

local _M = {}

local trim = require("userapi.util").trim

local read_file = require("userapi.cli.usage").read_file

local vendor_name = config.vendor_name

local function read_lines(text)
  local items = {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    line = trim(line:gsub("\r$", ""))
    if line ~= "" and not line:find("^#") then items[#items + 1] = line end
  end
  return items
end

local function split_columns(s)
  if not s then return nil end
  local cols = {}
  for c in s:gmatch("[^,]+") do cols[#cols + 1] = trim(c) end
  if #cols == 0 then usage("--columns: at least one column expected") end
  return cols
end

-- ---- the request: vendor, operation, options, body ----------------------------

--- The vendor and operation named on the command line; writes the help when asked.
-- @tparam table o the parsed options
-- @param out where the help goes
-- @treturn ?string the vendor's name (nil when help was written)
-- @treturn table its table
-- @treturn string the operation
-- @raise a usage error
function _M.resolve(o, out)
  local typed = o.positional[1]
  if not typed then
    if o.help then out:write(help.general()) return end
    usage("a vendor and an operation expected (userapi --help)")
  end
  local vname = vendor_name(typed)
  if not vname then
    local names = help.vendor_names()
    usage("unknown vendor '%s'%s (one of %s)", typed, did_you_mean(typed, names), concat(names, ", "))
  end
  local vendor = userapi.vendors[vname]
  -- list-users is list_users
  local opname = o.positional[2] and o.positional[2]:gsub("%-", "_")
  if opname == nil and o.all and vendor.paging then opname = vendor.paging.op end
  if opname ~= nil and not vendor.ops[opname] then
    usage("unknown operation '%s' for %s%s (see userapi %s --help)", o.positional[2], vname,
      did_you_mean(opname, vendor.ops), vname)
  end
  if o.help then
    out:write(opname and help.operation(vname, opname) or help.vendor(vname))
    return
  end
  if not opname then usage("an operation expected (see userapi %s --help)", vname) end
  return vname, vendor, opname
end

-- the global options that go with the operation, checked before anything is read or sent
local function check_options(o, vname, vendor, opname, names)
  flags.check(o)
  if o.all and not (vendor.paging and vendor.paging.op == opname) then
    usage("--all walks %s, not %s", vendor.paging and vendor.paging.op or "no list", opname)
  end
  if o.each and #names == 0 then usage("--each: %s %s takes no path parameter", vname, opname) end
  if o["missing-ok"] and vendor.ops[opname].method ~= "DELETE" then
    usage("--missing-ok goes with a delete, not %s %s (%s)", vname, opname, vendor.ops[opname].method)
  end
end

-- the request body: --body, then the body fields given as options
local function make_body(o, vname, opname, op, fields, stdin)
  local body
  if o.body ~= nil then
    if not op.body then usage("%s %s takes no body", vname, opname) end
    local text = o.body
    if text == "@-" then
      text = stdin:read("*a") or ""
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
  return body
end

-- the path parameters given as ARGS; with --each, how many each line gives
local function positional_args(o, vname, opname, names)
  local args = {}
  for i = 3, #o.positional do args[#args + 1] = o.positional[i] end
  if not o.each and #args ~= #names then
    if #args < #names then
      local missing = {}
      for i = #args + 1, #names do missing[#missing + 1] = names[i]:upper() end
      usage("%s %s: missing %s", vname, opname, concat(missing, " "))
    end
    usage("%s %s: too many arguments (takes %s)", vname, opname, #names == 0 and "none" or concat(names, ", "))
  end
  local fixed = o.each and (#names - #args) or #names
  if o.each and fixed < 1 then
    usage("--each: %s %s takes %d path parameter(s), all given as ARGS", vname, opname, #names)
  end
  return args, fixed
end

--- The argument list of one call: path parameters, then the body or the query.
-- @tparam {string,...} names the path parameters' names
-- @tparam table op the operation
-- @tparam ?table body
-- @tparam table query
-- @tparam {string,...} ids the path parameters' values
-- @treturn table the arguments, their count in `n`
function _M.call_args(names, op, body, query, ids)
  local a = {}
  for i = 1, #names do a[i] = ids[i] end
  if op.body then
    a[#names + 1] = body
  elseif next(query) then
    a[#names + 1] = query
  end
  a.n = #names + 1
  return a
end

--- The items of `--each`: each line's fields first, then the ARGS.
-- @tparam table o the parsed options
-- @tparam table req the request (`of`)
-- @param stdin standard input
-- @treturn {table,...} the argument lists
-- @treturn {string,...} the lines, as labels
-- @raise a usage error on a line with the wrong number of fields
function _M.each_items(o, req, stdin)
  local text = o.each == "-" and (stdin:read("*a") or "") or read_file(o.each, "--each")
  local items, labels = {}, {}
  for i, line in ipairs(read_lines(text)) do
    local ids = {}
    for f in line:gmatch("%S+") do ids[#ids + 1] = f end
    if #ids ~= req.fixed then
      usage("--each: line %d has %d field(s), %s %s needs %d", i, #ids, req.vname, req.opname, req.fixed)
    end
    for _, a in ipairs(req.args) do ids[#ids + 1] = a end
    items[i], labels[i] = _M.call_args(req.names, req.op, req.body, req.query, ids), line
  end
  return items, labels
end

-- the parameters paging.lua's styles set the page size with
local STYLE_SIZE = { offset = "limit", page = "page_size" }

-- the list operation's page size parameter: the vendor's cli.page_size, else
-- its paging style's, when the operation takes it
local function size_param(vendor, op)
  local c, paging = vendor.cli or {}, vendor.paging or {}
  local param = c.page_size or STYLE_SIZE[paging.style]
  if param and op.query and op.query[param] then return param end
end

-- --page-size, and --max-items when it is smaller than a page
local function page_size(o, req)
  local param = size_param(req.vendor, req.op)
  local size = o["page-size"]
  if size and not param then usage("--page-size: %s pages have a size of their own", req.vname) end
  if not param then return end
  if size and req.query[param] ~= nil then usage("--page-size and --%s do not go together", param) end
  local max = (req.vendor.paging or {}).max
  if not size and req.max_items and req.max_items > 0 and max and req.max_items < max and req.query[param] == nil then
    size = req.max_items
  end
  req.query[param] = size or req.query[param]
end

--- Everything the command line asks for, checked: nothing sent yet, and
-- standard input read only for `--body @-`.
-- @tparam table o the parsed options
-- @tparam string vname the vendor
-- @tparam table vendor its table
-- @tparam string opname the operation
-- @tparam table streams the command's streams
-- @treturn table the request: `op`, `names`, `query`, `body`, `args`, `fmt`, `cols`, ...
-- @raise a usage error
function _M.of(o, vname, vendor, opname, streams)
  local op = vendor.ops[opname]
  local req = { o = o, vname = vname, vendor = vendor, opname = opname, op = op, names = path_params(op),
                all = o.all }
  check_options(o, vname, vendor, opname, req.names)
  req.concurrency = o.concurrency
  req.cols = split_columns(o.columns)
  local fields
  req.query, fields = args_.collect(vname, opname, op, o.order)
  req.body = make_body(o, vname, opname, op, fields, streams.stdin)
  -- users_export: the raw CSV unless a format asks for rows
  if op.response == "csv" and o.format and req.query.parse == nil then req.query.parse = true end
  req.fmt = o.format or "json"
  req.mask = records.masker(vendor, opname, o["show-secrets"])
  req.max_items = o["max-items"]
  page_size(o, req)
  req.args, req.fixed = positional_args(o, vname, opname, req.names)
  return req
end


return _M
