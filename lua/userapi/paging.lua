--- One way to walk users whatever the vendor's paging: offset/limit
-- (Opendatasoft, Sigfox), page numbers (Arthur), cursors (Kandji).
-- A `next` URL is never fetched: its offset or cursor is read and asked of
-- the configured base URL, so credentials never leave it.
-- @module userapi.paging
local json = require "userapi.json"
local errors = require "userapi.errors"

local type, pairs, tonumber, error = type, pairs, tonumber, error
local find, char, gsub = string.find, string.char, string.gsub

local _M = {}

local function unescape(s)
  return (gsub(gsub(s, "+", " "), "%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

--- The value of query parameter `key` in URL `url`, decoded; nil if absent.
-- @tparam string url a URL
-- @tparam string key a parameter name (a Lua pattern: plain names only)
-- @treturn ?string
-- @usage paging.query_value("https://x/users?limit=10&offset=20", "offset")  --> "20"
function _M.query_value(url, key)
  if type(url) ~= "string" then return nil end
  local _, _, v = find(url, "[?&]" .. key .. "=([^&#]*)")
  return v and unescape(v) or nil
end

local function copy(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

local function present(v) return v ~= nil and v ~= json.null end

-- Each style: first(params, max) sets up the first page's parameters;
-- advance(params, page, items) returns the next page's or nil at the end.
local STYLES = {
  offset = {
    first = function(p, max)
      p.limit = p.limit or max
      p.offset = p.offset or 0
    end,
    advance = function(p, page, items, paging)
      local nxt = page.next
      if paging.next then nxt = type(page[paging.next]) == "table" and page[paging.next].next or nil end
      if not present(nxt) or #items == 0 then return nil end
      local offset = tonumber(_M.query_value(nxt, "offset")) or (p.offset + #items)
      if offset <= p.offset then return nil, "the next page does not move forward (offset " .. offset .. ")" end
      p.offset = offset
      return p
    end,
  },
  page = {
    first = function(p, max)
      p.page_size = p.page_size or max
      p.page = p.page or 1
    end,
    advance = function(p, page, items)
      local total = type(page.pagination) == "table" and tonumber(page.pagination.total_pages)
      if #items == 0 or not total or p.page >= total then return nil end
      p.page = p.page + 1
      return p
    end,
  },
  cursor = {
    first = function() end,
    advance = function(p, page, _, _, seen)
      if not present(page.next) then return nil end
      local cursor = _M.query_value(page.next, "cursor")
      if not cursor then return nil, "the next URL has no cursor" end
      if seen[cursor] then return nil, "the cursor repeats itself (" .. cursor .. ")" end
      seen[cursor] = true
      p.cursor = cursor
      return p
    end,
  },
}

--- Iterates the pages of the client's list operation (or `opname`):
-- `for i, page, err in client:pages(params) do ... end`. On failure the
-- iterator gives `i, nil, err` once, then stops.
-- The first page asks for the largest page size the vendor allows unless
-- `params` says otherwise; a page that does not move forward (the same offset
-- or cursor again) ends the walk with a `kind = "paging"` error.
-- @tparam userapi.client.Client client
-- @tparam[opt] string opname the vendor's list operation (may be left out)
-- @tparam[opt] table params its query parameters
-- @treturn function the iterator: `i, page`, or `i, nil, err`
-- @raise `bad argument #1 to 'pages'` for an operation that is not the list
function _M.pages(client, opname, params)
  local paging = client.vendor.paging
  if type(opname) == "table" or opname == nil then opname, params = paging.op, opname end
  if opname ~= paging.op then
    error("bad argument #1 to 'pages' (" .. client.vendor.name .. " pages through " .. paging.op .. ")", 2)
  end
  local style = STYLES[paging.style]
  local p = copy(params)
  style.first(p, paging.max)
  local i, seen, done, later = 0, {}, false, nil
  return function()
    if later then
      local err = later
      done, later = true, nil
      return i + 1, nil, err
    end
    if done or not p then return nil end
    i = i + 1
    local page, err = client[opname](client, p)
    if not page then
      done = true
      return i, nil, err
    end
    local items = type(page) == "table" and page[paging.items]
    if type(items) ~= "table" then
      done = true
      return i, nil, errors.new{ vendor = client.vendor.name, operation = opname, kind = "paging",
        message = "page " .. i .. " has no '" .. paging.items .. "' list" }
    end
    local nxt, why = style.advance(p, page, items, paging, seen)
    if why then
      -- this page is good: hand it out, and the error on the next call
      later = errors.new{ vendor = client.vendor.name, operation = opname, kind = "paging", message = why }
    end
    p = nxt
    return i, page
  end
end

--- Iterates every user of the list operation, page by page, lazily:
-- `for user in client:each_user{ ... } do ... end`. Raises the structured
-- error if a page fails (use `pages` for the `nil, err` form).
-- @tparam userapi.client.Client client
-- @tparam[opt] table params the list operation's query parameters
-- @treturn function the iterator of users
-- @raise the @{userapi.errors.Error} of the failed page
-- @usage for u in paging.each_user(sigfox, { limit = 100 }) do print(u.id) end
function _M.each_user(client, params)
  local items_key = client.vendor.paging.items
  local next_page = _M.pages(client, params)
  local items, k = nil, 0
  return function()
    while true do
      if items then
        k = k + 1
        local u = items[k]
        if u ~= nil then return u end
      end
      local _, page, err = next_page()
      if err then error(err, 0) end
      if not page then return nil end
      items, k = page[items_key], 0
    end
  end
end

return _M
