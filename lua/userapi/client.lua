--- The one generic caller: turns a vendor's operation table into methods,
-- checks arguments, builds the request, sends it and maps the response.
-- The constructors of @{userapi} make its clients; a @{Client} has the
-- methods below plus one per operation of its vendor.
-- @module userapi.client
local core = require "userapi.core"
local json = require "userapi.json"
local attempt = require "userapi.attempt"
local auth_of = require("userapi.auth").new
local secrets_of = require("userapi.secrets").of_client
local tenant_of = require("userapi.tenant").new
local retry = require "userapi.retry"
local paging = require "userapi.paging"
local bulk = require "userapi.bulk"
local stream = require "userapi.stream"
local check = require "userapi.check"
local vendors = require "userapi.vendor"
local options = require "userapi.options"
local class = require "userapi.class"

local type, ipairs, select, tostring, error = type, ipairs, select, tostring, error
local setmetatable, getmetatable, concat = setmetatable, getmetatable, table.concat
local format = string.format
local escape = core.escape
local bad, describe = check.bad, check.describe

local _M = { _VERSION = core._VERSION }

local Client = {}
_M.Client = Client

-- what a client keeps outside its fields: how to reopen its transport, its
-- tenant once computed, how many times it was closed (weak keys)
local private = setmetatable({}, { __mode = "k" })

--- A client of one vendor: the generic methods below, and one method per
-- operation of the vendor (@{userapi.vendors.opendatasoft},
-- @{userapi.vendors.arthur}, @{userapi.vendors.kandji},
-- @{userapi.vendors.sigfox}): `client:op(...)` is `client:call("op", ...)`.
-- Fields (read them, never write them): `vendor` (the operation table),
-- `base_url`, `opts` (the checked options), `transport` (the session),
-- `limiter` (the budget: @{userapi.limiter}), `auth` (the token's owner,
-- @{userapi.auth}, or false for fixed credentials), `secrets` (every form of
-- every secret, @{userapi.secrets}), `rate_limit` (the last rate-limit
-- headers seen), `retried` (retries so far); and what the budget shares:
-- `now`, `sleep` (the one clock), `warn` (the log), `retries` (the policy).
-- Token and budget state are private to auth, attempt and the limiter.
-- @type Client

-- The operation named, or a raised did-you-mean naming the method called.
local function op_of(self, opname, method)
  local vendor = self.vendor
  local op = vendor.ops[opname]
  if op then return op end
  local near = check.nearest(opname, vendor.op_names)
  error(format("bad argument #1 to '%s' (%s has no operation '%s'; %s)", method, vendor.name, tostring(opname),
    near and ("did you mean '" .. near .. "'?") or ("its operations: " .. concat(vendor.op_names, ", "))), 0)
end

-- a request URL's pieces, joined by build
local url_parts = {}
local request_of -- forward: Client:build's body, below it
local call_op -- forward: Client:call's body, below it

--- Checks the arguments of one operation call and returns the request table
-- for the transport, plus the local options (never sent). Sends nothing: the
-- dry run of the `userapi` command prints what this returns.
-- @tparam string opname the operation
-- @param ... the operation's arguments, as for the operation's method
-- @treturn table the request: `method`, `url` (without the query), `query`
-- (wire names), `headers` (without the credentials, which the transport adds),
-- `body` (JSON text)
-- @treturn ?table the local options of the call (`parse` of `users_export`)
-- @raise `bad argument #N to 'opname' (...)` on input the operation refuses
-- @usage local req = kandji:build("list_users", { email = "ada" })
-- print(req.method, req.url, req.query.email)   -- GET https://acme.api.kandji.io/api/v1/users ada
function Client:build(opname, ...) return request_of(self, op_of(self, opname, "build"), opname, ...) end

