--- Where the bridge keeps what a vendor cannot hold (externalId, userName
-- when the vendor has none, addresses, phone numbers, ...): a
-- `lua_shared_dict` (lost when nginx restarts, per machine), Redis (kept,
-- shared by every nginx), or a Lua table (tests, plain Lua). Values are
-- strings; keys are made by the caller from the tenant and the SCIM id.
-- @module userapi.scim.store
local type, error, tostring = type, error, tostring

local _M = {}

local function memory()
  local t = {}
  return {
    kind = "memory",
    get = function(_, k) return t[k] end,
    set = function(_, k, v) t[k] = v return true end,
    delete = function(_, k) t[k] = nil return true end,
  }
end

local function shdict(name)
  local dict = ngx and ngx.shared and ngx.shared[name]
  if not dict then
    error("userapi.scim: no lua_shared_dict '" .. tostring(name) .. "' (declare it in nginx.conf)", 0)
  end
  return {
    kind = "shared_dict",
    get = function(_, k) return dict:get(k) end,
    set = function(_, k, v)
      -- safe_set: a full dict refuses instead of evicting another person's data
      local ok, err = dict:safe_set(k, v)
      if not ok then return nil, "shared dict " .. name .. ": " .. tostring(err) end
      return true
    end,
    delete = function(_, k) dict:delete(k) return true end,
  }
end

-- one connection per call, back to the cosocket pool after it
local function redis(opts)
  local function with(f)
    local found, resty = pcall(require, "resty.redis")
    if not found then resty = require "nginx.redis" end -- Debian's name for it
    local r = resty:new()
    r:set_timeout(opts.timeout_ms or 2000)
    local ok, err = r:connect(opts.host or "127.0.0.1", opts.port or 6379)
    if not ok then return nil, "redis: " .. tostring(err) end
    if opts.password and (r:get_reused_times() or 0) == 0 then
      ok = r:auth(opts.password)
      if not ok then return nil, "redis: auth refused" end
    end
    if opts.db then r:select(opts.db) end
    local res, ferr = f(r)
    r:set_keepalive(60000, 32)
    return res, ferr
  end
  local prefix = opts.prefix or ""
  return {
    kind = "redis",
    get = function(_, k)
      return with(function(r)
        local v, err = r:get(prefix .. k)
        if v == ngx.null then return nil end
        return v, err
      end)
    end,
    set = function(_, k, v) return with(function(r) return r:set(prefix .. k, v) end) end,
    delete = function(_, k) return with(function(r) return r:del(prefix .. k) end) end,
  }
end

-- redis://[:password@]host[:port][/db], the form the client's `store` option takes
local function redis_url(url)
  local pass, host, port, db = url:match("^redis://:?([^@]*)@([^:/]+):?(%d*)/?(%d*)$")
  if not host then pass, host, port, db = "", url:match("^redis://([^:/@]+):?(%d*)/?(%d*)$") end
  if not host then error("userapi.scim: store: redis://[:password@]host[:port][/db] expected", 0) end
  pass = pass:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  return { host = host, port = tonumber(port), db = tonumber(db), password = pass ~= "" and pass or nil }
end

--- A store from an application's `store` option: `{ shared_dict = NAME }`,
-- `{ redis = { host, port, password, db, prefix } }` or a `redis://` URL,
-- `"memory"`, or an object with `get`, `set`, `delete` methods.
-- @param opt the option (nil: the shared dict `scim` under nginx, else memory)
-- @treturn table the store
function _M.new(opt)
  if opt == nil then
    if ngx and ngx.shared and ngx.shared.scim then return shdict("scim") end
    return memory()
  end
  if opt == "memory" then return memory() end
  if type(opt) == "string" then return redis(redis_url(opt)) end
  if type(opt) ~= "table" then error("userapi.scim: store must be a table", 0) end
  if opt.get and opt.set and opt.delete then return opt end
  if opt.shared_dict then return shdict(opt.shared_dict) end
  if opt.redis then return redis(opt.redis) end
  error("userapi.scim: store needs shared_dict, redis, or get/set/delete", 0)
end

return _M
