--- Credential rotation of service accounts: a new secret made by the vendor,
-- tried before it is handed back (the old one stops working at once).
-- What each vendor can rotate is data, its vendor file's `people.rotate`:
--
--     rotate = {
--       op = "renew_credential",        -- the operation that makes a new credential (takes the id)
--       kinds = { "api_user" },         -- the account kinds it may touch (never a person)
--       login = function(res, id) ... end, -- the op's answer -> the constructor options of the new credential
--       verify = "get_api_user",        -- an operation the new credential must pass; its answer's id is the account's
--     }
--
-- Sigfox renews an API user's access token; Arthur regenerates a service
-- account's client secret. A vendor added with `userapi.register` that
-- declares `people.rotate` is rotated the same way (`userapi rotate`).
-- @module userapi.rotate
-- @usage local rotate = require "userapi.rotate"
-- local acct = assert(rotate.account(sigfox, "ada@example.com automation"))
-- local creds, err = rotate.renew(sigfox, acct)   -- { vendor, id, login, password, verified = true }
local state = require "userapi.state"
local errors = require "userapi.errors"
local userapi = require "userapi"

local type, pairs, ipairs, tostring, pcall, error = type, pairs, ipairs, tostring, pcall, error
local concat = table.concat

local _M = {}

local function how(client)
  local p = client.vendor.people
  return p and p.rotate
end

--- Whether the client's vendor can rotate credentials.
-- @tparam userapi.client.Client client
-- @treturn boolean
function _M.supported(client) return how(client) ~= nil end

local function failure(client, op, kind, message)
  return nil, errors.new{ vendor = client.vendor.name, operation = op, kind = kind, message = message,
                          secrets = client.secrets }
end

local function rotatable(r, kinds)
  for _, k in ipairs(kinds) do if r.kind == k then return true end end
  return false
end

-- the accounts whose id is wanted; {} when wanted cannot be an id of the vendor's
local NOT_AN_ID = { [400] = true, [404] = true, [422] = true }

local function by_id(client, wanted)
  local ok, found, err = pcall(state.find, client, { id = wanted })
  -- a vendor that refuses a name as an id (Arthur's user_ids wants a UUID): not found by id
  if ok and not found and NOT_AN_ID[err.status] then return {} end
  if ok then return found, err end
  if tostring(found):find("^bad argument") then return {} end
  error(found, 0)
end

-- the accounts named wanted, over every page
local function by_name(client, wanted)
  local found = {}
  local ok, err = pcall(function()
    for r in state.accounts(client) do
      if r.name == wanted then found[#found + 1] = r end
    end
  end)
  if ok then return found end
  if errors.is(err) then return nil, err end
  error(err, 0)
end

--- The account to rotate, by id or by name (reads only).
-- @tparam userapi.client.Client client
-- @tparam string wanted an id, or the account's name
-- @treturn[1] table its @{userapi.state.record}
-- @treturn[2] nil
-- @treturn[2] userapi.errors.Error a failed read; `kind = "not_found"`; `kind = "unsupported"`
-- (a person, or a name two accounts share)
-- @raise when the vendor declares no `people.rotate`
function _M.account(client, wanted)
  local r = how(client)
  if not r then error("bad argument #1 to 'account' (" .. client.vendor.name .. " declares no people.rotate)", 2) end
  if type(wanted) ~= "string" or wanted == "" then error("bad argument #2 to 'account' (id or name expected)", 2) end
  local found, err = by_id(client, wanted)
  if found and #found == 0 then found, err = by_name(client, wanted) end
  if not found then return nil, err end
  local what = concat(r.kinds, " or ")
  if #found == 0 then
    return failure(client, r.op, "not_found", "no " .. what .. " with id or name '" .. wanted .. "'")
  end
  if #found > 1 then
    return failure(client, r.op, "unsupported", #found .. " accounts are named '" .. wanted .. "': give the id")
  end
  if not rotatable(found[1], r.kinds) then
    return failure(client, r.op, "unsupported", found[1].id .. " is a " .. tostring(found[1].kind)
      .. ", not a " .. what .. ": its credentials are not rotated")
  end
  return found[1]
end

-- a client of the same tenant logging in with the new credential only
local function client_with(client, login)
  local opts = {}
  local kinds = client.vendor.options or {}
  for k, v in pairs(client.opts) do
    -- every credential of the old client is left out: the new one alone must work
    local kind = kinds[k]
    if kind ~= "secret" and kind ~= "login" and kind ~= "function" then opts[k] = v end
  end
  for k, v in pairs(login) do opts[k] = v end
  return userapi[client.vendor.name](opts)
end

-- nil when the new credential logs in as the account, else why not
local function verify(client, r, id, login)
  local ok, check = pcall(client_with, client, login)
  if not ok then return tostring(check) end
  local with_id = client.vendor.ops[r.verify].path:find("{", 1, true)
  local me, err
  if with_id then me, err = check[r.verify](check, id) else me, err = check[r.verify](check) end
  if not me then return "the new credential does not work: " .. tostring(err) end
  if type(me) == "table" and me.id ~= nil and me.id ~= id then
    return "the new credential logs in as " .. tostring(me.id) .. ", not " .. id
  end
end

--- Rotates one account's credential, then tries the new one.
-- @tparam userapi.client.Client client
-- @tparam table account from @{account}
-- @treturn[1] table `{ vendor, id, verified = true, <the constructor options of the new credential> }`
-- (Sigfox `login`, `password`; Arthur `client_id`, `client_secret`)
-- @treturn[2] nil
-- @treturn[2] userapi.errors.Error the vendor refused: nothing changed
-- @treturn[3] table the same record with `verified = false`: the credential was
-- renewed (the old one is dead) but the new one failed its check; keep it anyway
-- @treturn[3] userapi.errors.Error why the check failed
function _M.renew(client, account)
  local r = how(client)
  if not r then error("bad argument #1 to 'renew' (" .. client.vendor.name .. " declares no people.rotate)", 2) end
  local id = account.id
  local res, err = client[r.op](client, id)
  if not res then return nil, err end
  local login = r.login(res, id)
  local rec = { vendor = client.vendor.name, id = id }
  for k, v in pairs(login) do rec[k] = v end
  local why = verify(client, r, id, login)
  if why then
    rec.verified = false
    return rec, errors.new{ vendor = client.vendor.name, operation = r.verify, kind = "auth", message = why,
                            secrets = client.secrets }
  end
  rec.verified = true
  return rec
end

return _M
