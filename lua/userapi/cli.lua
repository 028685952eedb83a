--- The `userapi` command: every operation of the vendors from a shell,
-- driven by the same operation tables as the library.
--
--     userapi VENDOR OPERATION [ARGS] [--param value ...] [--body JSON|@file|@-]
--
-- Credentials come from the environment (each vendor table's `cli.env`
-- names: `USERAPI_KANDJI_TOKEN`, ...) or a config file (@{userapi.config});
-- never from a flag, except `--token-from-stdin`. Exit codes: 0 success, 1 the
-- operation failed (the vendor's error on stderr), 2 usage error; onboard and
-- offboard add 3, something changed (`userapi.cli.people`).
-- `bin/userapi` is a thin wrapper around `main`. The parts: @{userapi.config}
-- (credentials), @{userapi.format} (output), `userapi.cli.args` (parsing),
-- `userapi.cli.help`, and the dry run's transport `userapi.transport.record`.
-- @module userapi.cli
-- @usage
-- -- the command, in-process (the specs capture the streams this way)
-- local cli = require "userapi.cli"
-- local code = cli.main({ "kandji", "list_users", "--archived", "false" }, os.getenv)
local userapi = require "userapi"
local errors = require "userapi.errors"
local config = require "userapi.config"
local fmt_ = require "userapi.format"
local args_ = require "userapi.cli.args"
local flags = require "userapi.cli.flags"
local record = require "userapi.transport.record"
local usage_ = require "userapi.cli.usage"
local request = require "userapi.cli.request"
local cli_client = require "userapi.cli.client"
local streams_ = require "userapi.cli.streams"
local records = require "userapi.cli.records"

local type, pairs, ipairs, tostring, pcall, next = type, pairs, ipairs, tostring, pcall, next
local format = string.format
local unpack = table.unpack or unpack
local usage, is_usage, did_you_mean, is_array = usage_.raise, usage_.is, usage_.did_you_mean, fmt_.is_array
local term = fmt_.escape_terminal

local _M = {}

-- ---- the command ---------------------------------------------------------------

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

-- ---- running it ------------------------------------------------------------------

-- the dry run: the requests go to the recording transport, then out as text
local function dry_run(req, client, sent, streams)
  if req.items then
    client:bulk(req.opname, req.items, { concurrency = req.concurrency })
  elseif req.all then
    -- the first page, as the iterator asks for it
    client:pages(next(req.query) and req.query or nil)()
  else
    local a = request.call_args(req.names, req.op, req.body, req.query, req.args)
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

-- the rows written out, once the --columns given have been checked against them
local function finish(w, given)
  local unknown = given and w.unknown() or {}
  if #unknown > 0 then
    usage("--columns: no record has '%s'%s", unknown[1], did_you_mean(unknown[1], fmt_.columns(w.rows())))
  end
  w.finish()
end

local function walk_all(req, client, out)
  local w = fmt_.writer(req.fmt, out, req.cols)
  local left = req.max_items
  local params = {}
  for k, v in pairs(req.query) do params[k] = v end
  -- a bounded walk asks for no page ahead of the one it reads
  if left then params.concurrency = 1 end
  if left ~= 0 then
    for user in client:each_user(params) do
      w.row(req.mask(user))
      -- a reader that has gone stops the walk here, not pages later
      out:flush()
      if left then
        left = left - 1
        if left == 0 then break end
      end
    end
  end
  finish(w, req.cols)
  return 0
end

-- "498 ok, 2 failed" (and the skipped, when there are some)
local function summary(results)
  local s = format("%d ok, %d failed", results.ok or 0, results.failed or 0)
  if (results.skipped or 0) > 0 then s = s .. format(", %d skipped", results.skipped) end
  return s
end

-- the row of one item's result; `resumed` when a journal had it from an earlier run
-- one item's row: its secrets masked, an absent account forgiven with --missing-ok
local function row_of(req, label, r)
  local e, ok = r.err, r.ok
  if e and req.o["missing-ok"] and records.absent(e) then e, ok = nil, true end
  return { item = label, ok = ok, status = e and e.status or nil, error = e and tostring(e) or nil,
           result = r.value ~= true and req.mask(r.value) or nil, resumed = r.resumed or nil }
end

-- Results item by item (--each, or a batch operation's answer): one row
-- each (unless streamed already), the failures on stderr, then the summary;
-- exit 1 when one failed.
local function report(req, results, labels, streams, streamed)
  local out, err_out = streams.stdout, streams.stderr
  local rows = {}
  for i, r in ipairs(results) do
    rows[i] = row_of(req, labels[i], r)
    if r.err then err_out:write(term(labels[i] .. ": " .. tostring(r.err)), "\n") end
  end
  if req.fmt == "json" then
    out:write(#rows == 0 and "[]" or fmt_.to_json(rows, 2), "\n")
  elseif not streamed then -- jsonl rows were written as each item finished
    local w = fmt_.writer(req.fmt, out, req.cols or { "item", "ok", "status", "error", "result" })
    for _, r in ipairs(rows) do w.row(r) end
    finish(w, req.cols)
  end
  err_out:write(summary(results), "\n")
  return (results.failed or 0) > 0 and 1 or 0
end

local function run_each(req, client, streams)
  local bar = (#req.items > 0 and streams.isatty("stderr")) and streams_.progress_bar(streams.stderr) or nil
  -- jsonl: each row out as its item finishes, so a killed run leaves on
  -- stdout what it finished (a journal's earlier outcomes first, `resumed`)
  local on_result
  if req.fmt == "jsonl" then
    on_result = function(i, r)
      streams.stdout:write(fmt_.to_json(row_of(req, req.labels[i], r)), "\n")
      streams.stdout:flush()
    end
  end
  local results = client:bulk(req.opname, req.items, { concurrency = req.concurrency, on_progress = bar,
                                                       on_result = on_result, journal = req.o.journal })
  if req.o["missing-ok"] then records.forgive_absent(results, req.labels, streams.stderr) end
  return report(req, results, req.labels, streams, on_result ~= nil)
end

-- what names an item of a batch body in the report: an identifying field, else its position
local function batch_labels(req, n)
  local body = req.body
  if type(body) == "table" and not is_array(body) then body = { body } end
  local labels = {}
  for i = 1, n do
    local item = type(body) == "table" and body[i]
    local name = type(item) == "table" and (item.email or item.username or item.id or item.name)
    labels[i] = type(name) == "string" and name or tostring(i)
  end
  return labels
end

local function run_one(req, client, streams)
  local out = streams.stdout
  local a = request.call_args(req.names, req.op, req.body, req.query, req.args)
  local res, err = client[req.opname](client, unpack(a, 1, a.n))
  if res == nil and req.o["missing-ok"] and records.absent(err) then
    streams.stderr:write(records.absent_line(err), "\n")
    return 0
  end
  if res == nil then
    streams.stderr:write(term(tostring(err)), "\n")
    return 1
  end
  res = req.mask(res)
  if req.op.chunk and type(res) == "table" and type(res.failed) == "number" then
    -- a batch operation: the library read its answer item by item
    return report(req, res, batch_labels(req, #res), streams)
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
    finish(w, req.cols)
  end
  return 0
end

-- a subcommand of userapi.cli.flags.COMMANDS (completion, man, ...)
local function subcommand(o, getenv, streams)
  if o.help then
    streams.stdout:write(require("userapi.cli.help").command(o.command))
    return 0
  end
  flags.check(o, o.command)
  local ctx = { streams = streams, getenv = getenv }
  -- a vendor's client as VENDOR OPERATION makes it: config, proxy, -v
  function ctx.client(vname)
    local name = config.vendor_name(vname)
    if not name then usage("unknown vendor '%s'%s", vname, did_you_mean(vname, userapi.vendors)) end
    return cli_client.make(o, name, userapi.vendors[name], getenv, streams)
  end
  local c = o.command
  return require(c.module)[c.fn](o, ctx)
end

-- USERAPI_VENDORS=mod1,mod2: modules required at start; each registers its
-- vendor (userapi.register) or returns a vendor table, registered here
local function load_vendors(getenv)
  local list = getenv("USERAPI_VENDORS")
  for name in (list or ""):gmatch("[^,%s]+") do
    local ok, v = pcall(require, name)
    if not ok then usage("USERAPI_VENDORS: cannot load %s: %s", name, tostring(v)) end
    if type(v) == "table" and type(v.name) == "string" and type(v.ops) == "table" then
      -- registering a table twice is harmless: it is compiled once
      local rok, err = pcall(userapi.register, v)
      if not rok then usage("USERAPI_VENDORS: %s: %s", name, tostring(err)) end
    end
  end
end

local function run(argv, getenv, streams)
  load_vendors(getenv)
  local o = args_.parse(argv)
  if o.version then
    streams.stdout:write("userapi ", userapi._VERSION, "\n")
    return 0
  end
  if o.command then return subcommand(o, getenv, streams) end
  local vname, vendor, opname = request.resolve(o, streams.stdout)
  if not vname then return 0 end
  streams.doing = vname .. " " .. opname
  local req = request.of(o, vname, vendor, opname, streams)
  local sent = o["dry-run"] and {} or nil
  local client = cli_client.make(o, vname, vendor, getenv, streams, sent)
  if o.each then req.items, req.labels = request.each_items(o, req, streams.stdin) end
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
