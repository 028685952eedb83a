--- The logic of the Ansible modules `ansible/library/userapi_user` and
-- `ansible/library/userapi_info` (non-Python modules: Ansible's `WANT_JSON`
-- interface). Ansible copies a module file alone to the host it runs on, so
-- the module files are a few lines that call this, and the installed library
-- carries the rest.
--
-- A module reads its arguments from the JSON file Ansible names, prints one
-- JSON object (`changed`, the result, `diff` when asked, or `failed` and
-- `msg` with the vendor's message) and exits 0, or 1 when failed.
-- Credentials come from the `credentials` argument (documented `no_log`) or,
-- as for the `userapi` command, from `USERAPI_*` variables and the config file.
-- @module userapi.ansible
local json = require "userapi.json"

local type, pairs, tostring, pcall = type, pairs, tostring, pcall

local _M = {}


-- The argument specs, as the modules' documentation (ansible/library/*.yml)
-- states them; spec/ansible_spec.lua holds the two equal through ansible-doc.
local VENDORS = { "opendatasoft", "ods", "arthur", "kandji", "sigfox" }
local COMMON = {
  vendor = { type = "str", required = true, choices = VENDORS },
  email = { type = "str" }, id = { type = "str" }, username = { type = "str" },
  credentials = { type = "dict", no_log = true }, base_url = { type = "str" }, timeout_ms = { type = "int" },
}

local function with_common(own)
  for k, o in pairs(COMMON) do own[k] = own[k] or o end
  return own
end

--- Each module's argument spec (`AnsibleModule`'s `argument_spec` and
-- `mutually_exclusive`), by module name.
_M.ARGUMENT_SPECS = {
  userapi_user = {
    options = with_common{
      state = { type = "str", default = "present", choices = { "present", "absent" } },
      all = { type = "bool", default = false },
      first_name = { type = "str" }, last_name = { type = "str" }, picture = { type = "str" },
      permissions = { type = "list", elements = "str" },
      password = { type = "str", no_log = true },
      group_ids = { type = "list", elements = "str" }, role_binding = { type = "dict" },
      name = { type = "str" }, timezone = { type = "str" }, group_id = { type = "str" },
      profile_ids = { type = "list", elements = "str" },
    },
    mutually_exclusive = { { "id", "username" } },
  },
  userapi_info = {
    options = with_common{},
    mutually_exclusive = { { "email", "id", "username" } },
  },
}

local function fail(msg, extra)
  local out = { failed = true, msg = msg }
  for k, v in pairs(extra or {}) do out[k] = v end
  return out
end

local function read_args(path)
  local f = path and io.open(path, "rb")
  if not f then return nil, "no argument file (run as an Ansible module)" end
  local text = f:read("a")
  f:close()
  local args = json.decode(text)
  if type(args) ~= "table" then return nil, "the argument file is not a JSON object" end
  for k, v in pairs(args) do if v == json.null then args[k] = nil end end
  return args
end

-- The client: credentials from the task, else from USERAPI_* and the config file.
local function client_of(args)
  local config = require "userapi.config"
  local vendor = type(args.vendor) == "string" and config.vendor_name(args.vendor)
  if not vendor then
    return nil, "vendor: one of " .. config.vendor_list() .. " expected, got " .. tostring(args.vendor)
  end
  local ok, opts = pcall(config.options, vendor)
  if not ok then return nil, type(opts) == "table" and tostring(opts.message) or tostring(opts) end
  for k, v in pairs(args.credentials or {}) do opts[k] = v end
  opts.base_url = args.base_url or opts.base_url
  opts.timeout_ms = args.timeout_ms or opts.timeout_ms
  local made, c = pcall(require("userapi")[vendor], opts)
  if not made then return nil, tostring(c) end
  return c
end

-- the selector and the person's fields: the module's options that are not
-- the module's own (ensure_user refuses a field the vendor does not manage)
local OWN = { vendor = true, credentials = true, base_url = true, timeout_ms = true, state = true, all = true }
local function spec_of(args)
  local spec = {}
  for k in pairs(_M.ARGUMENT_SPECS.userapi_user.options) do
    if not OWN[k] then spec[k] = args[k] end
  end
  return spec
end

local function error_result(err)
  -- changed: accounts were deleted before the one that failed
  return fail(tostring(err), { status = err.status, vendor_message = err.message, kind = err.kind,
                               changed = err.changed == true, warnings = err.warnings })
end

-- ---- userapi_user -----------------------------------------------------------------

local function user(args)
  local c, why = client_of(args)
  if not c then return fail(why) end
  local spec = spec_of(args)
  local opts = { check = args._ansible_check_mode == true }
  local ok, res, err = pcall(function()
    if args.state == "absent" then
      opts.all = args.all
      return c:ensure_absent({ email = args.email, id = args.id, username = args.username }, opts)
    end
    return c:ensure_user(spec, opts)
  end)
  if not ok then return fail((tostring(res):gsub("^bad argument #%d to '[%w_]+' %((.*)%)$", "%1"))) end
  if not res then return error_result(err) end
  local out = { changed = res.changed, outcome = res.action, user = res.after or res.before or json.null,
                changes = res.diff }
  if args.state == "absent" then out.user, out.removed = json.null, res.removed end
  out.warnings = res.warnings
  if args._ansible_diff then out.diff = { before = res.before or {}, after = res.after or {} } end
  return out
end

-- ---- userapi_info -----------------------------------------------------------------

--- The most accounts `userapi_info` lists (a bound on a listing driven by the
-- vendor's pages); past it the answer says `truncated` and warns.
_M.MAX_ACCOUNTS = 100000

local function info(args)
  local c, why = client_of(args)
  if not c then return fail(why) end
  local people = require "userapi.people"
  local ok, found, err = pcall(function()
    if args.email or args.id or args.username then
      return people.find(c, { email = args.email, id = args.id, username = args.username })
    end
    local all = {}
    for r in people.accounts(c) do
      -- one more than the bound: a listing cut there says so
      if #all >= _M.MAX_ACCOUNTS then all.truncated = true break end
      all[#all + 1] = r
    end
    return all
  end)
  if not ok then
    if require("userapi").is_error(found) then return error_result(found) end
    return fail(tostring(found))
  end
  if not found then return error_result(err) end
  local out = { changed = false, accounts = #found > 0 and found or json.empty_array, count = #found }
  if found.truncated then
    found.truncated = nil
    out.truncated = true
    out.warnings = { ("the listing stops at %d accounts: there are more"):format(_M.MAX_ACCOUNTS) }
  end
  return out
end

local MODULES = { user = user, info = info }

-- the module's arguments as its spec has them, or Ansible's refusal
local function checked(name, args)
  local module = "userapi_" .. name
  return require("userapi.ansible.args").validate(module, _M.ARGUMENT_SPECS[module], args)
end

--- Runs one module: reads Ansible's argument file, prints the JSON answer.
-- @tparam string name `"user"` or `"info"`
-- @tparam string path the argument file (the module's first argument)
-- @treturn int the exit code: 0, or 1 when the task failed
function _M.main(name, path)
  local args, why = read_args(path)
  if args then args, why = checked(name, args) end
  local out
  if not args then
    out = fail(why)
  else
    local ok, res = pcall(MODULES[name], args)
    out = ok and res or fail("userapi_" .. name .. ": " .. tostring(res))
  end
  io.stdout:write(json.encode(out), "\n")
  return out.failed and 1 or 0
end

return _M
