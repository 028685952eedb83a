--- The one generic caller: turns a vendor's operation table into methods,
-- checks arguments, builds the request, sends it and maps the response.
-- The constructors of @{userapi} make its clients; a @{Client} has the
-- methods below plus one per operation of its vendor.
-- @module userapi.client
local core = require "userapi.core"
local json = require "userapi.json"
local errors = require "userapi.errors"
local csv = require "userapi.csv"
local oidc = require "userapi.oidc"
local retry = require "userapi.retry"
local paging = require "userapi.paging"
local bulk = require "userapi.bulk"
local stream = require "userapi.stream"
local check = require "userapi.check"
local vendors = require "userapi.vendor"
local options = require "userapi.options"
local class = require "userapi.class"

local type, pairs, ipairs, select, tostring, error = type, pairs, ipairs, select, tostring, error
local setmetatable, getmetatable, next, concat = setmetatable, getmetatable, next, table.concat
local find, format = string.find, string.format
local escape = core.escape
local bad, describe = check.bad, check.describe

-- headers arrive as a raw block (the curl transport) or a table (nginx)
local function parse_headers(h)
  if type(h) == "string" then return core.parse_headers(h) end
  return h
end

local _M = { _VERSION = core._VERSION }

local Client = {}
_M.Client = Client
local redact_url

--- A client of one vendor: the generic methods below, and one method per
-- operation of the vendor (@{userapi.vendors.opendatasoft},
-- @{userapi.vendors.arthur}, @{userapi.vendors.kandji},
-- @{userapi.vendors.sigfox}): `client:op(...)` is `client:call("op", ...)`.
-- Fields: `base_url`, `vendor` (the operation table), `rate_limit` (the last
-- rate-limit headers seen), `retried` (retries so far).
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
function Client:build(opname, ...)
  local op = op_of(self, opname, "build")
  local names, nargs = op.path_params, select("#", ...)
  local url
  if #names > 0 then
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
  local pos = #names + 1
  if nargs > pos then bad(opname, "#" .. (pos + 1), "no more than " .. pos .. " arguments expected") end
  local arg = select(pos, ...)
  -- the C core only reads the headers: one table per operation serves every call
  -- raw_headers: the header block is parsed only when someone looks at it
  local req = { method = op.method, url = url, headers = op.headers, raw_headers = true }
  if op.body then
    if arg == nil then bad(opname, "#" .. pos, "table expected, got nil") end
    local body, err = json.encode(check.body(op, opname, pos, arg), op.body)
    if not body then bad(opname, "#" .. pos, "cannot be encoded as JSON: " .. tostring(err)) end
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

-- ---- responses ------------------------------------------------------------

local function decode_json(self, opname, status, body, headers)
  local v, err = json.decode(body)
  if v == nil then
    headers = parse_headers(headers)
    return nil, errors.new{ vendor = self.vendor.name, operation = opname, status = status,
      kind = "decode", body = body, headers = headers, secrets = self.secrets,
      message = "response is not valid JSON (" .. tostring(err) .. "): " .. errors.excerpt(body, self.secrets) }
  end
  return v
end

