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

local type, pairs, ipairs, select, tostring, error = type, pairs, ipairs, select, tostring, error
local setmetatable, next, concat, floor = setmetatable, next, table.concat, math.floor
local find, gmatch, format = string.find, string.gmatch, string.format
local escape = core.escape

-- headers arrive as a raw block (the curl transport) or a table (nginx)
local function parse_headers(h)
  if type(h) == "string" then return core.parse_headers(h) end
  return h
end

local _M = { _VERSION = core._VERSION }

local MAX_ID = 1024        -- bytes in one path parameter
local MAX_VALUE = 8192     -- bytes in one query value or body string

local Client = {}
_M.Client = Client
local redact_url

-- ---- argument checks: programmer errors raise, naming op and parameter ----

-- what is "#2" or "#2 name.field": the position, then the parameter it names
local function bad(opname, what, msg)
  local pos, name = what:match("^(#%d+)[%s%.]*(.*)$")
  if name ~= "" then msg = name .. ": " .. msg end
  error(format("bad argument %s to '%s' (%s)", pos, opname, msg), 0)
end

-- integers a double holds exactly: beyond 2^53 a number is no longer the one written
local function is_integer(v)
  return type(v) == "number" and floor(v) == v and v >= -2 ^ 53 and v <= 2 ^ 53
end

local function describe(v)
  local t = type(v)
  if is_integer(v) then return "integer" end
  return t
end

local function check_id(opname, pos, pname, v)
  local what = "#" .. pos .. " " .. pname
  if is_integer(v) then v = format("%d", v) end
  if type(v) ~= "string" then bad(opname, what, "string expected, got " .. describe(v)) end
  if v == "" or v == "." or v == ".." then bad(opname, what, "a non-empty id expected") end
  if #v > MAX_ID then bad(opname, what, "longer than " .. MAX_ID .. " bytes") end
  -- an id never needs these; refusing them keeps it inside its path segment
  if find(v, "[/?#%%\r\n%z]") then bad(opname, what, "contains one of / ? # % CR LF NUL") end
  return v
end

local function in_enum(v, enum)
  for _, e in ipairs(enum) do if e == v then return true end end
  return false
end

local check_value -- forward: objects recurse

local function check_string(opname, what, spec, v)
  if type(v) ~= "string" then bad(opname, what, "string expected, got " .. describe(v)) end
  local n = #v
  if spec.min_len and spec.min_len == spec.max_len and n ~= spec.min_len then
    bad(opname, what, format("exactly %d character(s) expected, got %d", spec.min_len, n))
  end
  if n > (spec.max_len or MAX_VALUE) then
    bad(opname, what, "longer than " .. (spec.max_len or MAX_VALUE) .. " bytes")
  end
  if spec.min_len and n < spec.min_len then bad(opname, what, "shorter than " .. spec.min_len .. " bytes") end
  if spec.enum and not in_enum(v, spec.enum) then
    bad(opname, what, "one of " .. concat(spec.enum, ", ") .. " expected, got '" .. v .. "'")
  end
  return v
end

local CHECK = {
  string = check_string,
  integer = function(opname, what, spec, v)
    if not is_integer(v) then bad(opname, what, "integer expected, got " .. describe(v)) end
    if (spec.min and v < spec.min) or (spec.max and v > spec.max) then
      bad(opname, what, format("out of range %s..%s, got %d", spec.min or "", spec.max or "", v))
    end
    return v
  end,
  -- a boolean or "true"/"false", sent as text
  flag = function(opname, what, _, v)
    if type(v) == "boolean" then return tostring(v) end
    if v ~= "true" and v ~= "false" then bad(opname, what, "boolean or \"true\"/\"false\" expected") end
    return v
  end,
  array = function(opname, what, spec, v)
    if type(v) == "string" then v = { v } end
    if type(v) ~= "table" then bad(opname, what, "array of strings expected, got " .. describe(v)) end
    local n = #v
    for k in pairs(v) do
      if type(k) ~= "number" or k < 1 or k > n then bad(opname, what, "array of strings expected") end
    end
    for i = 1, n do check_string(opname, what .. "[" .. i .. "]", spec, v[i]) end
    return v
  end,
  array_of_objects = function(opname, what, _, v)
    if type(v) ~= "table" then bad(opname, what, "array of tables expected, got " .. describe(v)) end
    for i, x in ipairs(v) do
      if type(x) ~= "table" then bad(opname, what .. "[" .. i .. "]", "table expected, got " .. describe(x)) end
    end
    return v
  end,
  object = function(opname, what, spec, v)
    if type(v) ~= "table" then bad(opname, what, "table expected, got " .. describe(v)) end
    for _, f in ipairs(spec.required or {}) do
      if v[f] == nil or v[f] == json.null then bad(opname, what, "required field '" .. f .. "' missing") end
    end
    for f, fspec in pairs(spec.fields or {}) do
      if v[f] ~= nil and v[f] ~= json.null then check_value(opname, what .. "." .. f, fspec, v[f]) end
    end
    return v
  end,
}

