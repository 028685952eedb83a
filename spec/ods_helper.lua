-- What the Opendatasoft specs share (opendatasoft_spec.lua, opendatasoft_batch_spec.lua):
-- the vendor's prefix and key, and checks on what the simulator recorded.
local assert = require "luassert"
local cjson = require "cjson"
local sim = require "spec.helper"

local M = {
  PREFIX = "/ods/api/automation/v1.0",
  AUTH = "Apikey ods-test-key",
  refuses = sim.refuses,
}

-- The one request the simulator recorded since the last reset, checked
-- against `want`: method, path (under the vendor prefix), raw query, Accept,
-- auth, and the JSON body (decoded) with its Content-Type.
function M.sent(want)
  local all = sim.requests()
  assert.equal(1, #all)
  local r = all[1]
  assert.equal(want.method, r.method)
  assert.equal(M.PREFIX .. want.path, r.path)
  assert.equal(want.query or "", r.query)
  assert.equal(want.accept or "application/json", r.headers["accept"])
  if want.apikey_in_query then
    assert.is_nil(r.headers["authorization"])
  else
    assert.equal(M.AUTH, r.headers["authorization"])
  end
  if want.body ~= nil then
    assert.equal("application/json", r.headers["content-type"])
    assert.same(want.body, cjson.decode(r.body))
  else
    assert.is_nil(r.headers["content-type"])
    assert.equal("", r.body)
  end
  return r
end

-- A failed call: its error object read as the README promises.
function M.failed(...) return sim.failed("opendatasoft", ...) end

-- The changes the simulator applied, in order.
function M.applied() return sim.state("ods").applied end

-- The simulator's user record for `username`, or nil.
function M.seeded(username)
  for _, u in ipairs(sim.state("ods").users) do
    if u.username == username then return u end
  end
end

return M
