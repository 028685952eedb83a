-- The walk benchmark's server (nginx + lua-nginx-module): pages of users
-- that each take BENCH_PAGE_MS to answer, as a vendor 20 ms away would, in
-- the Opendatasoft offset style (total_count) and the Kandji cursor style.
-- The wait is ngx.sleep: it holds no worker, so concurrent pages overlap.
local _M = {}
local TOTAL = tonumber(os.getenv("BENCH_USERS") or "50000")
local DELAY = tonumber(os.getenv("BENCH_PAGE_MS") or "20") / 1000

local function users(from, count)
  local out = {}
  for i = from + 1, math.min(TOTAL, from + count) do
    out[#out + 1] = ('{"id":"u%07d","username":"user%07d","email":"user%07d@example.org"}'):format(i, i, i)
  end
  return table.concat(out, ",")
end

local function answer(body)
  ngx.sleep(DELAY)
  ngx.print(body)
end

-- Opendatasoft: /ods/users/?limit=&offset=
function _M.offset()
  local limit = tonumber(ngx.var.arg_limit) or 100
  local offset = tonumber(ngx.var.arg_offset) or 0
  local nxt = offset + limit < TOTAL
    and ('"http://%s/ods/users/?limit=%d&offset=%d"'):format(ngx.var.http_host, limit, offset + limit) or "null"
  answer(('{"total_count":%d,"next":%s,"previous":null,"results":[%s]}'):format(TOTAL, nxt, users(offset, limit)))
end

-- Kandji: /kandji/api/v1/users?cursor=, 100 a page
function _M.cursor()
  local offset = tonumber(ngx.var.arg_cursor and ngx.var.arg_cursor:match("^c(%d+)$")) or 0
  local nxt = offset + 100 < TOTAL
    and ('"http://%s/kandji/api/v1/users?cursor=c%d"'):format(ngx.var.http_host, offset + 100) or "null"
  answer(('{"next":%s,"previous":null,"results":[%s]}'):format(nxt, users(offset, 100)))
end

return _M
