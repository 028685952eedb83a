--- Vendor tables, checked and compiled once: a vendor file stays data (its
-- operations as rows, its differences as fields and hooks), and this module
-- refuses a table with a misspelt field before any client is made, then
-- derives what every call needs (path templates split, header tables) into a
-- compiled copy. The vendor's own table is never changed.
-- @module userapi.vendor
local check = require "userapi.check"

local type, pairs, ipairs, tostring, error, next = type, pairs, ipairs, tostring, error, next
local setmetatable = setmetatable
local gmatch, format = string.gmatch, string.format

local _M = {}

-- The fields of a vendor table and the type each must have ("any": owned by
-- another module, which checks it). A field not listed is refused.
local FIELDS = {
  name = "string",            -- the constructor's name: userapi.<name>
  ops = "table",              -- operation name -> row
  default_base = "function",  -- function(opts) -> base URL from the vendor's host options
  auth = "function",          -- function(opts) -> the transport's auth table, or nil
  credentials = "table",      -- the options named when credentials are missing
  options = "table",          -- own options (a part: userapi.options checks it)
  rate_limit = "table",       -- { per_second, per_hour } kept under by default
  discovery = "string",       -- OIDC discovery path, relative to the base URL
  export = "string",          -- the CSV export operation (each_export_row)
  error_message = "function", -- function(decoded_body) -> message, code: the vendor's error body
  bulk_result = "function",   -- function(value) -> items: per-item results of a 2xx batch answer
  token_scope = "string",     -- userapi.oidc: the scope of the client-credentials grant
  -- the parts below: each checked whole by the module that reads it (PARTS)
  paging = "table", people = "table", cli = "table",
}

-- Each part of a vendor table and the module that owns it: the module
-- exports `check_part(part, vendor_name, vendor)`, which raises (through
-- `userapi.check.part_error`) on a wrong or unknown key. `add_part` adds one
-- (the SCIM mapping, a host's own).
local PARTS = {
  options = "userapi.options", -- the constructor's own options: name -> kind
  paging = "userapi.paging",  -- how a list pages: its style, where the items are
  people = "userapi.people",  -- desired state: lookups, create, update, delete
  cli = "userapi.config",     -- the command's part: environment, config keys, alias, examples
}

local OP_FIELDS = {
  method = "string", path = "string", query = "table", body = "table", options = "table",
  accept = "string", response = "string", chunk = "number",
}

local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true, HEAD = true }
local BODY_KINDS = { object = true, array = true, object_or_array = true }

local function fail(vname, fmt, ...)
  check.part_error(vname, "", format(fmt, ...))
end

local function check_fields(vname, where, t, known)
  check.fields(vname, where, t, known)
end

-- a parameter spec (query value or body field), recursively for objects
local function check_spec(vname, where, spec)
  if type(spec) ~= "table" or not check.TYPES[spec.type] then
    fail(vname, "%s: type expected (one of string, integer, flag, array, array_of_objects, object)", where)
  end
  if spec.type == "object" then
    for f, fspec in pairs(spec.fields or {}) do check_spec(vname, where .. "." .. f, fspec) end
  end
end

