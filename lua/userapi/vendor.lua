--- Vendor tables, checked and compiled once: a vendor file stays data (its
-- operations as rows, its differences as fields and hooks), and this module
-- refuses a table with a misspelt field before any client is made, then
-- derives what every call needs (path templates split, header tables) into a
-- compiled copy. The vendor's own table is never changed.
-- @module userapi.vendor
local check = require "userapi.check"

local type, pairs, ipairs, tostring, error, setmetatable = type, pairs, ipairs, tostring, error, setmetatable
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
  options = "table",          -- own options: name -> "secret" | "login" | "host" | "string" | "function" | enum
  rate_limit = "table",       -- { per_second, per_hour } kept under by default
  discovery = "string",       -- OIDC discovery path, relative to the base URL
  export = "string",          -- the CSV export operation (each_export_row)
  error_message = "function", -- function(decoded_body) -> message, code: the vendor's error body
  bulk_result = "function",   -- function(value) -> items: per-item results of a 2xx batch answer
  paging = "table",           -- userapi.paging
  token_scope = "any",        -- userapi.oidc
  cli = "any", env = "any",   -- the command
  people = "any",             -- userapi.people
}

local OP_FIELDS = {
  method = "string", path = "string", query = "table", body = "table", options = "table",
  accept = "string", response = "string", chunk = "number",
}

local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true, HEAD = true }
local BODY_KINDS = { object = true, array = true, object_or_array = true }
local OPTION_KINDS = { secret = true, login = true, host = true, string = true, ["function"] = true, boolean = true }

local function fail(vname, fmt, ...)
  error(format("userapi: vendor '%s': " .. fmt, tostring(vname), ...), 0)
end

local function check_fields(vname, where, t, known)
  for k, v in pairs(t) do
    local want = known[k]
    if not want then
      fail(vname, "%sunknown field '%s'%s", where, tostring(k), check.did_you_mean(k, known))
    end
    if want ~= "any" and type(v) ~= want then
      fail(vname, "%s%s: %s expected, got %s", where, k, want, type(v))
    end
  end
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

local compiled = setmetatable({}, { __mode = "k" })  -- raw table -> compiled
local is_compiled = setmetatable({}, { __mode = "k" })

--- Checks a vendor table and returns its compiled copy (made once per table).
-- The copy has the table's fields, `ops` with each operation's `name`,
-- `path_params` (names in URL order), `pieces` and `headers` added, and
-- `op_names` (sorted). A compiled table is returned as it is.
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
  if raw.people ~= nil then require("userapi.people.shape").check(vname, raw.people, raw.ops) end
  for k, kind in pairs(raw.options or {}) do
    if type(k) ~= "string" or not (OPTION_KINDS[kind] or type(kind) == "table") then
      fail(vname, "options.%s: one of secret, host, string, function, boolean or an enum expected", tostring(k))
    end
  end
  for _, k in ipairs(raw.credentials or {}) do
    if (raw.options or {})[k] ~= "secret" then fail(vname, "credentials: '%s' must be a secret option", k) end
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
  if raw.paging and not v.ops[raw.paging.op] then
    fail(vname, "paging.op: no operation '%s'", tostring(raw.paging.op))
  end
  if raw.export and not v.ops[raw.export] then fail(vname, "export: no operation '%s'", raw.export) end
  compiled[raw], is_compiled[v] = v, true
  return v
end

return _M
