--- The command's part of a vendor table (its `cli` field), checked whole:
-- an unknown field gets did-you-mean (a misspelt `secret_field` would print
-- the secrets it meant to mask), each field its type. `userapi.vendor` may
-- call `check` at `register`, as for each owner's part; the command calls it
-- for the vendors it loads (USERAPI_VENDORS) and the vendor it runs.
--
-- Fields:
--
-- - `alias`: another name typed for the vendor (`ods`): letters, digits, `_`, `-`;
-- - `env`: `{ { option, VARIABLE }, ... }`, the variables of its credentials;
-- - `secret`, `host`: the option `--token-from-stdin` fills, the host option;
-- - `alternatives`: `{ { option, ... }, ... }`, the credential sets that exclude each other;
-- - `keys`: more config keys, name -> `"string"`, `"number"` or `"boolean"`;
-- - `page_size`: the list operation's page size parameter;
-- - `examples`: `{ "OPERATION ARGS ...", ... }` for the help;
-- - `secret_fields`: the record fields masked unless `--show-secrets`;
-- - `secret_ops`: the operations whose answer is the secret asked for, never masked.
-- @module userapi.cli.part
local check = require "userapi.check"

local type, pairs, ipairs, tostring, error = type, pairs, ipairs, tostring, error
local format = string.format

local _M = {}

-- "userapi: vendor 'NAME': cli.FIELD: message"
local function fail(vname, field, msg, ...)
  error(format("userapi: vendor '%s': cli%s: " .. msg, tostring(vname), field and ("." .. field) or "", ...), 0)
end

local function strings(vname, field, v)
  if type(v) ~= "table" then fail(vname, field, "a list of strings expected, got %s", type(v)) end
  for i, s in pairs(v) do
    if type(i) ~= "number" or type(s) ~= "string" then fail(vname, field, "a list of strings expected") end
  end
end

local function option(vname, field, v, vendor)
  if type(v) ~= "string" or not (vendor.options or {})[v] then
    fail(vname, field, "one of the vendor's options expected, got %s", tostring(v))
  end
end

local KEY_TYPES = { string = true, number = true, boolean = true }

-- each field's check: function(vname, field, value, vendor)
local FIELDS = {
  alias = function(vname, field, v)
    if type(v) ~= "string" or not v:find("^[A-Za-z0-9_][A-Za-z0-9_%-]*$") then
      fail(vname, field, "letters, digits, _ and - expected (a word typed and completed by the shell)")
    end
  end,
  env = function(vname, field, v)
    if type(v) ~= "table" then fail(vname, field, "a list of { option, VARIABLE } expected") end
    for _, pair in ipairs(v) do
      if type(pair) ~= "table" or type(pair[1]) ~= "string" or type(pair[2]) ~= "string"
        or not pair[2]:find("^[A-Za-z_][A-Za-z0-9_]*$") then
        fail(vname, field, "a list of { option, VARIABLE } expected")
      end
    end
  end,
  secret = option, host = option,
  alternatives = function(vname, field, v)
    if type(v) ~= "table" then fail(vname, field, "a list of lists of options expected") end
    for _, group in ipairs(v) do strings(vname, field, group) end
  end,
  keys = function(vname, field, v)
    if type(v) ~= "table" then fail(vname, field, "name -> string, number or boolean expected") end
    for k, t in pairs(v) do
      if type(k) ~= "string" or not KEY_TYPES[t] then
        fail(vname, field .. "." .. tostring(k), "string, number or boolean expected")
      end
    end
  end,
  page_size = function(vname, field, v)
    if type(v) ~= "string" then fail(vname, field, "a parameter's name expected") end
  end,
  examples = strings, secret_fields = strings,
  secret_ops = function(vname, field, v, vendor)
    strings(vname, field, v)
    for _, op in ipairs(v) do
      if not vendor.ops[op] then fail(vname, field, "no operation '%s'%s", op, check.did_you_mean(op, vendor.ops)) end
    end
  end,
}

--- Checks a vendor table's `cli` part whole.
-- @tparam table vendor a vendor table (its `name`, `options`, `ops` and `cli`)
-- @raise `userapi: vendor 'NAME': cli.FIELD: ...`, with did-you-mean for an unknown field
function _M.check(vendor)
  local c, vname = vendor.cli, vendor.name
  if c == nil then return end
  if type(c) ~= "table" then fail(vname, nil, "a table expected") end
  for k, v in pairs(c) do
    local f = FIELDS[k]
    if not f then fail(vname, tostring(k), "unknown field%s", check.did_you_mean(k, FIELDS)) end
    f(vname, k, v, vendor)
  end
end

return _M
