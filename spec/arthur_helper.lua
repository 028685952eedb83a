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

-- applied(op), assert_headers(r, content_type), refused(fn, message, partial), assert_error(err, f)
for k, f in pairs(sim.checks("arthur", M.BEARER)) do M[k] = f end

-- An Arthur client that gets its tokens with the client-credentials grant.
function M.oidc_client(id, secret, extra)
  local opts = { base_url = sim.base.arthur, retries = false, client_id = id, client_secret = secret }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return require("userapi").arthur(opts)
end

return M
