-- Shared by examples/nginx/nginx.conf: one Kandji client per worker, and
-- the timer job that walks every user. The workers of one nginx share the
-- vendor budget through `lua_shared_dict userapi`; the Redis store below
-- extends it to several hosts.
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
      -- several nginx hosts or a cron job beside them share one Kandji quota through Redis:
      -- store = { redis = { host = "127.0.0.1", port = 6379, prefix = "userapi:" } },
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
