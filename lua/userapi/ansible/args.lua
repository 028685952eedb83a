--- The arguments of an Ansible module checked as Ansible's Python modules
-- check theirs (`AnsibleModule(argument_spec=...)`), for the Lua modules of
-- @{userapi.ansible}: an unknown parameter fails with `Unsupported
-- parameters`, values are converted to their type (`"30"` to 30, `"a,b"` to a
-- list, `"yes"` to true), and `required`, `choices`, `default` and
-- `mutually_exclusive` hold. The messages are Ansible's own.
-- @module userapi.ansible.args
local json = require "userapi.json"

local type, pairs, ipairs, tostring, tonumber, next, pcall = type, pairs, ipairs, tostring, tonumber, next, pcall
local floor, huge = math.floor, math.huge
local sort, concat, format = table.sort, table.concat, string.format

local _M = {}

-- the Python type names Ansible's messages use
local function python_type(v)
  local t = type(v)
  if t == "string" then return "str" end
  if t == "boolean" then return "bool" end
  if t == "number" then return (floor(v) == v and v ~= huge and v ~= -huge) and "int" or "float" end
  if t == "table" then return (v[1] ~= nil or json.is_empty_array(v)) and "list" or "dict" end
  return t
end

local function is_int(v) return type(v) == "number" and floor(v) == v and v > -2 ^ 53 and v < 2 ^ 53 end

local function is_list(v)
  if type(v) ~= "table" then return false end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  return n == #v
end

local TRUE = { y = true, yes = true, on = true, ["1"] = true, ["true"] = true, t = true, ["1.0"] = true }
local FALSE = { n = true, no = true, off = true, ["0"] = true, ["false"] = true, f = true, ["0.0"] = true }

-- converters: the value, or nil and why not (Ansible's check_type_*)
local CONVERT = {}

function CONVERT.str(v)
  if type(v) == "string" then return v end
  if is_int(v) then return format("%d", v) end
  if type(v) == "number" then return tostring(v) end
  if type(v) == "boolean" then return v and "True" or "False" end
  return nil, python_type(v) .. " cannot be converted to a str"
end

-- 42, not 42.0 (a JSON decoder may give floats on Lua 5.3+)
local as_integer = math.tointeger or function(v) return v end

function CONVERT.int(v)
  if is_int(v) then return as_integer(v) end
  if type(v) == "string" then
    local n = tonumber(v:match("^%s*([+-]?%d+)%s*$") or "")
    if n and is_int(n) then return as_integer(n) end
  end
  return nil, format("%s cannot be converted to an int", python_type(v))
end

function CONVERT.bool(v)
  if type(v) == "boolean" then return v end
  local s = type(v) == "string" and v:lower() or type(v) == "number" and tostring(v)
  if s and TRUE[s] then return true end
  if s and FALSE[s] then return false end
  return nil, format("The value '%s' is not a valid boolean.  Valid booleans include: "
    .. "0, 'f', 'n', 'no', 'off', 'false', 'true', 1, 't', 'y', 'yes', 'on'", tostring(v))
end

function CONVERT.list(v)
  if is_list(v) then return v end
  if type(v) == "string" then
    local out = {}
    for item in (v .. ","):gmatch("([^,]*),") do out[#out + 1] = item end
    return out
  end
  if type(v) == "number" then return { CONVERT.str(v) } end
  return nil, python_type(v) .. " cannot be converted to a list"
end

-- "k1=v1, k2=v2" (no quoting: a value with "," or "=" is written as a dict)
local function key_values(s)
  local out = {}
  for pair in (s .. ","):gmatch("%s*([^,]*),") do
    if pair ~= "" then
      local k, val = pair:match("^([^=]+)=(.*)$")
      if not k then return nil end
      out[k:match("^%s*(.-)%s*$")] = val:match("^%s*(.-)%s*$")
    end
  end
  return out
end

function CONVERT.dict(v)
  if type(v) == "table" and (next(v) == nil or not is_list(v)) then return v end
  if type(v) == "string" then
    local ok, t
    if v:find("^%s*{") then ok, t = pcall(json.decode, v) else ok, t = true, v:find("=", 1, true) and key_values(v) end
    if ok and type(t) == "table" and not (next(t) ~= nil and is_list(t)) then return t end
    return nil, "unable to evaluate string as dictionary"
  end
  return nil, python_type(v) .. " cannot be converted to a dict"
end

function CONVERT.raw(v) return v end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  sort(keys)
  return keys
end

local function unsupported(name, spec, args)
  local bad = {}
  for k in pairs(args) do
    if not spec.options[k] and not (type(k) == "string" and k:sub(1, 9) == "_ansible_") then
      bad[#bad + 1] = tostring(k)
    end
  end
  if #bad == 0 then return nil end
  sort(bad)
  return format("Unsupported parameters for (%s) module: %s. Supported parameters include: %s.",
    name, concat(bad, ", "), concat(sorted_keys(spec.options), ", "))
end

local function mutually_exclusive(spec, args)
  local clashes = {}
  for _, group in ipairs(spec.mutually_exclusive or {}) do
    local n = 0
    for _, k in ipairs(group) do if args[k] ~= nil then n = n + 1 end end
    if n > 1 then clashes[#clashes + 1] = concat(group, "|") end
  end
  if #clashes > 0 then return "parameters are mutually exclusive: " .. concat(clashes, ", ") end
end

local function missing(spec, args)
  local names = {}
  for k, o in pairs(spec.options) do if o.required and args[k] == nil then names[#names + 1] = k end end
  if #names == 0 then return nil end
  sort(names)
  return "missing required arguments: " .. concat(names, ", ")
end

-- one value converted to its option's type and checked against its choices
local function converted(k, o, v)
  local got, why = CONVERT[o.type or "str"](v)
  if got == nil then
    return nil, format("argument '%s' is of type <class '%s'> and we were unable to convert to %s: %s",
      k, python_type(v), o.type or "str", why)
  end
  if o.elements then
    for i, e in ipairs(got) do
      local ge, ewhy = CONVERT[o.elements](e)
      if ge == nil then
        return nil, format("Elements value for option '%s' is of type <class '%s'> and we were unable to "
          .. "convert to %s: %s", k, python_type(e), o.elements, ewhy)
      end
      got[i] = ge
    end
  end
  if o.choices then
    for _, c in ipairs(o.choices) do if c == got then return got end end
    return nil, format("value of %s must be one of: %s, got: %s", k, concat(o.choices, ", "), tostring(got))
  end
  return got
end

--- Checks and converts a module's arguments against its argument spec.
-- @tparam string name the module's name (`userapi_user`)
-- @tparam table spec `{ options = { name = { type, required, default, choices, elements, no_log } },
-- mutually_exclusive = { { "a", "b" }, ... } }`, as the module's documentation has it
-- @tparam table args the arguments Ansible sent (its own `_ansible_*` ones are left as they are)
-- @treturn[1] table the arguments, converted, defaults filled in
-- @treturn[2] nil
-- @treturn[2] string Ansible's message (`Unsupported parameters for (userapi_info) module: emial. ...`)
function _M.validate(name, spec, args)
  local why = unsupported(name, spec, args) or mutually_exclusive(spec, args) or missing(spec, args)
  if why then return nil, why end
  local out = {}
  for k, v in pairs(args) do if not spec.options[k] then out[k] = v end end
  for _, k in ipairs(sorted_keys(spec.options)) do
    local o, v = spec.options[k], args[k]
    if v == nil then v = o.default end
    if v ~= nil then
      local got, err = converted(k, o, v)
      if got == nil then return nil, err end
      out[k] = got
    end
  end
  return out
end

return _M
