--- A SCIM 2.0 server (RFC 7643, RFC 7644) in front of userapi clients: each
-- application is a configured client plus the bearer token its identity
-- provider presents, served at `/scim/v2/<app>/` from an OpenResty content
-- handler, on cosockets, with the client's shared budget.
--
--     init_by_lua_block {
--       require("userapi.scim").configure{ apps = {
--         ods = { vendor = "opendatasoft", client = { domain = "data.example.org", apikey_env = ... },
--                 token_env = "SCIM_ODS_TOKEN" } } }
--     }
--     location /scim/v2/ { content_by_lua_block { require("userapi.scim").serve() } }
--
-- @module userapi.scim
local schema = require "userapi.scim.schema"
local users = require "userapi.scim.users"
local discovery = require "userapi.scim.discovery"
local scim_store = require "userapi.scim.store"
local json = require "userapi.json"
local errors = require "userapi.errors"

local type, pairs, ipairs, tostring, tonumber, error = type, pairs, ipairs, tostring, tonumber, error
local byte, lower, concat = string.byte, string.lower, table.concat

local _M = {}

local config = { apps = {}, prefix = "/scim/v2/" }

-- what is compared: a token's SHA-1 under nginx (same length whatever the token)
local function digest(s) return ngx and ngx.sha1_bin(s) or s end

