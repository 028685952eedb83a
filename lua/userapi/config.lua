--- Credentials and options of a vendor's client, as the `userapi` command
-- reads them: the environment (each vendor table's `cli.env` names) over a
-- config file of `[profile.vendor]` sections. Scripts use it to run with the
-- same credentials as the command.
--
-- The file is `USERAPI_CONFIG`, else `~/.config/userapi/config`; the profile
-- is `USERAPI_PROFILE`, else `default`. A section holds the vendor's own keys
-- (the options of `cli.env` and `cli.keys`) and the common ones (`KEYS`).
-- @module userapi.config
-- @usage
-- local config = require "userapi.config"
-- local kandji = userapi.kandji(config.options("kandji"))
local core = require "userapi.core"
local refusal = require "userapi.refusal"
local check = require "userapi.check"
local trim = require("userapi.util").trim

local type, pairs, ipairs, tonumber = type, pairs, ipairs, tonumber
local concat, format = table.concat, string.format

local _M = {}

-- the registered vendors (userapi.vendors), read when needed: userapi
-- registers its vendors through userapi.vendor, which checks their `cli`
-- part here
local function registered() return require("userapi").vendors end

--- Raises the error of a config file, or of a vendor the command does not
-- know: a @{userapi.refusal} of `kind = "config"` (`message`, and `path`
-- and `line` when a line of the file is at fault). The command exits 2 on it.
-- @tparam string msg a format when more arguments follow
-- @param ... the format's arguments
-- @raise always
function _M.refuse(msg, ...)
  if select("#", ...) > 0 then msg = format(msg, ...) end
  refusal.raise{ kind = "config", message = msg }
end
local usage = _M.refuse

--- True when e is an error of this module (`kind = "config"`).
-- @param e a caught error
-- @treturn boolean
function _M.is_error(e) return refusal.is(e, "config") end

-- a constructor option's kind (userapi.options) as a config value's type
local KIND_TYPES = { string = "string", line = "string", proxy = "string", boolean = "boolean", count = "number" }

--- The keys any section may hold, with their types: every constructor
-- option a line of text can give (`base_url`, `timeout_ms`, `verify_tls`,
-- `proxy`, `ca_file`, `user_agent`, `max_pages`, ...).
_M.KEYS = {}
for k, kind in pairs(require("userapi.options").COMMON) do
  if KIND_TYPES[kind] then _M.KEYS[k] = KIND_TYPES[kind] end
end

--- A function like `os.getenv` from an environment: nil (the process's), a
-- table of variables, or such a function.
-- @tparam[opt] table|function env
-- @treturn function
function _M.getenv_of(env)
  if env == nil then return os.getenv end
  if type(env) == "function" then return env end
  return function(k) return env[k] end
end


-- the command's part of a vendor table (every vendor has one: it may be empty)
local function cli_of(vendor)
  local v = type(vendor) == "table" and vendor or registered()[vendor]
  if not v then usage("unknown vendor '%s'", tostring(vendor)) end
  return v.cli or {}, v.name
end

-- option kinds (userapi.vendor) that may come from the environment
local ENV_KINDS = { secret = true, host = true, string = true }

--- The `{ option, ENV_NAME }` pairs of a vendor, in the order its help lists
-- them: its `cli.env`, else `USERAPI_<VENDOR>_<OPTION>` for each of its
-- secret, host and string options.
-- @tparam string|table vendor a vendor name or table
-- @treturn {{string,string},...}
function _M.env(vendor)
  local c, name = cli_of(vendor)
  if c.env then return c.env end
  local v = type(vendor) == "table" and vendor or registered()[vendor]
  local pairs_ = {}
  for k, kind in pairs(v and v.options or {}) do
    if ENV_KINDS[kind] then pairs_[#pairs_ + 1] = { k, ("USERAPI_%s_%s"):format(name:upper(), k:upper()) } end
  end
  table.sort(pairs_, function(a, b) return a[1] < b[1] end)
  return pairs_
end

--- The variable that points a vendor's clients elsewhere (a self-hosted
-- install, the simulator): `USERAPI_<VENDOR>_BASE_URL`, the vendor's
-- command alias or name upper-cased (`USERAPI_ODS_BASE_URL`).
-- @tparam string|table vendor
-- @treturn string
function _M.base_url_env(vendor)
  local c, name = cli_of(vendor)
  return ("USERAPI_%s_BASE_URL"):format((c.alias or name):upper())
end

--- Reads an INI-like config file: `[profile.vendor]` sections of
-- `key = value` lines, `#` and `;` comments, values optionally quoted.
-- @tparam string text the file's contents
-- @tparam[opt="config"] string name the file's name, for messages
-- @treturn table `sections["default.kandji"] = { token = ..., subdomain = ... }`
-- @raise a usage error on a malformed line
function _M.parse(text, name)
  name = name or "config"
  local sections, current, n = {}, nil, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    line = trim(line:gsub("\r$", ""))
    if line ~= "" and not line:find("^[#;]") then
      local section = line:match("^%[%s*([^%]]-)%s*%]$")
      if section then
        current = sections[section] or {}
        sections[section] = current
      else
        local k, v = line:match("^([%w_%-]+)%s*=%s*(.-)$")
        if not k then usage("%s:%d: expected [profile.vendor] or key = value", name, n) end
        if not current then usage("%s:%d: '%s' outside a [profile.vendor] section", name, n, k) end
        local q = v:match('^"(.*)"$') or v:match("^'(.*)'$")
        current[k:gsub("%-", "_")] = q or v
      end
    end
  end
  return sections
end

--- A vendor's name from what a user typed: its name or its command alias
-- (`ods`); nil when no registered vendor has it.
-- @tparam string typed
-- @treturn ?string
function _M.vendor_name(typed)
  if registered()[typed] then return typed end
  for name, v in pairs(registered()) do
    if v.cli and v.cli.alias == typed then return name end
  end
end

--- The names of the registered vendors, with their aliases: `"opendatasoft (ods), arthur, ..."`.
-- @treturn string
function _M.vendor_list()
  local names = {}
  for name, v in pairs(registered()) do
    names[#names + 1] = (v.cli and v.cli.alias) and (name .. " (" .. v.cli.alias .. ")") or name
  end
  table.sort(names)
  return table.concat(names, ", ")
end

--- The config file's path, and whether `USERAPI_CONFIG` named it.
-- @tparam[opt] table|function env
-- @treturn ?string
-- @treturn boolean
function _M.path(env)
  local getenv = _M.getenv_of(env)
  local p = getenv("USERAPI_CONFIG")
  if p and p ~= "" then return p, true end
  local home = getenv("HOME")
  if home and home ~= "" then return home .. "/.config/userapi/config", false end
  return nil, false
end

--- The option of a vendor of one kind (`host`, `secret`), named by its
-- `cli` field or, when only one option has that kind, by its `options`.
-- @tparam string|table vendor
-- @tparam string kind `host` or `secret`
-- @treturn ?string the option's name
function _M.option_of_kind(vendor, kind)
  local c = cli_of(vendor)
  if c[kind] then return c[kind] end
  local v = type(vendor) == "table" and vendor or registered()[vendor]
  local found
  for k, x in pairs(v and v.options or {}) do
    if x == kind then
      if found then return nil end
      found = k
    end
  end
  return found
end

--- The keys a vendor's section may hold, with their types.
-- @tparam string|table vendor
-- @treturn table key -> "string" | "number" | "boolean"
function _M.keys(vendor)
  local c = cli_of(vendor)
  local allowed = {}
  -- the vendor's own options (userapi.vendor), but functions
  local v = type(vendor) == "table" and vendor or registered()[vendor]
  for k, kind in pairs(v and v.options or {}) do
    if kind ~= "function" then allowed[k] = kind == "boolean" and "boolean" or "string" end
  end
  for _, pair in ipairs(_M.env(vendor)) do allowed[pair[1]] = "string" end
  for k, t in pairs(_M.KEYS) do allowed[k] = t end
  for k, t in pairs(c.keys or {}) do allowed[k] = t end
  return allowed
end

-- The permission bits and the owner of a file (following links, as open does).
local function mode_and_owner(path)
  local st = core.stat(path)
  if st then return st.mode, st.uid end
end

--- Refuses a config file that others may read or change, as ssh does for
-- keys: it holds secrets, and its base_url decides where they are sent.
-- @tparam string path
-- @tparam[opt] table st `{ mode, uid }` of the file as opened (`core.open_private`),
-- else the path is looked up
-- @raise a usage error naming the fix (`chmod 600 PATH`)
function _M.check_private(path, st)
  local mode, uid
  if st then mode, uid = st.mode, st.uid else mode, uid = mode_and_owner(path) end
  if not mode then usage("%s: cannot read its permissions", path) end
  if mode % 64 ~= 0 then
    usage("%s holds secrets but its group or others may read or change it (mode %03o): run chmod 600 %s",
      path, mode, path)
  end
  local me = core.geteuid()
  if me and uid ~= me then
    usage("%s holds secrets but belongs to uid %d, not to you (uid %d): run chown %d %s; chmod 600 %s",
      path, uid, me, me, path, path)
  end
end

-- the typed options of one [profile.vendor] section
local function section_options(vendor, section, where)
  local allowed, name = _M.keys(vendor), select(2, cli_of(vendor))
  local opts = {}
  for k, v in pairs(section) do
    local t = allowed[k]
    if not t then usage("%s: unknown key '%s' for %s", where, k, name) end
    if t == "number" then
      v = tonumber(v)
      if not v then usage("%s: %s must be a number", where, k) end
    elseif t == "boolean" then
      if v ~= "true" and v ~= "false" then usage("%s: %s must be true or false", where, k) end
      v = v == "true"
    end
    opts[k] = v
  end
  return opts
end

--- The constructor options of a vendor from the config file and the
-- environment (the environment wins over the file): the vendor's
-- credential variables and `USERAPI_<VENDOR>_BASE_URL`.
-- @tparam string|table vendor a vendor name (`kandji`) or table
-- @tparam[opt] table|function env variables (a table, or a function like `os.getenv`, the default)
-- @tparam[opt] string profile the config section's profile (`USERAPI_PROFILE`, else `default`)
-- @treturn table options for the vendor's constructor
-- @treturn string where they came from, for messages
-- @raise a usage error (a table with `message`) on a malformed config file, or
-- one that others may read or change (see `check_private`). A missing file is
-- no error here: `hint` names it when credentials turn out to be missing.
function _M.options(vendor, env, profile)
  local getenv = _M.getenv_of(env)
  local _, name = cli_of(vendor)
  profile = profile or getenv("USERAPI_PROFILE") or "default"
  local opts, sources = {}, {}
  local path = _M.path(getenv)
  if path then
    -- checked and read through one descriptor: a link swapped after the
    -- check cannot hand over another file; a FIFO cannot block the open
    local f, st, why = core.open_private(path, "r", true)
    if why == "type" then usage("%s is not a regular file", path) end
    if f then
      local text, err = f:read()
      f:close()
      _M.check_private(path, st)
      if not text then usage("%s: cannot read: %s", path, tostring(err)) end
      local section = _M.parse(text, path)[profile .. "." .. name]
      if section then
        opts = section_options(vendor, section, path .. " [" .. profile .. "." .. name .. "]")
        sources[#sources + 1] = path
      end
    end
    -- a missing USERAPI_CONFIG matters only when credentials are missing: see hint
  end
  local vars = { { "base_url", _M.base_url_env(vendor) } }
  for i, pair in ipairs(_M.env(vendor)) do vars[i + 1] = pair end
  for _, pair in ipairs(vars) do
    local v = getenv(pair[2])
    if v and v ~= "" then
      opts[pair[1]] = v
      sources[#sources + 1] = pair[2]
    end
  end
  return opts, concat(sources, ", ")
end

--- How to give a vendor its credentials, for a message.
-- @tparam string|table vendor
-- @tparam[opt] table|function env
-- @tparam[opt="default"] string profile
-- @treturn string `set USERAPI_..., or put ... in a [profile.vendor] section of PATH`
function _M.hint(vendor, env, profile)
  local _, name = cli_of(vendor)
  local names, keys = {}, {}
  for _, pair in ipairs(_M.env(vendor)) do names[#names + 1], keys[#keys + 1] = pair[2], pair[1] end
  local path, explicit = _M.path(env)
  local unreadable = ""
  if explicit then
    local f, err = io.open(path, "rb")
    if f then f:close() else unreadable = " (USERAPI_CONFIG: cannot read " .. tostring(err) .. ")" end
  end
  return format("set %s, or put %s in a [%s.%s] section of %s%s", concat(names, ", "), concat(keys, ", "),
    profile or "default", name, path or "~/.config/userapi/config", unreadable)
end

-- ---- the vendor's part -----------------------------------------------------------

-- the `cli` part: what this module reads (env, keys, secret, host, alias) and
-- what the command's help and requests read (alternatives, examples, page_size)
local PART = { env = "table", keys = "table", secret = "string", host = "string", alias = "string",
               alternatives = "table", examples = "table", page_size = "string",
               secret_fields = "table", secret_ops = "table" }
local KEY_TYPES = { "boolean", "number", "string" }

local function option_name(vname, where, vendor, k)
  if type(k) ~= "string" or not (vendor.options or {})[k] then
    check.part_error(vname, where, "no option '" .. tostring(k) .. "'" .. check.did_you_mean(k, vendor.options or {}))
  end
end

--- Checks a vendor table's `cli` part whole, when the vendor is registered
-- (@{userapi.vendor.compile}): the environment variables and config keys
-- it names, the options they fill, its alias, examples and page size.
-- @tparam table c the vendor's `cli`
-- @tparam string vname the vendor's name
-- @tparam table vendor the compiled vendor (its `options`)
-- @raise `userapi: vendor 'x': cli: unknown field 'exmaples' (did you mean 'examples'?)`
function _M.check_part(c, vname, vendor)
  check.fields(vname, "cli: ", c, PART)
  for i, pair in ipairs(c.env or {}) do
    local where = "cli.env[" .. i .. "]: "
    if type(pair) ~= "table" or type(pair[2]) ~= "string" or not pair[2]:find("^[%u_][%u%d_]*$") then
      check.part_error(vname, where, "{ option, ENV_NAME } expected (the variable in upper case)")
    end
    option_name(vname, where, vendor, pair[1])
  end
  for k, t in pairs(c.keys or {}) do check.one_of(vname, "cli.keys." .. tostring(k) .. ": ", t, KEY_TYPES) end
  if c.secret then option_name(vname, "cli.secret: ", vendor, c.secret) end
  if c.host then option_name(vname, "cli.host: ", vendor, c.host) end
  if c.alias and not c.alias:find("^[%l][%l%d_-]*$") then
    check.part_error(vname, "cli.alias: ", "lower-case letters, digits, _ and - expected")
  end
  for i, group in ipairs(c.alternatives or {}) do
    if type(group) ~= "table" then check.part_error(vname, "cli.alternatives[" .. i .. "]: ", "list expected") end
    for _, k in ipairs(group) do option_name(vname, "cli.alternatives[" .. i .. "]: ", vendor, k) end
  end
  for _, list in ipairs({ "examples", "secret_fields", "secret_ops" }) do
    for i, e in ipairs(c[list] or {}) do
      if type(e) ~= "string" then check.part_error(vname, "cli." .. list .. "[" .. i .. "]: ", "string expected") end
    end
  end
  -- the operations whose answer is the secret asked for (never masked)
  for i, op in ipairs(c.secret_ops or {}) do
    if not vendor.ops[op] then
      check.part_error(vname, "cli.secret_ops[" .. i .. "]: ", "no operation '" .. op .. "'"
        .. check.did_you_mean(op, vendor.ops))
    end
  end
end

return _M
