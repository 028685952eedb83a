-- The benchmark server's handlers (nginx + lua-nginx-module): Opendatasoft-
-- shaped users, generated once per worker and cached, so the server costs
-- next to nothing per request and never bounds a client.
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

local pages, page_count = {}, 0

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
  if page_count < 2000 then
    pages[key] = body
    page_count = page_count + 1
  end
  return body
end

function _M.list()
  local limit = tonumber(ngx.var.arg_limit) or 20
  local offset = tonumber(ngx.var.arg_offset) or 0
  ngx.header["Content-Type"] = "application/json"
  ngx.print(page(limit, offset))
end

local one = {}
function _M.user()
  local i = tonumber(ngx.var.user_id:match("%d+")) or 1
  ngx.header["Content-Type"] = "application/json"
  local body = one[i]
  if not body then
    body = user(i)
    if i <= 10000 then one[i] = body end
  end
  -- as a vendor sends a small answer: with its length, not chunked
  ngx.header["Content-Length"] = #body
  ngx.print(body)
end

function _M.delete()
  local ms = tonumber(ngx.var.arg_delay_ms or ngx.var.http_x_delay_ms or os.getenv("BENCH_DELAY_MS") or "0")
  if ms > 0 then ngx.sleep(ms / 1000) end
  ngx.exit(204)
end

return _M
