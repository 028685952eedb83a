--- The `userapi` command: every operation of the vendors from a shell,
-- driven by the same operation tables as the library.
--
--     userapi VENDOR OPERATION [ARGS] [--param value ...] [--body JSON|@file|@-]
--
-- Credentials come from the environment (each vendor table's `cli.env`
-- names: `USERAPI_KANDJI_TOKEN`, ...) or a config file (@{userapi.config});
-- never from a flag, except `--token-from-stdin`. Exit codes: 0 success, 1 the
-- operation failed (the vendor's error on stderr), 2 usage error.
-- `bin/userapi` is a thin wrapper around `main`. The parts: @{userapi.config}
-- (credentials), @{userapi.format} (output), `userapi.cli.args` (parsing),
-- `userapi.cli.help`, and the dry run's transport `userapi.transport.record`.
-- @module userapi.cli
-- @usage
-- -- the command, in-process (the specs capture the streams this way)
-- local cli = require "userapi.cli"
-- local code = cli.main({ "kandji", "list_users", "--archived", "false" }, os.getenv)
local userapi = require "userapi"
local json = require "userapi.json"
local errors = require "userapi.errors"
local config = require "userapi.config"
local fmt_ = require "userapi.format"
local args_ = require "userapi.cli.args"
local help = require "userapi.cli.help"
local record = require "userapi.transport.record"
local usage_ = require "userapi.cli.usage"
local streams_ = require "userapi.cli.streams"

local type, pairs, ipairs, tostring, tonumber, pcall = type, pairs, ipairs, tostring, tonumber, pcall
local concat, format = table.concat, string.format
local unpack = table.unpack or unpack
local usage, is_usage, is_array = usage_.raise, usage_.is, fmt_.is_array
local path_params = args_.path_params
local term = fmt_.escape_terminal

local _M = {}

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

local function read_file(path, what)
  local f, err = io.open(path, "rb")
  if not f then usage("%s: cannot read %s", what, tostring(err)) end
  local s = f:read("*a")
  f:close()
  return s
end

-- a vendor's name from what the user typed: its name or its alias
local function vendor_name(typed)
  if userapi.vendors[typed] then return typed end
  for name, v in pairs(userapi.vendors) do
    if v.cli and v.cli.alias == typed then return name end
  end
end

-- ---- the command ---------------------------------------------------------------

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

-- ---- the request: vendor, operation, options, body ----------------------------

-- the vendor and operation named on the command line; help when asked
local function resolve(o, out)
  local typed = o.positional[1]
  if not typed then
    if o.help then out:write(help.general()) return end
    usage("a vendor and an operation expected (userapi --help)")
  end
  local vname = vendor_name(typed)
  if not vname then usage("unknown vendor '%s' (one of %s)", typed, concat(help.vendor_names(), ", ")) end
  local vendor = userapi.vendors[vname]
  local opname = o.positional[2]
  if opname == nil and o.all and vendor.paging then opname = vendor.paging.op end
  if opname ~= nil and not vendor.ops[opname] then
    usage("unknown operation '%s' for %s (see userapi %s --help)", opname, vname, vname)
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
  if o.format ~= nil and not fmt_.NAMES[o.format] then
    usage("--format: json, jsonl, csv or table expected, got '%s'", o.format)
  end
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
  if o.each and #names == 0 then usage("--each: %s %s takes no path parameter", vname, opname) end
  local stdin_users = (o["token-from-stdin"] and 1 or 0) + (o.each == "-" and 1 or 0) + (o.body == "@-" and 1 or 0)
  if stdin_users > 1 then usage("standard input can feed only one of --token-from-stdin, --each -, --body @-") end
  return concurrency
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

-- ---- the client ------------------------------------------------------------------

-- --token-from-stdin: the vendor's secret replaces the credentials it excludes
local function secret_from_stdin(c, copts, stdin)
  local line = stdin:read("*l")
  line = line and trim(line) or ""
  if line == "" then usage("--token-from-stdin: standard input is empty") end
  for _, group in ipairs(c.alternatives or {}) do
    for _, k in ipairs(group) do copts[k] = nil end
  end
  copts[c.secret] = line
end

-- the constructor's message as a usage error, naming what is missing and where to put it
local function client_failure(vname, vendor, msg, getenv, profile)
  msg = msg:gsub("^userapi%.[%w_]+: ", "")
  local what = msg:match("^credentials missing %((.-)%)")
  if msg:find("base_url (or the vendor's host options) required", 1, true) then
    local host = (vendor.cli or {}).host
    what = (host and (host .. " or ") or "") .. "base_url"
  elseif not what and msg:find("required", 1, true) then
    what = msg:gsub(" required$", "")
  end
  if what then
    usage("missing credentials for %s (%s): %s", vname, what, config.hint(vendor, getenv, profile))
  end
  usage("%s: %s", vname, msg)
end

local function make_client(o, vname, vendor, getenv, streams, sent)
  local profile = o.profile or getenv("USERAPI_PROFILE") or "default"
  local copts = config.options(vendor, getenv, profile)
  if o["token-from-stdin"] then secret_from_stdin(vendor.cli or {}, copts, streams.stdin) end
  if o["base-url"] then copts.base_url = o["base-url"] end
  if sent then
    copts.transport, copts.rate_limit = record.module(sent), false
  else
    -- counted: once the server has answered, what the library refuses came from it
    local err_out, verbose = streams.stderr, o.verbose
    copts.on_request = function(e)
      streams.exchanges = streams.exchanges + 1
      if not verbose then return end
      err_out:write(term(format("%s %s %s -> %s%s", e.operation, e.method, e.url,
        e.status and tostring(e.status) or tostring(e.error), e.ms and format(" (%.0f ms)", e.ms) or "")), "\n")
    end
  end
  local ok, client = pcall(userapi[vname], copts)
  if not ok then client_failure(vname, vendor, tostring(client), getenv, profile) end
  return client
end

-- ---- running it ------------------------------------------------------------------

-- the argument list of one call: path parameters, then the body or the query
local function call_args(names, op, body, query, ids)
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

-- --each: the items, each line's fields first, then the ARGS
local function each_items(o, req, stdin)
  local text = o.each == "-" and (stdin:read("*a") or "") or read_file(o.each, "--each")
  local items, labels = {}, {}
  for i, line in ipairs(read_lines(text)) do
    local ids = {}
    for f in line:gmatch("%S+") do ids[#ids + 1] = f end
    if #ids ~= req.fixed then
      usage("--each: line %d has %d field(s), %s %s needs %d", i, #ids, req.vname, req.opname, req.fixed)
    end
    for _, a in ipairs(req.args) do ids[#ids + 1] = a end
    items[i], labels[i] = call_args(req.names, req.op, req.body, req.query, ids), line
  end
  return items, labels
end

-- the dry run: the requests go to the recording transport, then out as text
local function dry_run(req, client, sent, streams)
  if req.items then
    client:bulk(req.opname, req.items, { concurrency = req.concurrency })
  elseif req.all then
    -- the first page, as the iterator asks for it
    client:pages(next(req.query) and req.query or nil)()
  else
    local a = call_args(req.names, req.op, req.body, req.query, req.args)
    client[req.opname](client, unpack(a, 1, a.n))
  end
  for i, e in ipairs(sent) do
    if i > 1 then streams.stdout:write("\n") end
    streams.stdout:write(record.describe(e, client.secrets))
  end
  if req.all then streams.stderr:write("(dry run: the first page; one request per further page)\n") end
  streams.stderr:write(format("(dry run: %d request(s) not sent)\n", #sent))
  return 0
end

local function walk_all(req, client, out)
  local w = fmt_.writer(req.fmt, out, req.cols)
  for user in client:each_user(next(req.query) and req.query or nil) do
    w.row(user)
    -- a reader that has gone stops the walk here, not pages later
    out:flush()
  end
  w.finish()
  return 0
end

local function run_each(req, client, streams)
  local out, err_out = streams.stdout, streams.stderr
  local items, labels = req.items, req.labels
  local bar = (#items > 0 and streams.isatty("stderr")) and streams_.progress_bar(err_out) or nil
  local results = client:bulk(req.opname, items, { concurrency = req.concurrency, on_progress = bar })
  local rows = {}
  for i, r in ipairs(results) do
    local e = r.err
    rows[i] = { item = labels[i], ok = r.ok, status = e and e.status or nil,
                error = e and tostring(e) or nil, result = r.value ~= true and r.value or nil }
    if e then err_out:write(term(labels[i] .. ": " .. tostring(e)), "\n") end
  end
  if req.fmt == "json" then
    out:write(#rows == 0 and "[]" or fmt_.to_json(rows, 2), "\n")
  else
    local w = fmt_.writer(req.fmt, out, req.cols or { "item", "ok", "status", "error", "result" })
    for _, r in ipairs(rows) do w.row(r) end
    w.finish()
  end
  return results.failed > 0 and 1 or 0
end

local function run_one(req, client, streams)
  local out = streams.stdout
  local a = call_args(req.names, req.op, req.body, req.query, req.args)
  local res, err = client[req.opname](client, unpack(a, 1, a.n))
  if res == nil then
    streams.stderr:write(term(tostring(err)), "\n")
    return 1
  end
  if type(res) == "string" then
    out:write(res)
  elseif res == true then
    return 0
  elseif req.fmt == "json" then
    out:write(fmt_.to_json(res, 2), "\n")
  else
    local w = fmt_.writer(req.fmt, out, req.cols)
    for _, r in ipairs(rows_of(req.vendor, req.opname, res)) do w.row(r) end
    w.finish()
  end
  return 0
end

-- everything the command line asks for, checked: nothing read from stdin or sent yet
local function request_of(o, vname, vendor, opname, streams)
  local op = vendor.ops[opname]
  local req = { o = o, vname = vname, vendor = vendor, opname = opname, op = op, names = path_params(op),
                all = o.all }
  req.concurrency = check_options(o, vname, vendor, opname, req.names)
  req.cols = split_columns(o.columns)
  local fields
  req.query, fields = args_.collect(vname, opname, op, o.order)
  req.body = make_body(o, vname, opname, op, fields, streams.stdin)
  -- users_export: the raw CSV unless a format asks for rows
  if op.response == "csv" and o.format and req.query.parse == nil then req.query.parse = true end
  req.fmt = o.format or "json"
  req.args, req.fixed = positional_args(o, vname, opname, req.names)
  return req
end

local function run(argv, getenv, streams)
  local o = args_.parse(argv)
  if o.version then
    streams.stdout:write("userapi ", userapi._VERSION, "\n")
    return 0
  end
  local vname, vendor, opname = resolve(o, streams.stdout)
  if not vname then return 0 end
  streams.doing = vname .. " " .. opname
  local req = request_of(o, vname, vendor, opname, streams)
  local sent = o["dry-run"] and {} or nil
  local client = make_client(o, vname, vendor, getenv, streams, sent)
  if o.each then req.items, req.labels = each_items(o, req, streams.stdin) end
  if sent then return dry_run(req, client, sent, streams) end
  if o.all then return walk_all(req, client, streams.stdout) end
  if req.items then return run_each(req, client, streams) end
  return run_one(req, client, streams)
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
  local raw = { stdin = streams.stdin or io.stdin, stdout = streams.stdout or io.stdout,
                stderr = streams.stderr or io.stderr }
  local s = { stdin = raw.stdin, stdout = streams_.checked(raw.stdout), stderr = raw.stderr, exchanges = 0 }
  s.isatty = streams.isatty or function(name) return streams_.isatty(raw[name], name) end
  local ok, code = pcall(function()
    local c = run(argv or {}, config.getenv_of(env), s)
    s.stdout:flush()
    return c
  end)
  if ok then return code end
  local e = code
  local werr = streams_.write_error(e)
  if werr and werr.pipe then return streams_.SIGPIPE_STATUS end
  if werr then
    s.stderr:write("userapi: cannot write the output: ", term(werr.message), "\n")
    return 1
  end
  -- what reaches stderr may quote a vendor: escaped for the terminal
  if is_usage(e) then
    s.stderr:write("userapi: ", term(e.message), "\n")
    return 2
  end
  if errors.is(e) then
    s.stderr:write(term(tostring(e)), "\n")
    return 1
  end
  -- "bad argument" is the library refusing input before sending: the user's
  -- (2), unless a server answered already: then it is the server's data (1)
  local msg = term(tostring(e))
  if msg:find("^bad argument") and s.exchanges > 0 then
    s.stderr:write("userapi: ", s.doing or "", ": the server's answer led to a request refused: ", msg, "\n")
    return 1
  end
  s.stderr:write("userapi: ", msg, "\n")
  return msg:find("^bad argument") and 2 or 1
end

return _M
