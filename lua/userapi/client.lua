--- The one generic caller: turns a vendor's operation table into methods,
-- checks arguments, builds the request, sends it and maps the response.
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

local function is_integer(v)
  return type(v) == "number" and floor(v) == v and v - v == 0 -- not inf
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
      if spec.style == "csv" then v = concat(v, ",") end
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

--- Checks the arguments of one operation call and returns the request table
-- for the transport, plus the local options (never sent).
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

--- Calls one operation: check, build, exchange.
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
function Client:pages(opname, params) return paging.pages(self, opname, params) end

--- Every user of the list operation, lazily; raises a failed page's error.
function Client:each_user(params) return paging.each_user(self, params) end

--- Rows of a CSV export as they arrive (Opendatasoft `users_export`),
-- keyed by the header; raises the structured error on failure.
function Client:each_export_row(params)
  local opname = self.vendor.export
  if not opname then error("userapi." .. self.vendor.name .. " has no CSV export", 2) end
  return stream.csv_rows(self, opname, params)
end

--- Runs an operation for many items at once; see userapi.bulk.
function Client:bulk(opname, items, opts) return bulk.run(self, opname, items, opts) end

--- Sends a built request, renewing the token and retrying as the policy
-- allows, and maps the final answer to `result` or `nil, err`.
function Client:exchange(opname, req, opts)
  local attempt, renewed = 0, false
  while true do
    if self.token_provider then
      local ok, err = oidc.refresh(self, false)
      if not ok then return nil, err end
    end
    self.limiter.wait()
    local started = self.on_request and self.now()
    local status, body, headers = self.transport:request(req)
    if status and status >= 300 then headers = parse_headers(headers) end
    headers = self:observe(opname, req, status, body, headers, started, attempt)
    if status == 401 and self.token_provider and not renewed then
      renewed = true
      local ok, err = oidc.refresh(self, true)
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
    if seen then self.rate_limit = seen end
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
_M.class_of = class_of

local LOOPBACK = { ["127.0.0.1"] = true, ["localhost"] = true, ["[::1]"] = true }

local function check_base(name, url, allow_insecure)
  if type(url) ~= "string" then error("userapi." .. name .. ": base_url (or the vendor's host options) required", 3) end
  local scheme, host = url:match("^(https?)://([^/:]+)")
  if not scheme then
    scheme, host = url:match("^(http)://(%[[^%]]+%])")
  end
  if not scheme then error("userapi." .. name .. ": base_url must be an http(s) URL, got '" .. url .. "'", 3) end
  if scheme == "http" and not LOOPBACK[host] and not host:match("^127%.") and not allow_insecure then
    error("userapi." .. name .. ": refusing plain http to " .. host .. " (set allow_insecure = true)", 3)
  end
  return (url:gsub("/+$", ""))
end

local AUTH_FIELDS = { apikey = { "key" }, bearer = { "token" }, basic = { "user", "password" } }

local SESSION_OPTS = { "timeout_ms", "connect_timeout_ms", "verify_tls", "ca_file", "proxy",
                       "user_agent", "max_body_bytes" }

--- Creates a client of a vendor table with the given options.
function _M.new(vendor, opts)
  if type(opts) ~= "table" then error("userapi." .. vendor.name .. ": options table expected", 2) end
  local self = setmetatable({ vendor = vendor, opts = opts, secrets = {} }, class_of(vendor))
  self.base_url = check_base(vendor.name, opts.base_url or vendor.default_base(opts), opts.allow_insecure)
  for _, k in ipairs(vendor.credentials) do
    local v = opts[k]
    if v ~= nil then
      if type(v) ~= "string" then error("userapi." .. vendor.name .. ": " .. k .. " must be a string", 2) end
      self.secrets[#self.secrets + 1] = v
    end
  end
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
  self.transport = transport.new(sopts)
  self.sleep, self.now = transport.sleep, transport.now
  self.retries = retry.policy(opts.retries)
  self.retried = 0
  self.limiter = retry.limiter(opts.rate_limit == nil and vendor.rate_limit or opts.rate_limit, self.now, self.sleep)
  if opts.on_request ~= nil and type(opts.on_request) ~= "function" then
    error("userapi." .. vendor.name .. ": on_request must be a function", 2)
  end
  self.on_request = opts.on_request
  if vendor.discovery then oidc.setup(self, opts) end
  return self
end

return _M