--- Splits a path template into its parameter names and its pieces: literal
-- strings and the positions of the parameters (`"/users/{id}/"` ->
-- `{ "id" }`, `{ "/users/", 1, "/" }`).
-- @tparam string path the template
-- @treturn {string,...} the parameter names, in URL order
-- @treturn table the pieces
function _M.compile_path(path)
  local names, pieces, last = {}, {}, 1
  for s, name, e in gmatch(path, "(){([%w_]+)}()") do
    if s > last then pieces[#pieces + 1] = path:sub(last, s - 1) end
    names[#names + 1] = name
    pieces[#pieces + 1] = #names
    last = e
  end
  if last <= #path then pieces[#pieces + 1] = path:sub(last) end
  return names, pieces
end

local function compile_op(vname, opname, raw)
  local where = "op '" .. tostring(opname) .. "': "
  if type(opname) ~= "string" or not opname:match("^[%a_][%w_]*$") then
    fail(vname, "%sname must be a Lua identifier", where)
  end
  if type(raw) ~= "table" then fail(vname, "%stable expected", where) end
  check_fields(vname, where, raw, OP_FIELDS)
  if not METHODS[raw.method] then fail(vname, "%smethod must be one of GET POST PUT PATCH DELETE HEAD", where) end
  if type(raw.path) ~= "string" or raw.path:sub(1, 1) ~= "/" then fail(vname, "%spath must start with /", where) end
  local op = {}
  for k, v in pairs(raw) do op[k] = v end
  op.name = opname
  op.path_params, op.pieces = _M.compile_path(raw.path)
  for _, piece in ipairs(op.pieces) do
    if type(piece) == "string" and piece:find("[{}]") then fail(vname, "%spath has a malformed {parameter}", where) end
  end
  for k, spec in pairs(raw.query or {}) do check_spec(vname, where .. "query " .. tostring(k), spec) end
  if raw.body then
    if not BODY_KINDS[raw.body.kind] then fail(vname, "%sbody.kind must be object, array or object_or_array", where) end
    for f, spec in pairs(raw.body.fields or {}) do check_spec(vname, where .. "body." .. tostring(f), spec) end
  end
  if raw.chunk and not (raw.body and raw.body.kind ~= "object" and raw.chunk >= 1 and raw.chunk % 1 == 0) then
    fail(vname, "%schunk needs an array body and a positive integer", where)
  end
  if raw.response and raw.response ~= "json" and raw.response ~= "csv" then
    fail(vname, "%sresponse must be json or csv", where)
  end
  -- the C core only reads the headers: one table per operation serves every call
  op.headers = { Accept = raw.accept or "application/json",
                 ["Content-Type"] = raw.body and "application/json" or nil }
  return op
end

-- each part, whole, by its owner: in a fixed order, so the first error is always the same
local function check_parts(raw, v)
  local fields = {}
  for field in pairs(PARTS) do fields[#fields + 1] = field end
  table.sort(fields)
  for _, field in ipairs(fields) do
    if raw[field] ~= nil then require(PARTS[field]).check_part(raw[field], raw.name, v) end
  end
end

-- The generic methods a vendor has only with the capability behind them:
-- method -> why it is missing. A client of the vendor has no such method,
-- and a call says why (userapi.class).
local function unavailable(v)
  local why, name = {}, v.name
  local function lacks(what, ...)
    for _, method in ipairs({ ... }) do
      why[method] = format("%s has no %s, so %s is not available", name, what, method)
    end
  end
  if not v.paging then lacks("paging (a list operation to walk)", "each_user", "pages") end
  if not v.export then lacks("CSV export operation", "each_export_row") end
  if next(v.ops) == nil then lacks("operation", "bulk") end
  local people = v.people
  if not people then
    lacks("people part (desired state)", "ensure_user", "ensure_absent", "directory")
  else
    if not people.create then lacks("create operation", "ensure_user") end
    if not people.delete then lacks("delete operation", "ensure_absent") end
  end
  return why
end

local compiled = setmetatable({}, { __mode = "k" })  -- raw table -> compiled
local is_compiled = setmetatable({}, { __mode = "k" })

--- Checks a vendor table and returns its compiled copy (made once per table).
-- The copy has the table's fields, `ops` with each operation's `name`,
-- `path_params` (names in URL order), `pieces` and `headers` added, and
-- `op_names` (sorted), and `unavailable`: the generic methods the vendor
-- lacks the capability for, each with why (`each_user` without paging,
-- `ensure_user` without a people create). Each part (`paging`, `people`,
-- `cli`, and any added by `add_part`) is checked whole by its owner. A
-- compiled table is returned as it is.
-- @tparam table raw a vendor table
-- @treturn table the compiled vendor
-- @raise `userapi: vendor 'x': ...` naming the field that is wrong
-- @usage local v = vendor.compile(require "userapi.vendors.kandji")
-- print(v.ops.get_user.path_params[1])   --> user_id
function _M.compile(raw)
  if is_compiled[raw] then return raw end
  if compiled[raw] then return compiled[raw] end
  if type(raw) ~= "table" then error("userapi: vendor table expected, got " .. type(raw), 0) end
  local vname = raw.name
  if type(vname) ~= "string" or not vname:match("^[%l][%l%d_]*$") then
    fail(vname, "name must be lower-case letters, digits and _")
  end
  check_fields(vname, "", raw, FIELDS)
  for _, k in ipairs({ "ops", "default_base", "auth" }) do
    if raw[k] == nil then fail(vname, "%s required", k) end
  end
  local v = {}
  for k, x in pairs(raw) do v[k] = x end
  v.ops, v.op_names = {}, {}
  for opname, op in pairs(raw.ops) do
    v.ops[opname] = compile_op(vname, opname, op)
    if op.chunk and not raw.bulk_result then fail(vname, "op '%s': chunk needs the bulk_result hook", opname) end
    v.op_names[#v.op_names + 1] = opname
  end
  table.sort(v.op_names)
  if raw.export and not v.ops[raw.export] then fail(vname, "export: no operation '%s'", raw.export) end
  check_parts(raw, v)
  for _, k in ipairs(raw.credentials or {}) do
    if (raw.options or {})[k] ~= "secret" then fail(vname, "credentials: '%s' must be a secret option", k) end
  end
  v.unavailable = unavailable(v)
  compiled[raw], is_compiled[v] = v, true
  return v
end

--- Adds a part to what a vendor table may hold: the field `field`, checked
-- at `register` by `require(module).check_part(part, vendor_name, vendor)`
-- (vendor: the compiled table, its operations known). The part's owner reads
-- it; a vendor table registered before is not checked again.
-- @tparam string field the vendor table's field (`scim`)
-- @tparam string module the module that owns and checks it
-- @usage vendor.add_part("scim", "userapi.scim")
function _M.add_part(field, module)
  if type(field) ~= "string" or type(module) ~= "string" then
    error("bad argument #1 to 'add_part' (field and module names expected)", 2)
  end
  if FIELDS[field] and not PARTS[field] then
    error("bad argument #1 to 'add_part' (" .. field .. " is a vendor table field, not a part)", 2)
  end
  PARTS[field], FIELDS[field] = module, "table"
end

return _M
