--- The logic of the Ansible modules `ansible/plugins/modules/userapi_user` and
-- `ansible/plugins/modules/userapi_info` (non-Python modules: Ansible's `WANT_JSON`
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


-- the arguments every module takes; the user module adds state and the person's fields
local COMMON = { vendor = true, email = true, id = true, username = true, base_url = true, credentials = true,
                 timeout_ms = true }

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
  if args.credentials ~= nil and type(args.credentials) ~= "table" then return nil, "credentials: a dict expected" end
  for k, v in pairs(args.credentials or {}) do opts[k] = v end
  opts.base_url = args.base_url or opts.base_url
  opts.timeout_ms = args.timeout_ms or opts.timeout_ms
  local made, c = pcall(require("userapi")[vendor], opts)
  if not made then return nil, tostring(c) end
  return c
end

-- the selector and the person's fields: what is not Ansible's or the module's own
-- (ensure_user refuses a field the vendor does not manage)
local SELECTOR = { email = true, id = true, username = true }
local function spec_of(args)
  local spec = {}
  for k, v in pairs(args) do
    if SELECTOR[k] or (k:sub(1, 9) ~= "_ansible_" and not COMMON[k] and k ~= "state") then spec[k] = v end
  end
  return spec
end

local function error_result(err)
  -- changed: accounts were deleted before the one that failed
  return fail(tostring(err), { status = err.status, vendor_message = err.message, kind = err.kind,
                               changed = err.changed == true })
end

-- ---- userapi_user -----------------------------------------------------------------

local function user(args)
  if args.state ~= nil and args.state ~= "present" and args.state ~= "absent" then
    return fail("state: present or absent expected, got " .. tostring(args.state))
  end
  local c, why = client_of(args)
  if not c then return fail(why) end
  local spec = spec_of(args)
  local opts = { check = args._ansible_check_mode == true }
  local ok, res, err = pcall(function()
    if args.state == "absent" then
      return c:ensure_absent({ email = args.email, id = args.id, username = args.username }, opts)
    end
    return c:ensure_user(spec, opts)
  end)
  if not ok then return fail((tostring(res):gsub("^bad argument #%d to '[%w_]+' %((.*)%)$", "%1"))) end
  if not res then return error_result(err) end
  local out = { changed = res.changed, outcome = res.action, user = res.after or res.before or json.null,
                changes = res.diff }
  if args.state == "absent" then out.user, out.removed = json.null, res.removed end
  if res.note then out.warnings = { res.note } end
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
  local state = require "userapi.state"
  local ok, found, err = pcall(function()
    if args.email or args.id or args.username then
      return state.find(c, { email = args.email, id = args.id, username = args.username })
    end
    local all = {}
    for r in state.accounts(c) do
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

--- Runs one module: reads Ansible's argument file, prints the JSON answer.
-- @tparam string name `"user"` or `"info"`
-- @tparam string path the argument file (the module's first argument)
-- @treturn int the exit code: 0, or 1 when the task failed
function _M.main(name, path)
  local args, why = read_args(path)
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
