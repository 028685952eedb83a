--- What the `userapi` command does to the answers before writing them:
-- the secret fields of records masked (unless `--show-secrets`), and a
-- delete of an account that is not there counted as done (`--missing-ok`).
-- @module userapi.cli.records
local term = require("userapi.format").escape_terminal

local type, pairs, ipairs, next, tostring = type, pairs, ipairs, next, tostring

local _M = {}

--- What a masked secret reads as.
_M.MASK = "[REDACTED]"

-- records nest (a page's items, a batch's results): a bound on the depth walked
local MAX_DEPTH = 32

local function mask(v, names, depth)
  if type(v) ~= "table" or depth > MAX_DEPTH then return end
  for k, x in pairs(v) do
    -- JSON null (a userdata) stays null: there is nothing to hide
    if names[k] and type(x) ~= "userdata" then
      v[k] = _M.MASK
    else
      mask(x, names, depth + 1)
    end
  end
end

--- A function that masks, in place, the fields the vendor table names
-- secret (`cli.secret_fields`, Sigfox's `accessToken`) wherever they are
-- in an answer, and returns it; the identity with `show`, and for the
-- operations whose answer is the secret asked for (`cli.secret_ops`, Sigfox's
-- `renew_credential`: the new token's only copy).
-- @tparam table vendor
-- @tparam string opname the operation
-- @tparam ?boolean show `--show-secrets`
-- @treturn function
function _M.masker(vendor, opname, show)
  local c, names = vendor.cli or {}, {}
  for _, k in ipairs(c.secret_fields or {}) do names[k] = true end
  for _, op in ipairs(c.secret_ops or {}) do
    if op == opname then show = true end
  end
  if show or next(names) == nil then return function(v) return v end end
  return function(v)
    mask(v, names, 1)
    return v
  end
end

--- Whether an error says the account is not there: a 404 or 410 answer.
-- @param err an error of the library
-- @treturn boolean
function _M.absent(err)
  return type(err) == "table" and (err.status == 404 or err.status == 410)
end

--- The line `--missing-ok` writes for an account that was not there.
-- @param err its error
-- @tparam[opt] string item the item of `--each`
-- @treturn string
function _M.absent_line(err, item)
  return term((item and (item .. ": ") or "") .. tostring(err) .. " (not there: nothing to delete, --missing-ok)")
end

--- Counts the items of a bulk delete that were not there as done, each
-- said on stderr (`--missing-ok`).
-- @tparam table results the bulk results (changed)
-- @tparam {string,...} labels the items' labels
-- @param err_out standard error
function _M.forgive_absent(results, labels, err_out)
  for i, r in ipairs(results) do
    if not r.ok and _M.absent(r.err) then
      err_out:write(_M.absent_line(r.err, labels[i]), "\n")
      r.ok, r.err = true, nil
      results.ok, results.failed = (results.ok or 0) + 1, (results.failed or 1) - 1
    end
  end
end

return _M
