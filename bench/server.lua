-- The benchmark server's Lua handlers (nginx + lua-nginx-module): pages of
-- Opendatasoft-shaped users, built once per worker and served from a cache,
-- and the deletes with their latency. One user (S1) is nginx's own `return`
-- of a template (bench/nginx.conf.in): no Lua at all on that path.
local cjson = require "cjson"

local _M = {}
local TOTAL = tonumber(os.getenv("BENCH_USERS") or "1000000")
local PREFIX = "/ods/api/automation/v1.0"

local function user(i)
  return ('{"username":"user%07d","display_name":"User %d","first_name":"First%d","last_name":"Last%d",' ..
    '"is_active":true,"email":"user%07d@example.org","is_ods":false,"account_type":"local",' ..
    '"permissions":["explore_restricted_dataset"],"joined_at":"2024-01-02T03:04:05Z",' ..
    '"last_seen_at":null,"groups":[{"uid":"viewers"}],"identity_providers":[{"uid":"opendatasoft"}]}')
    :format(i, i, i, i, i)
end

-- pages are built once and kept, up to a bound: a walk of 1M users in pages
-- of 1,000 would otherwise keep 400 MB in the worker
local pages, cached_bytes = {}, 0
local MAX_CACHED_BYTES = 64 * 1024 * 1024

local function page(limit, offset)
  local key = limit .. ":" .. offset
  local body = pages[key]
  if body then return body end
  local items = {}
  for i = offset + 1, math.min(TOTAL, offset + limit) do items[#items + 1] = user(i) end
  local nxt = offset + limit < TOTAL
    and cjson.encode(("http://%s%s/users/?limit=%d&offset=%d"):format(ngx.var.http_host, PREFIX, limit, offset + limit))
    or "null"
  body = ('{"total_count":%d,"next":%s,"previous":null,"results":[%s]}'):format(TOTAL, nxt, table.concat(items, ","))
  if cached_bytes + #body <= MAX_CACHED_BYTES then
    pages[key] = body
    cached_bytes = cached_bytes + #body
  end
  return body
end

function _M.list()
  local limit = tonumber(ngx.var.arg_limit) or 20
  local offset = tonumber(ngx.var.arg_offset) or 0
  local body = page(limit, offset)
  ngx.header["Content-Type"] = "application/json"
  ngx.header["Content-Length"] = #body
  ngx.print(body)
end

function _M.delete()
  local ms = tonumber(ngx.var.arg_delay_ms or ngx.var.http_x_delay_ms or os.getenv("BENCH_DELAY_MS") or "0")
  if ms > 0 then ngx.sleep(ms / 1000) end
  ngx.exit(204)
end

return _M