-- the log of an app: false, a function, or nil (nginx's error log)
local function sink_of(app)
  local sink = app and app.log
  if sink == nil then sink = config.log end
  return sink
end

-- ---- configuration ---------------------------------------------------------------

-- no file position: the message names the option (and read_private's would point inside this file)
local function bad(msg) error("bad argument #1 to 'userapi.scim.configure' (" .. msg .. ")", 0) end

-- a token file others may read is refused, as the command refuses a config file
-- (checked on the descriptor opened, as the command's config file: no swap
-- between check and read, and a FIFO or a device is refused, never waited on;
-- a link is followed: mounted secrets are links)
local function read_private(path)
  local core = require "userapi.core"
  local f, st = core.open_private(path, "r", true)
  if not f then bad("token_file " .. tostring(st)) end
  if st.mode % 64 ~= 0 then
    f:close()
    bad("token_file " .. path .. ": group or others may read it (chmod 600)")
  end
  local text = f:read("*l")
  f:close()
  return text and text:match("^%s*(.-)%s*$")
end

-- every token the application accepts: each variable of token_env and each
-- file of token_file (a string or a list: two while one is rotated out)
local function tokens_of(name, a)
  local out = {}
  local function each(v) return type(v) == "table" and v or { v } end
  for _, var in ipairs(a.token_env and each(a.token_env) or {}) do
    local t = os.getenv(var)
    if t and t ~= "" then out[#out + 1] = t end
  end
  for _, path in ipairs(a.token_file and each(a.token_file) or {}) do out[#out + 1] = read_private(path) end
  for _, t in ipairs(out) do
    if type(t) ~= "string" or #t < 8 then bad("apps." .. name .. ": a token has fewer than 8 bytes") end
  end
  if #out == 0 then bad("apps." .. name .. ": no token (token_env names no set variable, token_file none)") end
  return out
end

local DEACTIVATE = { disable = true, delete = true, refuse = true }

--- Sets the applications. Call it once, from `init_by_lua` (tokens are
-- read then: declare their variables with nginx's `env` directive).
-- @tparam table c `apps` (name -> { vendor, client = constructor options,
-- token_env or token_file, on_deactivate = "disable"|"delete"|"refuse",
-- defaults = create-only fields (Sigfox group_id, profile_ids), store,
-- tenant, patch_response = "no_content"|"resource", max_results }),
-- `prefix` ("/scim/v2/"), `log` (false or function(line, fields))
function _M.configure(c)
  if type(c) ~= "table" or type(c.apps) ~= "table" then bad("table with apps expected") end
  local userapi = require "userapi"
  local apps = {}
  for name, a in pairs(c.apps) do
    if type(name) ~= "string" or not name:match("^[%w_%-]+$") then bad("app names are letters, digits, - and _") end
    local vendor = userapi.vendors[a.vendor]
    if not vendor then bad("apps." .. name .. ": unknown vendor '" .. tostring(a.vendor) .. "'") end
    if not (vendor.people and vendor.people.scim) then
      bad("apps." .. name .. ": vendor " .. a.vendor .. " has no SCIM mapping (people.scim)")
    end
    if a.on_deactivate ~= nil and not DEACTIVATE[a.on_deactivate] then
      bad("apps." .. name .. ": on_deactivate is disable, delete or refuse")
    end
    local digests = {}
    for i, t in ipairs(tokens_of(name, a)) do digests[i] = digest(t) end
    apps[name] = { name = name, vendor = a.vendor, client_opts = a.client or {}, digests = digests,
                   on_deactivate = a.on_deactivate, defaults = a.defaults, store_opt = a.store,
                   tenant_opt = a.tenant, patch_response = a.patch_response, log = a.log,
                   public_url = a.public_url,
                   max_results = a.max_results or c.max_results or 200 }
  end
  config = { apps = apps, prefix = c.prefix or "/scim/v2/", log = c.log }
end

-- The tenant an application's store keys are under: the client's tenant
-- (vendor, base URL) and the non-secret part of its credentials, or the app's
-- `tenant`. Not client:tenant().key, whose fingerprint covers the secret: the
-- attributes kept here must outlive a rotation of the API key, the budget need not.
local function tenant_of(app, client)
  if app.tenant_opt then return app.tenant_opt end
  local t, o = client:tenant(), app.client_opts
  return concat({ t.vendor, t.base_url, tostring(o.client_id or o.login or "") }, " ")
end

-- the request being served, for the client's on_request (ngx.ctx under nginx)
local current = {}
local function request_ctx() return ngx and ngx.ctx or current end

local function ready(app)
  if app.client then return app end
  local opts = {}
  for k, v in pairs(app.client_opts) do opts[k] = v end
  -- the vendor's status for the log line; no log, no hook (each event costs a redacted URL)
  local own = opts.on_request
  if sink_of(app) ~= false then
    -- the line names the request's write (a create read back after it is still the create), else its last read
    opts.on_request = function(ev)
      local ctx = request_ctx()
      if ev.method == "GET" and ctx.vendor_wrote then return own and own(ev) end
      ctx.vendor_status = ev.status or ev.error and "error"
      ctx.vendor_op = ev.operation
      ctx.vendor_wrote = ev.method ~= "GET"
      if own then own(ev) end
    end
  end
  app.client = require("userapi")[app.vendor](opts)
  app.people = app.client.vendor.people
  app.mapping = app.people.scim
  -- the bridge's store: its own option, else the client's Redis (the budget's), else the dict `scim`
  local client_store = app.client_opts.store
  local redis = type(client_store) == "string" and client_store or type(client_store) == "table" and client_store
  app.store = scim_store.new(app.store_opt or redis or nil)
  app.tenant = tenant_of(app, app.client)
  return app
end

-- ---- answers ---------------------------------------------------------------------

local function error_body(status, kind, detail)
  return { schemas = { schema.ERROR }, status = tostring(status), scimType = kind, detail = detail }
end

-- a vendor's error as what the provider acts on: 404 stays, a conflict is
-- uniqueness, a refusal is an invalid value, throttling and outages are 503
-- with Retry-After
local function from_vendor(app, err)
  local msg = errors.redact(tostring(err.message or ""), app.client and app.client.secrets)
  if err.kind == "unsupported" then return 501, error_body(501, nil, msg) end
  if err.status == 404 or err.kind == "not_found" then return 404, error_body(404, nil, msg) end
  if err.status == 429 or err.status == 503 or (err.status == nil and err.retryable ~= false) or err.status == 502
    or err.status == 504 then
    local after = err.headers and tonumber(err.headers["retry-after"]) or 30
    return 503, error_body(503, nil, app.vendor .. " is unavailable or throttling: " .. msg),
           { ["Retry-After"] = tostring(math.max(1, math.floor(after))) }
  end
  if err.status == 401 or err.status == 403 then
    return 500, error_body(500, nil, app.vendor .. " refused this application's credentials")
  end
  if err.status == 409 then return 409, error_body(409, "uniqueness", app.vendor .. " refused: " .. msg) end
  if err.status and err.status >= 400 and err.status < 500 then
    return 400, error_body(400, "invalidValue", app.vendor .. " refused: " .. msg)
  end
  return 500, error_body(500, nil, app.vendor .. " failed: " .. msg)
end

-- ---- dispatch --------------------------------------------------------------------

-- constant time over the digests: no early exit, same length
local function same_token(given, b)
  local a = given
  if #a ~= #b then a = b .. "x" end
  local diff = #a == #b and 0 or 1
  for i = 1, #b do if byte(a, i) ~= byte(b, i) then diff = diff + 1 end end
  return diff == 0
end

-- a value of the request that a vendor operation's argument check refuses
-- before sending (a 100 KB givenName, a 5000-byte id): the provider's data,
-- not a fault of the bridge; nil for any other error
local function refused_value(app, e)
  local opname, why = tostring(e):match("^bad argument #%d+ to '([%w_]+)' %((.-)%)\n")
  if opname and app.client and app.client.vendor.ops[opname] then return errors.redact(why, app.client.secrets) end
end

local function decode_body(body)
  if body == nil or body == "" then return nil end
  local v = json.decode(body)
  if type(v) ~= "table" then
    error({ status = 400, scim = "invalidSyntax", detail = "the body is not a JSON object" }, 0)
  end
  return v
end

-- the operation on /Users by whether an id is given, and the method
-- (string keys: Lua 5.4.4 miscompiles a table indexed by `x ~= nil`)
local USER_OPS = { collection = { GET = "list", POST = "create" },
                   one = { GET = "get", PUT = "replace", PATCH = "patch", DELETE = "delete" } }

local function route(app, req)
  local rest = req.rest
  local first, id = rest:match("^([^/]+)/?(.*)$")
  first = lower(first or "")
  if id == "" then id = nil end
  local m = req.method
  if first == "serviceproviderconfig" and m == "GET" then
    return "config", 200, discovery.service_provider_config(app)
  elseif first == "resourcetypes" and m == "GET" then
    local v = discovery.resource_types(app, id)
    if v then return "resource_types", 200, v end
  elseif first == "schemas" and m == "GET" then
    local v = discovery.schemas(app, id)
    if v then return "schemas", 200, v end
  elseif first == "users" then
    local op = USER_OPS[id and "one" or "collection"][m]
    if not op then return "users", 405, error_body(405, nil, m .. " is not allowed here") end
    req.op = op -- for the log line, should the operation fail
    if op == "list" then return op, users.list(app, req.args) end
    if op == "get" then return op, users.get(app, id, req.args) end
    if op == "delete" then return op, users.delete(app, id) end
    local body = decode_body(req.body)
    if op == "create" then return op, users.create(app, body, req.args) end
    return op, users[op](app, id, body, req.args)
  elseif first == "groups" then
    -- the vendors have no group the API manages: none to list, none to change
    if not id and m == "GET" then
      return "groups", 200, { schemas = { schema.LIST }, totalResults = 0, startIndex = 1, itemsPerPage = 0,
                              Resources = json.empty_array }
    end
    if id and m ~= "POST" then return "groups", 404, error_body(404, nil, "no Group " .. id) end
    return "groups", 501, error_body(501, nil, "Groups are not supported for " .. app.vendor)
  elseif first == "bulk" or first == "me" or first == ".search" then
    return first, 501, error_body(501, nil, "/" .. first .. " is not supported")
  end
  return "unknown", 404, error_body(404, nil, "no endpoint /" .. rest)
end

local function log_line(app, req, op, status, ms)
  local sink = sink_of(app)
  if sink == false then return end
  local ctx = request_ctx()
  local fields = { app = app and app.name or "-", method = req.method, op = op, status = status,
                   vendor_status = ctx.vendor_status, vendor_op = ctx.vendor_op, ms = ms }
  local line = ("scim app=%s method=%s op=%s status=%s vendor_op=%s vendor_status=%s ms=%d"):format(
    fields.app, fields.method, op, tostring(status), tostring(fields.vendor_op or "-"),
    tostring(fields.vendor_status or "-"), ms)
  if type(sink) == "function" then return sink(line, fields) end
  if ngx and ngx.log then ngx.log(ngx.NOTICE, line) end
end

--- Answers one request (no nginx needed: tests and other servers call this).
-- @tparam table req `method`, `path`, `args` (decoded query), `headers`
-- (names lower-cased), `body`
-- @treturn int status
-- @treturn ?string the body (application/scim+json)
-- @treturn table headers
function _M.handle(req)
  -- wall time: nginx's cached clock, else the core's (ms)
  local now = ngx and ngx.now or function() return require("userapi.core").now() / 1000 end
  local t0 = now()
  local name, rest = req.path:sub(#config.prefix + 1):match("^([^/]+)/?(.*)$")
  local app = name and config.apps[name]
  local op, status, body, headers = "unknown"
  if req.path:sub(1, #config.prefix) ~= config.prefix or not app then
    status, body = 404, error_body(404, nil, "no SCIM application here")
  else
    local auth = req.headers.authorization
    -- the scheme in any case (RFC 7235 §2.1: "BEARER" is "Bearer")
    local given = type(auth) == "string" and auth:match("^[Bb][Ee][Aa][Rr][Ee][Rr]%s+(%S+)%s*$")
    local accepted = false
    if given then
      given = digest(given)
      -- every token's digest compared, no early exit
      for _, t in ipairs(app.digests) do
        if same_token(given, t) then accepted = true end
      end
    end
    if not accepted then
      op, status, body = "auth", 401, error_body(401, nil, "a valid bearer token is required")
      headers = { ["WWW-Authenticate"] = 'Bearer realm="scim"' }
    else
      if sink_of(app) ~= false then
        local ctx = request_ctx()
        ctx.vendor_status, ctx.vendor_op, ctx.vendor_wrote = nil, nil, nil
      end
      req.rest = rest or ""
      -- meta.location and Location: the public URL if configured, else as the request reached us;
      -- this request's own (the app is shared by the requests a worker interleaves at each vendor call)
      local view = setmetatable({ base = app.public_url or ((req.scheme or "http") .. "://"
        .. tostring(req.headers.host or "localhost") .. config.prefix .. name) }, { __index = ready(app) })
      local ok, o, s, b, h = xpcall(route, debug.traceback, view, req)
      if ok then
        op, status, body, headers = o, s, b, h
      elseif type(o) == "table" and o.vendor then
        op = req.op or op
        status, body, headers = from_vendor(app, o.vendor)
      elseif type(o) == "table" and (o.scim or o.status) then
        op = req.op or op
        status = o.status or 400
        body = error_body(status, o.scim, o.detail)
      elseif refused_value(app, o) then
        op, status = req.op or op, 400
        body = error_body(400, "invalidValue", app.vendor .. " cannot take it: " .. refused_value(app, o))
      else
        if ngx then ngx.log(ngx.ERR, "scim: ", tostring(o)) else io.stderr:write("scim: ", tostring(o), "\n") end
        status, body = 500, error_body(500, nil, "internal error")
      end
    end
  end
  headers = headers or {}
  headers["Content-Type"] = "application/scim+json"
  log_line(app, req, op, status, math.floor((now() - t0) * 1000 + 0.5))
  if body == nil then return status, nil, headers end
  return status, json.encode(body), headers
end

--- The content handler: `content_by_lua_block { require("userapi.scim").serve() }`.
function _M.serve()
  local method = ngx.req.get_method()
  local body
  if method ~= "GET" and method ~= "DELETE" then
    ngx.req.read_body()
    body = ngx.req.get_body_data()
    if not body then
      local file = ngx.req.get_body_file()
      if file then
        local f = io.open(file)
        if f then body = f:read("*a"); f:close() end
      end
    end
  end
  local args = ngx.req.get_uri_args(100)
  for k, v in pairs(args) do if type(v) == "table" then args[k] = v[1] end end
  -- the two headers the bridge reads (cheaper than the whole header table)
  local headers = { authorization = ngx.var.http_authorization, host = ngx.var.http_host }
  local status, out
  status, out, headers = _M.handle{ method = method, path = ngx.var.uri, args = args, scheme = ngx.var.scheme,
                                    headers = headers, body = body }
  ngx.status = status -- luacheck: ignore 122
  for k, v in pairs(headers) do ngx.header[k] = v end -- luacheck: ignore 122
  if out then ngx.print(out) end
  return ngx.exit(ngx.OK)
end

return _M