check_value = function(opname, what, spec, v)
  return CHECK[spec.type](opname, what, spec, v)
end

-- bytes that would split a request line: refused in anything bound for the URL
local function check_line(opname, what, v)
  if type(v) == "table" then
    for _, x in ipairs(v) do check_line(opname, what, x) end
  elseif type(v) == "string" and find(v, "[\r\n%z]") then
    bad(opname, what, "contains CR, LF or NUL")
  end
end

local function check_query(op, opname, pos, params)
  local query = {}
  for k, v in pairs(params) do
    local spec = op.query and op.query[k]
    local option = op.options and op.options[k]
    if option then
      if type(v) ~= option then bad(opname, "#" .. pos .. " " .. k, option .. " expected, got " .. describe(v)) end
    elseif not spec then
      bad(opname, "#" .. pos, "unknown parameter '" .. tostring(k) .. "'")
    else
      v = check_value(opname, "#" .. pos .. " " .. k, spec, v)
      check_line(opname, "#" .. pos .. " " .. k, v)
      if spec.style == "csv" then
        -- one comma-joined value: an item holding a comma would turn into two
        for i = 1, #v do
          if find(v[i], ",", 1, true) then bad(opname, "#" .. pos .. " " .. k, "item " .. i .. " contains ','") end
        end
        v = concat(v, ",")
      end
      query[spec.wire or k] = v
    end
  end
  return query
end

local function is_array(t)
  local n = #t
  if n == 0 then return next(t) == nil end
  for k in pairs(t) do if type(k) ~= "number" or k > n then return false end end
  return true
end

local function check_body(op, opname, pos, body)
  local spec, what = op.body, "#" .. pos
  if type(body) ~= "table" then bad(opname, what, "table expected, got " .. describe(body)) end
  local array = is_array(body) and next(body) ~= nil
  local object = { type = "object", required = spec.required, fields = spec.fields }
  if spec.kind == "array" or (spec.kind == "object_or_array" and array) then
    if not array then bad(opname, what, "non-empty array of objects expected") end
    for i, item in ipairs(body) do check_value(opname, what .. "[" .. i .. "]", object, item) end
  else
    if array then bad(opname, what, "object expected, got an array") end
    check_value(opname, what, object, body)
  end
  return body
end

-- ---- building a request ---------------------------------------------------

-- A path template as its parameter names and its pieces: literal strings
-- and the positions of the parameters ("/users/{id}/" -> "/users/", 1, "/").
local function compile_path(path)
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

--- A client of one vendor: the generic methods below, and one method per
-- operation of the vendor (@{userapi.vendors.opendatasoft},
-- @{userapi.vendors.arthur}, @{userapi.vendors.kandji},
-- @{userapi.vendors.sigfox}): `client:op(...)` is `client:call("op", ...)`.
-- Fields: `base_url`, `vendor` (the operation table), `rate_limit` (the last
-- rate-limit headers seen), `retried` (retries so far).
-- @type Client

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
  local op = self.vendor.ops[opname]
  local names, nargs = op.params, select("#", ...)
  local path = op.path
  if #names > 0 then
    -- the template split at load time: literal, id, literal, ...
    local parts = {}
    for i, piece in ipairs(op.pieces) do
      if type(piece) == "number" then
        parts[i] = escape(check_id(opname, piece, names[piece], (select(piece, ...))))
      else
        parts[i] = piece
      end
    end
    path = concat(parts)
  end
  local pos = #names + 1
  if nargs > pos then bad(opname, "#" .. (pos + 1), "no more than " .. pos .. " arguments expected") end
  local arg = select(pos, ...)
  -- the C core only reads the headers: one table per operation serves every call
  -- raw_headers: the header block is parsed only when someone looks at it
  local req = { method = op.method, url = self.base_url .. path, headers = op.headers, raw_headers = true }
  if op.body then
    if arg == nil then bad(opname, "#" .. pos, "table expected, got nil") end
    local body, err = json.encode(check_body(op, opname, pos, arg), op.body)
    if not body then bad(opname, "#" .. pos, "cannot be encoded as JSON: " .. tostring(err)) end
    req.body = body
  elseif arg ~= nil then
    if type(arg) ~= "table" then bad(opname, "#" .. pos, "table expected, got " .. describe(arg)) end
    if not op.query and not op.options then bad(opname, "#" .. pos, "no parameters expected") end
    req.query = check_query(op, opname, pos, arg)
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
      message = "response is not valid JSON (" .. tostring(err) .. "): " .. errors.excerpt(body) }
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
                                     status, body, parse_headers(headers), decoded)
  end
  local op = self.vendor.ops[opname]
  if op.response == "csv" then
    if opts and opts.parse then
      return csv.parse(body, opts.delimiter)
    end
    return body
  end
  if status == 204 or body == "" then return true end
  return decode_json(self, opname, status, body, headers)
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
  local op = self.vendor.ops[opname]
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

