-- What the Arthur specs share (arthur_spec.lua, arthur_accounts_spec.lua,
-- arthur_auth_spec.lua): the seeded ids and checks on what the simulator
-- holds and recorded.
local sim = require "spec.helper"

local M = {
  API = "/arthur/api/v1",
  BEARER = "Bearer arthur-test-token",
  GRACE = "00000000-0000-4000-8000-000000000001",   -- "me" of the static token
  ADA = "00000000-0000-4000-8000-000000000002",
  ALAN = "00000000-0000-4000-8000-000000000003",
  SA = "00000000-0000-4000-8000-000000000004",      -- service account "userapi automation" (arthur-client)
  KATHERINE = "00000000-0000-4000-8000-000000000006",
  ORG_ID = "3f8e7a52-1c4b-4d2e-9a6f-0b1c2d3e4f50",
  UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$",
}

function M.applied(op)
  return sim.state("arthur").applied[op]
end

-- Headers every call carries; content_type is nil for a call without body.
function M.assert_headers(r, content_type) return sim.assert_headers(r, M.BEARER, content_type) end

-- The call raises `message` (exact, or a plain substring with partial = true)
-- and nothing reaches the simulator.
function M.refused(fn, message, partial) return sim.refuses(message, fn, partial) end

function M.assert_error(err, f) return sim.assert_error("arthur", err, f) end

-- An Arthur client that gets its tokens with the client-credentials grant.
function M.oidc_client(id, secret, extra)
  local opts = { base_url = sim.base.arthur, retries = false, client_id = id, client_secret = secret }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return require("userapi").arthur(opts)
end

return M
