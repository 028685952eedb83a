-- Shared by examples/nginx/nginx.conf: one Kandji client per worker, and
-- the timer job that walks every user.
local userapi = require "userapi"

local _M = {}
local client

function _M.kandji()
  if not client then
    local sim = os.getenv("USERAPI_SIM_URL")
    client = userapi.kandji{
      base_url = sim and (sim .. "/kandji") or nil,
      subdomain = os.getenv("KANDJI_SUBDOMAIN"),
      token = os.getenv("KANDJI_TOKEN") or "kandji-test-token",
    }
  end
  return client
end

function _M.walk_kandji(premature)
  if premature then return end
  local ok, err = pcall(function()
    local n = 0
    for _ in _M.kandji():each_user() do n = n + 1 end
    ngx.shared.userapi_sync:set("kandji", n)
  end)
  if not ok then ngx.log(ngx.ERR, "kandji walk failed: ", tostring(err)) end
end

return _M