--- Closes the client's connections; a later call opens new ones. Also runs
-- on `__close` (a `<close>` variable in Lua 5.4) and at garbage collection.
-- @usage local kandji <close> = userapi.kandji(opts)
function Client:close()
  local t = self.transport
  if t and t.close then t:close() end
  -- a fresh transport holds no connection until it is used
  self.transport = self.transport_module.new(self.session_opts)
  self.token = nil
end

--- Sends a built request, renewing the token and retrying as the policy
-- allows, and maps the final answer to `result` or `nil, err`.
-- @tparam string opname the operation
-- @tparam table req a request from `build`
-- @tparam[opt] table opts the call's local options
-- @return as `call`
function Client:exchange(opname, req, opts)
  local attempt, renewed = 0, false
  while true do
    if self.token_provider then
      local ok, err = oidc.refresh(self, false)
      if not ok then return nil, err end
    end
    self.limiter:acquire(opname)
    local started = self.on_request and self.now()
    local sent_token = self.token
    local status, body, headers = self.transport:request(req)
    if status and status >= 300 then headers = parse_headers(headers) end
    headers = self:observe(opname, req, status, body, headers, started, attempt)
    if status == 401 and self.token_provider and not renewed then
      renewed = true
      local ok, err = oidc.refresh(self, sent_token or true)
      if not ok then return nil, err end
    else
      local wait = retry.wait(self.retries, req.method, attempt, status, body, headers)
      if not wait then
        local res, err = self:result(opname, opts, status, body, headers)
        if err then err.attempts = attempt + 1 end
        return res, err
      end
      attempt = attempt + 1
      self.retried = self.retried + 1
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
  if type(headers) == "string" and (find(headers, "imit", 1, true) or find(headers, "IMIT", 1, true)
      or find(headers, "etry-", 1, true) or find(headers, "ETRY-", 1, true)) then
    headers = parse_headers(headers)
  end
  if type(headers) == "table" then
    local seen
    for k, v in pairs(headers) do
      if find(k, "ratelimit", 1, true) or k == "retry-after" then
        seen = seen or {}
        seen[k] = v
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
      url = redact_url(req.url, req.query), attempt = attempt + 1,
      status = status, error = not status and tostring(body) or nil,
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

local classes = {}

-- One class per vendor: the generic methods plus one method per operation.
local function class_of(vendor)
  local cls = classes[vendor]
  if cls then return cls end
  cls = setmetatable({}, { __index = Client })
  -- the generic methods copied in: one table lookup per call instead of two
  for k, v in pairs(Client) do cls[k] = v end
  cls.__index = cls
  cls.__close = Client.close
  cls.__tostring = function(self) return "userapi." .. vendor.name .. ": " .. self.base_url end
  for opname, op in pairs(vendor.ops) do
    op.params, op.pieces = compile_path(op.path)
    op.headers = { Accept = op.accept or "application/json",
                   ["Content-Type"] = op.body and "application/json" or nil }
    cls[opname] = function(self, ...) return self:call(opname, ...) end
  end
  classes[vendor] = cls
  return cls
end
--- Construction.
-- @section construction

--- The class of a vendor's clients: the generic methods plus one method per
-- operation (made once per vendor table).
-- @function class_of
-- @tparam table vendor an operation table
-- @treturn table the metatable of its clients
_M.class_of = class_of

-- loopback as a whole host name: "127.0.0.1.example.com" is not
local function is_loopback(host)
  host = host:lower()
  return host == "localhost" or host == "[::1]" or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

