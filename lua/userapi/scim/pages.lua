--- An unfiltered list asked of the vendor one page at a time, instead of a
-- walk of the whole tenant: the vendor's page that holds SCIM's
-- `startIndex`/`count`, and its total. The vendor's `people.scim.page` says
-- how (`op`, and `offset`/`limit` or `page`/`size` parameter names, `items`
-- and `total` paths in the answer, fixed `params`). A vendor without it, or a
-- window its pages cannot cut (page numbers and a startIndex off a page
-- boundary), is walked.
-- @module userapi.scim.pages
local type, pairs, tonumber, floor, max = type, pairs, tonumber, math.floor, math.max

local _M = {}

local function dig(t, path)
  for part in path:gmatch("[^%.]+") do
    if type(t) ~= "table" then return nil end
    t = t[part]
  end
  return t
end

-- the vendor's query for the window, or nil when its pages cannot cut it
local function query(pg, start, count)
  local params = {}
  for k, v in pairs(pg.params or {}) do params[k] = v end
  local size = max(count, 1) -- count=0 asks for the total: the smallest page gives it
  if pg.offset then
    params[pg.offset], params[pg.limit] = start - 1, size
  elseif count == 0 then
    params[pg.page], params[pg.size] = 1, 1
  elseif (start - 1) % count == 0 then
    params[pg.page], params[pg.size] = floor((start - 1) / count) + 1, count
  else
    return nil
  end
  return params
end

--- The raw accounts of the window and the vendor's total, or nil (walk instead).
-- @tparam table app the application (`client`, `mapping.page`)
-- @tparam int start SCIM's startIndex (1-based)
-- @tparam int count SCIM's count (0: the total only)
-- @treturn ?{table,...} the vendor's records, in its order
-- @treturn ?int the total
-- @treturn ?userapi.errors.Error a failed read
function _M.window(app, start, count)
  local pg = app.mapping.page
  local params = pg and query(pg, start, count)
  if not params then return nil end
  local answer, err = app.client[pg.op](app.client, params)
  if not answer then return nil, nil, err end
  local items, total = dig(answer, pg.items), tonumber(dig(answer, pg.total))
  if type(items) ~= "table" or not total then return nil end
  if count == 0 then items = {} end
  return items, floor(total)
end

return _M