-- Client:build with the operation looked up (once per call, by its caller).
function request_of(self, op, opname, ...)
  local names, nargs = op.path_params, select("#", ...)
  local npath, url = #names
  if npath == 1 then
    -- one parameter, as most operations have: the template starts with "/",
    -- so its pieces are a literal, the id and a literal or nothing; one
    -- concatenation instead of the loop below
    local pieces = op.pieces
    local id, plain = check.id(opname, 1, names[1], (...))
    url = self.base_url .. pieces[1] .. (plain and id or escape(id)) .. (pieces[3] or "")
  elseif npath > 1 then
    -- the template split at load time: literal, id, literal, ...; joined in
    -- one scratch table (nothing below yields or keeps it)
    local parts, pieces = url_parts, op.pieces
    parts[1] = self.base_url
    for i = 1, #pieces do
      local piece = pieces[i]
      local pname = names[piece] -- a parameter's index names it; a literal names nothing
      if pname then
        local id, plain = check.id(opname, piece, pname, (select(piece, ...)))
        parts[i + 1] = plain and id or escape(id)
      else
        parts[i + 1] = piece
      end
    end
    url = concat(parts, "", 1, #pieces + 1)
  else
    url = self.base_url .. op.path
  end
  local pos, arg = npath + 1, nil
  if nargs > pos then bad(opname, "#" .. (pos + 1), "no more than " .. pos .. " arguments expected") end
  if nargs == pos then arg = select(pos, ...) end
  -- the C core only reads the headers: one table per operation serves every call
  -- raw_headers: the header block is parsed only when someone looks at it
  local req = { method = op.method, url = url, headers = op.headers, raw_headers = true }
  if op.body then
    if arg == nil then bad(opname, "#" .. pos, "table expected, got nil") end
    local body, err = json.encode(check.body(op, opname, pos, arg), op.body)
    if not body then bad(opname, "#" .. pos, "cannot be encoded as JSON: " .. tostring(err)) end
    -- a password the caller sends is a secret from now on: errors, dry runs,
    -- diffs; the request keeps its own (a transport reads only its known fields)
    req.secrets = self.secrets:pass_body(arg, op.body)
    req.body = body
  elseif arg ~= nil then
    if type(arg) ~= "table" then bad(opname, "#" .. pos, "table expected, got " .. describe(arg)) end
    if not op.query and not op.options then bad(opname, "#" .. pos, "no parameters expected") end
    req.query = check.query(op, opname, pos, arg)
  end
  if op.chunk then
    -- a batch: its answer is read item by item (bulk.items)
    return req, { batch = (arg[1] ~= nil) and #arg or 1 }
  end
  return req, (not op.body) and arg or nil
end

--- Calls one operation: check, build, exchange. `client:get_user(id)` is
-- `client:call("get_user", id)`. An array body longer than the operation's
-- chunk (Opendatasoft invite and provision: 100) goes out in several requests.
-- @tparam string opname the operation
-- @param ... the operation's arguments: path parameters, then the body or the query table
-- @return the decoded JSON answer, or `true` for an empty one
-- @treturn[2] nil
-- @treturn[2] userapi.errors.Error
-- @raise `bad argument ...` on input the operation refuses; nothing is sent then
-- @usage local page, err = kandji:call("list_users", { archived = false })
function Client:call(opname, ...) return call_op(self, op_of(self, opname, "call"), opname, ...) end

-- Client:call with the operation looked up: an operation's method looks it
-- up once, when its class is made (userapi.class).
function call_op(self, op, opname, ...)
  local list = op.chunk and select("#", ...) == 1 and ...
  if type(list) == "table" and #list > op.chunk then
    for i = 1, #list do request_of(self, op, opname, { list[i] }) end -- check all before sending any
    return bulk.chunked(self, opname, list)
  end
  local req, opts = request_of(self, op, opname, ...)
  return attempt.run(self, opname, req, opts)
end

--- The tenant the client works for: the one identity its shared budget,
-- store keys, token cache, journal header and log lines name.
-- @treturn table read-only: `vendor` (its name), `base_url`, `fingerprint`
-- (SHA-256 of the base URL and the credential, 32 hex digits), `key`
-- (`vendor:fingerprint`), `label` (for log lines), `names_credential`
-- @usage local t = kandji:tenant() print(t.vendor, t.base_url, t.fingerprint)
function Client:tenant()
  local p = private[self]
  if not p.tenant then p.tenant = tenant_of(self.vendor, self.base_url, self.opts) end
  return p.tenant
end

--- How many times the client was closed: a walk or a bulk run started
-- before a `close` ends cleanly when it sees the count change.
-- @treturn int
function Client:closings() return private[self].closed or 0 end

--- Walks the pages of the list operation: `for i, page, err in client:pages(params)`.
-- See @{userapi.paging.pages}.
-- @tparam[opt] string opname the list operation (the vendor's only one; may be left out)
-- @tparam[opt] table params its query parameters; the page size defaults to the largest
-- @treturn function an iterator of `i, page` and, on failure, `i, nil, err` once
-- @usage for i, page, err in ods:pages{ limit = 100 } do
--   if err then error(err) end
--   print(i, #page.results)
-- end
function Client:pages(opname, params) return paging.pages(self, opname, params) end

--- Every user of the list operation, lazily; raises a failed page's error.
-- See @{userapi.paging.each_user}.
-- @tparam[opt] table params the list operation's query parameters
-- @treturn function an iterator of users
-- @raise the @{userapi.errors.Error} of a page that fails
-- @usage for u in kandji:each_user{ archived = false } do print(u.email) end
function Client:each_user(params) return paging.each_user(self, params) end

--- Rows of a CSV export as they arrive (Opendatasoft `users_export`),
-- keyed by the header; raises the structured error on failure.
-- Memory holds a chunk of the body, not the whole export.
-- @tparam[opt] table params the export's query parameters (`delimiter`, `subdomains`)
-- @treturn function an iterator of rows (`username`, `email`, ..., `groups` and
-- `permissions` as arrays)
-- @raise `userapi.<vendor> has no CSV export`; the export's @{userapi.errors.Error}
-- @usage for row in ods:each_export_row() do print(row.username, row.email) end
function Client:each_export_row(params)
  local opname = self.vendor.export
  if not opname then error("userapi." .. self.vendor.name .. " has no CSV export", 2) end
  return stream.csv_rows(self, opname, params)
end

--- Runs an operation for many items at once; see @{userapi.bulk.run}.
-- @tparam string opname the operation
-- @tparam {table|string,...} items one argument list per call (`{ id }`,
-- `{ id, body }`), or bare ids
-- @tparam[opt] table opts `concurrency` (1..64, default 8), `on_progress(done, n)`,
-- `on_result(i, r)`, `stop_on_error`, `journal` (a file: see @{userapi.journal})
-- @treturn table the results in input order (`{ ok = true, value }` or
-- `{ ok = false, err }`) and the counts `ok`, `failed`, `skipped`, `retried`, `throttled`
-- @raise `bad argument ...` on a bad item: every item is checked before the first is sent
-- @usage local res = kandji:bulk("delete_user", ids, { concurrency = 8 })
-- print(res.ok, "deleted,", res.failed, "failed")
function Client:bulk(opname, items, opts)
  -- the journal wraps bulk: it runs bulk window by window
  if type(opts) == "table" and opts.journal then
    return require("userapi.journal").run(self, opname, items, opts)
  end
  return bulk.run(self, opname, items, opts)
end

--- Makes one person present: created or invited, updated when fields differ;
-- see @{userapi.people.ensure_user}.
-- @tparam table spec `email` (or `id`, `username`) and the fields to hold
-- @tparam[opt] table opts `check = true`: plan, send no write
-- @treturn table `{ changed, action, before, after, diff }`, or `nil, err`
-- @usage local res = assert(ods:ensure_user{ email = "marie@example.com", first_name = "Marie" })
function Client:ensure_user(spec, opts) return require("userapi.people").ensure_user(self, spec, opts) end

--- Makes one person absent (already gone is success); see @{userapi.people.ensure_absent}.
-- @tparam string|table selector an email, or `{ id = }`, `{ username = }`
-- @tparam[opt] table opts `check = true`: plan, send no write
-- @treturn table `{ changed, action, before, after, diff }`, or `nil, err`
-- @usage assert(kandji:ensure_absent("ada@example.com", { check = true }))
function Client:ensure_absent(selector, opts) return require("userapi.people").ensure_absent(self, selector, opts) end

-- A closed client's transport: nothing is opened until the next use needs it.
local Closed = {}
Closed.__index = Closed
local function reopen(t)
  local client = t.client
  local p = private[client]
  client.transport = p.transport_module.new(p.session_opts)
  return client.transport
end
function Closed.request(t, ...) local n = reopen(t) return n:request(...) end
function Closed.multi(t, ...) local n = reopen(t) return n:multi(...) end
function Closed.set_auth(t, ...) local n = reopen(t) return n:set_auth(...) end
function Closed.close() end

--- Closes the client's connections; a later call opens new ones. Also runs
-- on `__close` (a `<close>` variable in Lua 5.4); closing twice is harmless.
-- @usage local kandji <close> = userapi.kandji(opts)
function Client:close()
  local t = self.transport
  if getmetatable(t) == Closed then return end
  local p = private[self]
  p.closed = (p.closed or 0) + 1
  if t and t.close then t:close() end
  self.transport = setmetatable({ client = self }, Closed)
  if self.auth then self.auth:forget() end
end

-- ---- classes and construction ----------------------------------------------

--- Construction.
-- @section construction

--- The class of a vendor's clients: the generic methods plus one method per
-- operation (made once per vendor table).
-- @tparam table vendor a vendor table, raw or compiled (@{userapi.vendor.compile})
-- @treturn table the metatable of its clients
function _M.class_of(vendor) return class.of(vendor, Client, call_op) end
local class_of = _M.class_of

--- Creates a client of a vendor table with the given options.
-- The constructors of @{userapi} call this with their vendor's table.
-- @tparam table vendor an operation table (`userapi.vendors.kandji`)
-- @tparam table opts the @{userapi.options.options} and the vendor's own
-- @treturn Client
-- @raise on missing credentials or options of the wrong type
-- @usage local c = require("userapi.client").new(require("userapi.vendors.kandji"), { subdomain = "acme", token = T })
function _M.new(vendor, opts)
  vendor = vendors.compile(vendor)
  opts = options.check(vendor, opts)
  local self = setmetatable({ vendor = vendor, opts = opts }, class_of(vendor))
  private[self] = {}
  self.base_url = options.base_url(vendor.name, opts.base_url or vendor.default_base(opts), opts.allow_insecure)
  local sopts = {}
  for _, k in ipairs(options.SESSION) do sopts[k] = opts[k] end
  local auth = vendor.auth(opts)
  options.credentials(vendor, auth)
  self.secrets = secrets_of(vendor, opts, auth)
  sopts.auth = auth
  local transport = require("userapi.transport").resolve(opts.transport)
  private[self].transport_module, private[self].session_opts = transport, sopts
  -- what the core refuses in the options is the caller's error, named
  -- after the constructor and without a file position
  local made, t = pcall(transport.new, sopts)
  if not made then options.refuse(vendor.name, nil, "invalid", (tostring(t):gsub("^[^:]*:%d+: ", ""))) end
  self.transport = t
  -- the one clock: the transport's, or one injected (tests, a host's own loop)
  local clock = opts.clock or transport
  self.sleep, self.now = clock.sleep, clock.now
  -- retries and throttling waits are reported here (nginx: the error log at WARN)
  self.warn = opts.log or (opts.log == nil and transport.warn) or function() end
  self.retries = retry.policy(opts.retries)
  self.retried = 0
  self.limiter = require("userapi.limiter").new(self, opts.rate_limit == nil and vendor.rate_limit or opts.rate_limit)
  local auth_obj = auth_of(self, opts)
  self.auth = auth_obj and auth_obj.provider and auth_obj or false
  return self
end

return _M