local function check_base(name, url, allow_insecure)
  if type(url) ~= "string" then error("userapi." .. name .. ": base_url (or the vendor's host options) required", 3) end
  local scheme, authority = url:match("^(https?)://([^/?#]*)")
  if not scheme or authority == "" then
    error("userapi." .. name .. ": base_url must be an http(s) URL, got '" .. url .. "'", 3)
  end
  -- userinfo would hide the real host ("http://127.0.0.1:80@elsewhere") and
  -- put a password in every logged URL; the URL is not echoed for that reason
  if authority:find("@", 1, true) then
    error("userapi." .. name .. ": base_url must not contain user:password@ (give credentials as options)", 3)
  end
  local host = authority:match("^%[[^%]]*%]") or authority:match("^[^:]*")
  if scheme == "http" and not allow_insecure and not is_loopback(host) then
    error("userapi." .. name .. ": refusing plain http to " .. host .. " (set allow_insecure = true)", 3)
  end
  return (url:gsub("/+$", ""))
end

local AUTH_FIELDS = { apikey = { "key" }, bearer = { "token" }, basic = { "user", "password" } }

local SESSION_OPTS = { "timeout_ms", "connect_timeout_ms", "verify_tls", "ca_file", "proxy",
                       "user_agent", "max_body_bytes" }

--- The options every constructor takes (besides the vendor's own: see @{userapi}).
-- @table options
-- @field base_url where the API lives (a self-hosted install, a proxy, the
-- simulator); plain `http://` only to loopback unless `allow_insecure = true`
-- @field allow_insecure allow plain `http://` to another host
-- @field timeout_ms per request, 30000 by default
-- @field connect_timeout_ms 10000 by default
-- @field verify_tls `true` by default
-- @field ca_file a CA bundle instead of the system's
-- @field proxy a proxy URL
-- @field user_agent `userapi/<version> libcurl/<version>` by default
-- @field max_body_bytes 64 MiB by default: a larger answer fails with `kind = "too_large"`
-- @field retries `{ max = 3, base_ms = 200, max_ms = 20000, unsafe = false }` merged
-- over these defaults, or `false`; see @{userapi.retry.policy}
-- @field rate_limit `{ per_second = N, per_hour = N }` to stay under, client side
-- (Kandji's by default), or `false`
-- @field on_request `function(event)` after each exchange: `vendor`, `operation`,
-- `method`, `url` (API key masked), `attempt`, `status` or `error`, `ms`
-- @field transport `"curl"`, `"nginx"` or nil (chosen per call: nginx cosockets where
-- they work, libcurl elsewhere)

--- Creates a client of a vendor table with the given options.
-- The constructors of @{userapi} call this with their vendor's table.
-- @tparam table vendor an operation table (`userapi.vendors.kandji`)
-- @tparam table opts the @{options} and the vendor's own
-- @treturn Client
-- @raise on missing credentials or options of the wrong type
-- @usage local c = require("userapi.client").new(require("userapi.vendors.kandji"), { subdomain = "acme", token = T })
function _M.new(vendor, opts)
  if type(opts) ~= "table" then error("userapi." .. vendor.name .. ": options table expected", 2) end
  local self = setmetatable({ vendor = vendor, opts = opts, secrets = {} }, class_of(vendor))
  self.base_url = check_base(vendor.name, opts.base_url or vendor.default_base(opts), opts.allow_insecure)
  for _, k in ipairs(vendor.credentials) do
    local v = opts[k]
    if v ~= nil then
      if type(v) ~= "string" then error("userapi." .. vendor.name .. ": " .. k .. " must be a string", 2) end
      self.secrets[#self.secrets + 1] = v
      -- as it travels in a query or a form body, should a vendor echo that back
      local escaped = escape(v)
      if escaped ~= v then self.secrets[#self.secrets + 1] = escaped end
    end
  end
  self.fixed_secrets = #self.secrets -- tokens renewed later come and go after these
  local sopts = {}
  for _, k in ipairs(SESSION_OPTS) do sopts[k] = opts[k] end
  local auth = vendor.auth(opts)
  for _, k in ipairs(auth and AUTH_FIELDS[auth.scheme] or {}) do
    if auth[k] == nil then
      error("userapi." .. vendor.name .. ": credentials missing (" .. concat(vendor.credentials, ", ") .. ")", 2)
    end
  end
  sopts.auth = auth
  local transport = require("userapi.transport").resolve(opts.transport)
  self.transport_module, self.session_opts = transport, sopts
  self.transport = transport.new(sopts)
  self.sleep, self.now = transport.sleep, transport.now
  self.retries = retry.policy(opts.retries)
  self.retried = 0
  self.limiter = require("userapi.limiter").new(self, opts.rate_limit == nil and vendor.rate_limit or opts.rate_limit)
  if opts.on_request ~= nil and type(opts.on_request) ~= "function" then
    error("userapi." .. vendor.name .. ": on_request must be a function", 2)
  end
  self.on_request = opts.on_request
  if vendor.discovery then oidc.setup(self, opts) end
  return self
end

return _M