--- Maps a transport answer to the operation's result or `nil, err`.
-- @tparam string opname the operation
-- @tparam ?table opts the call's local options (from `build`)
-- @tparam ?int status the HTTP status, nil for a transport failure
-- @param body the body (or the transport's error when status is nil)
-- @param headers the response headers (a raw block or a table)
-- @return the decoded JSON, `true` for an empty answer, the CSV text or rows
-- @treturn[2] nil
-- @treturn[2] userapi.errors.Error
function Client:result(opname, opts, status, body, headers)
  if not status then
    return nil, errors.from_transport({ vendor = self.vendor.name, operation = opname, secrets = self.secrets }, body)
  end
  if status < 200 or status > 299 then
    local decoded = find(body, "^%s*[{%[]") and json.decode(body) or nil
    return nil, errors.from_response({ vendor = self.vendor.name, operation = opname, secrets = self.secrets },
                                     status, body, parse_headers(headers), decoded, self.vendor.error_message)
  end
  local op = self.vendor.ops[opname]
  if op.response == "csv" then
    if opts and opts.parse then
      return csv.parse(body, opts.delimiter)
    end
    return body
  end
  if status == 204 or body == "" then return true end
  local value, err = decode_json(self, opname, status, body, headers)
  if value ~= nil and op.chunk then return bulk.items(self, opname, value, opts and opts.batch or 1) end
  return value, err
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
function Client:call(opname, ...)
  local op = op_of(self, opname, "call")
  local list = op.chunk and select("#", ...) == 1 and ...
  if type(list) == "table" and #list > op.chunk then
    for i = 1, #list do self:build(opname, { list[i] }) end -- check all before sending any
    return bulk.chunked(self, opname, list)
  end
  local req, opts = self:build(opname, ...)
  return self:exchange(opname, req, opts)
end

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
-- `stop_on_error`
-- @treturn table the results in input order (`{ ok = true, value }` or
-- `{ ok = false, err }`) and the counts `ok`, `failed`, `skipped`, `retried`, `throttled`
-- @raise `bad argument ...` on a bad item: every item is checked before the first is sent
-- @usage local res = kandji:bulk("delete_user", ids, { concurrency = 8 })
-- print(res.ok, "deleted,", res.failed, "failed")
function Client:bulk(opname, items, opts) return bulk.run(self, opname, items, opts) end

--- Makes one person present: created or invited, updated when fields differ;
-- see @{userapi.state.ensure_user}.
-- @tparam table spec `email` (or `id`, `username`) and the fields to hold
-- @tparam[opt] table opts `check = true`: plan, send no write
-- @treturn table `{ changed, action, before, after, diff }`, or `nil, err`
-- @usage local res = assert(ods:ensure_user{ email = "marie@example.com", first_name = "Marie" })
function Client:ensure_user(spec, opts) return require("userapi.state").ensure_user(self, spec, opts) end

--- Makes one person absent (already gone is success); see @{userapi.state.ensure_absent}.
-- @tparam string|table selector an email, or `{ id = }`, `{ username = }`
-- @tparam[opt] table opts `check = true`: plan, send no write
-- @treturn table `{ changed, action, before, after, diff }`, or `nil, err`
-- @usage assert(kandji:ensure_absent("ada@example.com", { check = true }))
function Client:ensure_absent(selector, opts) return require("userapi.state").ensure_absent(self, selector, opts) end

-- A closed client's transport: nothing is opened until the next use needs it.
local Closed = {}
Closed.__index = Closed
local function reopen(t)
  local client = t.client
  client.transport = client.transport_module.new(client.session_opts)
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
  if t and t.close then t:close() end
  self.transport = setmetatable({ client = self }, Closed)
  self.token = nil
end

--- Sends a built request, renewing the token and retrying as the policy
-- allows, and maps the final answer to `result` or `nil, err`.
-- @tparam string opname the operation
-- @tparam table req a request from `build`
-- @tparam[opt] table opts the call's local options
-- @return as `call`
function Client:exchange(opname, req, opts)
  local state = { attempt = 0 }
  while true do
    if self.token_provider then
      local ok, err = oidc.refresh(self, false)
      if not ok then return nil, err end
    end
    local waited, late = self.limiter:acquire(opname)
    if not waited then return nil, late end
    local started = self.on_request and self.now()
    local sent_token = self.token
    local status, body, headers = self.transport:request(req)
    if status and status >= 300 then headers = parse_headers(headers) end
    headers = self:observe(opname, req, status, body, headers, started, state.attempt)
    local action, wait = retry.decide(self, state, opname, req.method, status, body, headers)
    if action == "done" then
      local res, err = self:result(opname, opts, status, body, headers)
      if err then err.attempts = state.attempt + 1 end
      return res, err
    elseif action == "renew" then
      -- a failed renewal is the token call's own error, from here as from bulk
      local ok, err = oidc.refresh(self, sent_token or true)
      if not ok then return nil, err end
    else
      self.sleep(wait)
    end
  end
end

--- Remembers rate-limit headers and reports the exchange to `on_request`;
-- returns the headers (parsed if they had to be read).
-- @tparam string opname the operation
-- @tparam table req the request
-- @tparam ?int status the status, nil for a transport failure
-- @param body the body or the transport's error
-- @param headers the headers, raw or parsed
-- @tparam ?number started when it was sent (ms), for `on_request`
-- @tparam int attempt 0 for the first try
-- @return the headers
function Client:observe(opname, req, status, body, headers, started, attempt)
  -- plain finds (any case of RateLimit, Retry-After): a pattern costs more than the parse
  local kind = type(headers)
  if kind == "string" and (find(headers, "imit", 1, true) or find(headers, "IMIT", 1, true)
      or find(headers, "etry-", 1, true) or find(headers, "ETRY-", 1, true)) then
    headers, kind = parse_headers(headers), "table"
  end
  if kind == "table" then
    local seen
    for k, v in pairs(headers) do
      if find(k, "ratelimit", 1, true) or k == "retry-after" then
        seen = seen or {}
        -- a header copy is kept: a vendor echoing a secret in it must not leak it
        seen[k] = errors.redact(v, self.secrets)
      end
    end
    if seen then
      self.rate_limit = seen
      self.limiter:observe(seen, status)
    end
  end
  local hook = self.on_request
  if hook then
    hook{
      vendor = self.vendor.name, operation = opname, method = req.method,
      url = errors.redact(redact_url(req.url, req.query), self.secrets), attempt = attempt + 1,
      status = status, error = not status and errors.redact(tostring(body), self.secrets) or nil,
      ms = started and (self.now() - started),
    }
  end
  return headers
end

-- The URL as a log line shows it: query included, the API key masked (the
-- transport adds it, but a caller may have put one in a query by hand).
function redact_url(url, query)
  if query and next(query) then url = core.url(url, query) end
  return (url:gsub("([?&][Aa][Pp][Ii][Kk][Ee][Yy]=)[^&]*", "%1[REDACTED]"))
end

-- ---- classes and construction ----------------------------------------------

--- Construction.
-- @section construction

--- The class of a vendor's clients: the generic methods plus one method per
-- operation (made once per vendor table).
-- @tparam table vendor a vendor table, raw or compiled (@{userapi.vendor.compile})
-- @treturn table the metatable of its clients
function _M.class_of(vendor) return class.of(vendor, Client) end
local class_of = _M.class_of

local AUTH_FIELDS = { apikey = { "key" }, bearer = { "token" }, basic = { "user", "password" } }

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
  local self = setmetatable({ vendor = vendor, opts = opts, secrets = {} }, class_of(vendor))
  self.base_url = options.base_url(vendor.name, opts.base_url or vendor.default_base(opts), opts.allow_insecure)
  local sopts = {}
  for _, k in ipairs(options.SESSION) do sopts[k] = opts[k] end
  local auth = vendor.auth(opts)
  -- no auth from a vendor that needs one: refused here, not sent bare (a
  -- vendor with token discovery gets its token later)
  if auth == nil and #vendor.credentials > 0 and not vendor.discovery then
    error("userapi." .. vendor.name .. ": credentials missing (" .. concat(vendor.credentials, ", ") .. ")", 0)
  end
  for _, k in ipairs(auth and AUTH_FIELDS[auth.scheme] or {}) do
    if auth[k] == nil then
      error("userapi." .. vendor.name .. ": credentials missing (" .. concat(vendor.credentials, ", ") .. ")", 0)
    end
  end
  self.secrets = options.secrets(vendor, opts, auth)
  self.fixed_secrets = #self.secrets -- tokens renewed later come and go after these
  sopts.auth = auth
  local transport = require("userapi.transport").resolve(opts.transport)
  self.transport_module, self.session_opts = transport, sopts
  -- what the core refuses in the options is the caller's error, named
  -- after the constructor and without a file position
  local made, t = pcall(transport.new, sopts)
  if not made then error("userapi." .. vendor.name .. ": " .. tostring(t):gsub("^[^:]*:%d+: ", ""), 0) end
  self.transport = t
  -- the one clock: the transport's, or one injected (tests, a host's own loop)
  local clock = opts.clock or transport
  self.sleep, self.now = clock.sleep, clock.now
  -- retries and throttling waits are reported here (nginx: the error log at WARN)
  self.warn = opts.log or (opts.log == nil and transport.warn) or function() end
  self.retries = retry.policy(opts.retries)
  self.retried = 0
  self.limiter = require("userapi.limiter").new(self, opts.rate_limit == nil and vendor.rate_limit or opts.rate_limit)
  -- false, not nil: an unset field read on every call stays a plain lookup
  self.on_request = opts.on_request or false
  self.token_provider = false
  if vendor.discovery then oidc.setup(self, opts) end
  return self
end

return _M
