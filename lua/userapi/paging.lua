--- One way to walk users whatever the vendor's paging: offset/limit, page
-- numbers or cursors, as the vendor table's `paging` field describes them.
-- A `next` URL is never fetched: its offset or cursor is read and asked of
-- the configured base URL, so credentials never leave it.
--
-- Every walk ends: at the last page, at an offset past the total, or after
-- `max_pages` pages (`kind = "paging"`). What a server sends for the next
-- page (an offset, a cursor, a total) is checked like the caller's input,
-- but a failure is the server's: `i, nil, err`, never a raise.
-- @module userapi.paging
local json = require "userapi.json"
local errors = require "userapi.errors"
local fetcher = require "userapi.fetcher"
local check = require "userapi.check"
local unescape = require("userapi.util").unescape

local type, pairs, ipairs, tonumber, tostring, error, pcall = type, pairs, ipairs, tonumber, tostring, error, pcall
local find, gsub, sub = string.find, string.gsub, string.sub
local format, byte, floor, min = string.format, string.byte, math.floor, math.min

local _M = {}

--- The default of `max_pages`, the client option (and per-call parameter) that
-- ends a walk of more pages with `kind = "paging"`: 100000 (100 million users
-- at 1000 a page).
_M.MAX_PAGES = 100000

--- The default of `concurrency`, the per-call parameter of `pages` and
-- `each_user` (1..64): how many pages are asked for at once once the total
-- is known (offset and page styles), and whether the next page is asked for
-- while the caller reads this one (more than 1). 1 walks one page at a time.
_M.CONCURRENCY = 4

local SEEN_CURSORS = 1024 -- a loop longer than this ends at max_pages


--- The value of query parameter `key` in URL `url`, decoded; nil if absent.
-- @tparam string url a URL
-- @tparam string key a parameter name (a Lua pattern: plain names only)
-- @treturn ?string
-- @usage paging.query_value("https://x/users?limit=10&offset=20", "offset")  --> "20"
function _M.query_value(url, key)
  if type(url) ~= "string" then return nil end
  local _, _, v = find(url, "[?&]" .. key .. "=([^&#]*)")
  return v and unescape(v, true) or nil
end

local function present(v) return v ~= nil and v ~= json.null end

-- server text in a message: short, control bytes shown as \ddd
local function shown(s)
  s = tostring(s)
  if #s > 60 then s = sub(s, 1, 60) .. "..." end
  return (gsub(s, "%c", function(c) return format("\\%d", byte(c)) end))
end

local function is_count(v)
  return type(v) == "number" and v >= 0 and v <= 2 ^ 53 and floor(v) == v
end

--- The value of a walk or stream option: the call's `params[name]`, else the
-- client's option, else `default`. Must be a positive integer.
-- @tparam userapi.client.Client client
-- @tparam ?table params the call's parameters
-- @tparam string name the option
-- @tparam number default
-- @tparam string fname the method, for the message
-- @treturn number
-- @raise `bad argument #1 to 'fname' (name: positive integer expected, got ...)`,
-- or `userapi.<vendor>: name: ...` for the client's option
function _M.option(client, params, name, default, fname)
  local v, mine = params and params[name], true
  if v == nil then v, mine = client and client.opts and client.opts[name], false end
  if v == nil then return default end
  if is_count(v) and v >= 1 then return v end
  local got = type(v) == "number" and tostring(v) or type(v)
  if mine then error(format("bad argument #1 to '%s' (%s: positive integer expected, got %s)", fname, name, got), 0) end
  error(format("userapi.%s: %s: positive integer expected, got %s", client.vendor.name, name, got), 0)
end

-- ---- the vendor's paging, compiled ------------------------------------------

-- A path into a page ("pagination.total_pages") or a hook `function(page)`.
local function getter(path)
  if type(path) == "function" or path == nil then return path end
  local keys = {}
  for k in path:gmatch("[^%.]+") do keys[#keys + 1] = k end
  return function(page)
    local v = page
    for i = 1, #keys do
      if type(v) ~= "table" then return nil end
      v = v[keys[i]]
    end
    return v
  end
end

-- A count the server gives (total_count, total_pages): nil when absent,
-- else a finite integer, or nil and why not.
local function count(get, page, name)
  local v = get and get(page)
  if not present(v) then return nil end
  if not is_count(v) then return nil, name .. " is not a finite integer (" .. shown(v) .. ")" end
  return v
end

-- Each style: first(params, max) sets up the first page's parameters;
-- advance(params, page, items, paging, seen) returns the next page's, or nil
-- at the end, or nil and why the walk cannot go on.
local STYLES = {
  offset = {
    first = function(p, max)
      p.limit = p.limit or max
      p.offset = p.offset or 0
    end,
    advance = function(p, page, items, paging)
      local total, why = count(paging.total_count, page, "total_count")
      if why then return nil, why end
      if not present(paging.next(page)) or #items == 0 then return nil end
      local raw = _M.query_value(paging.next(page), "offset")
      local offset
      if raw == nil then
        offset = p.offset + #items
      elseif find(raw, "^%d+$") and #raw <= 15 then
        offset = tonumber(raw)
      else
        return nil, "the next page's offset is not an integer (" .. shown(raw) .. ")"
      end
      if offset <= p.offset then return nil, "the next page does not move forward (offset " .. offset .. ")" end
      if total and offset >= total then return nil end
      p.offset = offset
      return p
    end,
    -- once the first page gave the total and the step: the remaining pages
    -- from p on (the parameter that changes, its first value, step and count)
    rest = function(p, page, paging, step)
      local total, why = count(paging.total_count, page, "total_count")
      if not total or step <= 0 then return nil, why end
      return { key = "offset", first = p.offset, step = step, n = floor((total - p.offset + step - 1) / step) }
    end,
  },
  page = {
    first = function(p, max)
      p.page_size = p.page_size or max
      p.page = p.page or 1
    end,
    advance = function(p, page, items, paging)
      local total, why = count(paging.total_pages, page, "total_pages")
      if why then return nil, why end
      if not total then return nil, "page " .. p.page .. " has no total_pages" end
      if #items == 0 or p.page >= total then return nil end
      p.page = p.page + 1
      return p
    end,
    rest = function(p, page, paging)
      local total, why = count(paging.total_pages, page, "total_pages")
      if not total then return nil, why end
      return { key = "page", first = p.page, step = 1, n = total - p.page + 1 }
    end,
  },
  cursor = {
    first = function() end,
    advance = function(p, page, _, paging, seen)
      local nxt = paging.next(page)
      if not present(nxt) then return nil end
      local cursor = _M.query_value(nxt, "cursor")
      if not cursor then return nil, "the next URL has no cursor" end
      if seen(cursor) then return nil, "the cursor repeats itself (" .. shown(cursor) .. ")" end
      p.cursor = cursor
      return p
    end,
  },
}

local compiled = setmetatable({}, { __mode = "k" })

--- Checks and compiles a vendor table's `paging` field, once per table.
-- Fields: `op` (the list operation), `style` (`"offset"`, `"page"` or
-- `"cursor"`), `items` (where a page holds its users), `max` (the largest
-- page size), `next` (where the next page's URL is, `"next"` by default),
-- `total_count` (offset style: the number of items, optional) and
-- `total_pages` (page style: required). Each place is a dotted path into the
-- page (`"pagination.total_pages"`) or a hook `function(page) -> value`.
-- @tparam table spec the vendor's `paging`
-- @treturn table the compiled form
-- @raise on a field of the wrong kind
-- @usage paging.compile{ op = "list", style = "page", items = "data", total_pages = "meta.pages" }
function _M.compile(spec)
  local c = compiled[spec]
  if c then return c end
  local function refuse(msg) error("userapi: bad paging (" .. msg .. ")", 0) end
  if type(spec) ~= "table" then refuse("table expected") end
  if type(spec.op) ~= "string" then refuse("op: operation name expected") end
  if not STYLES[spec.style] then refuse("style: offset, page or cursor expected") end
  for _, k in ipairs{ "items", "next", "total_count", "total_pages" } do
    local t = type(spec[k])
    if spec[k] ~= nil and t ~= "string" and t ~= "function" then refuse(k .. ": path or function expected") end
  end
  if spec.items == nil then refuse("items: path or function expected") end
  if spec.style == "page" and spec.total_pages == nil then refuse("total_pages: required by the page style") end
  c = { op = spec.op, style = STYLES[spec.style], max = spec.max, items = getter(spec.items),
        next = getter(spec.next or "next"), total_count = getter(spec.total_count),
        total_pages = getter(spec.total_pages), items_name = tostring(spec.items) }
  compiled[spec] = c
  return c
end

local PART_FIELDS = { op = "string", style = "string", items = "any", next = "any", total_count = "any",
                      total_pages = "any", max = "number" }
local STYLE_NAMES = {}
for name in pairs(STYLES) do STYLE_NAMES[#STYLE_NAMES + 1] = name end
table.sort(STYLE_NAMES)

--- Checks a vendor table's `paging` part whole, when the vendor is
-- registered (@{userapi.vendor.compile}): its fields, its style, the
-- operation it walks, and the places it reads.
-- @tparam table spec the vendor's `paging`
-- @tparam string vname the vendor's name
-- @tparam table vendor the compiled vendor (its `ops`)
-- @raise `userapi: vendor 'x': paging.style: 'curser' is not one of cursor, offset, page (did you mean 'cursor'?)`
function _M.check_part(spec, vname, vendor)
  check.fields(vname, "paging: ", spec, PART_FIELDS)
  if not vendor.ops[spec.op] then
    check.part_error(vname, "paging.op: ", "no operation '" .. tostring(spec.op) .. "'"
      .. check.did_you_mean(spec.op, vendor.ops))
  end
  check.one_of(vname, "paging.style: ", spec.style, STYLE_NAMES)
  for _, k in ipairs{ "items", "next", "total_count", "total_pages" } do
    local t = type(spec[k])
    if spec[k] ~= nil and t ~= "string" and t ~= "function" then
      check.part_error(vname, "paging." .. k .. ": ", "a dotted path or a function(page) expected, got " .. t)
    end
  end
  if spec.items == nil then check.part_error(vname, "paging.items: ", "required (where a page holds its users)") end
  if spec.style == "page" and spec.total_pages == nil then
    check.part_error(vname, "paging.total_pages: ", "required by the page style")
  end
  if spec.max ~= nil and not (is_count(spec.max) and spec.max >= 1) then
    check.part_error(vname, "paging.max: ", "positive integer expected")
  end
end

-- ---- walking ------------------------------------------------------------------

-- options of a walk, never sent as query parameters
local LOCAL = { max_pages = true, concurrency = true }

-- A membership test remembering the last n cursors.
local function recent(n)
  local set, ring, i = {}, {}, 0
  return function(key)
    if set[key] then return true end
    i = i % n + 1
    if ring[i] then set[ring[i]] = nil end
    ring[i], set[key] = key, true
    return false
  end
end

local function fail(client, opname, message)
  return errors.new{ vendor = client.vendor.name, operation = opname, kind = "paging", message = message,
                     secrets = client.secrets }
end

-- The request of a page the server's answers chose: refused input is the
-- server's error, not the caller's.
local function prepare(client, opname, p)
  local ok, req, opts = pcall(client.build, client, opname, p)
  if ok then return req, opts end
  local why = type(req) == "string" and req:match("%((.*)%)$") or tostring(req)
  return nil, fail(client, opname, "the next page cannot be asked for: " .. why)
end

-- One page, now: the first with the caller's parameters (a bad one raises).
local function fetch(client, opname, p, first)
  if first then return client[opname](client, p) end
  local req, opts = prepare(client, opname, p)
  if not req then return nil, opts end
  return client:exchange(opname, req, opts)
end

local function walk(client, opname, params, fname)
  local paging = _M.compile(client.vendor.paging)
  if type(opname) ~= "string" then opname, params = paging.op, opname end
  if opname ~= paging.op then
    error("bad argument #1 to '" .. fname .. "' (" .. client.vendor.name .. " pages through " .. paging.op .. ")", 0)
  end
  local max_pages = _M.option(client, params, "max_pages", _M.MAX_PAGES, fname)
  local too_many = "the walk has more than max_pages (" .. max_pages .. ") pages"
  local concurrency = _M.option(nil, params, "concurrency", _M.CONCURRENCY, fname)
  if concurrency > 64 then error("bad argument #1 to '" .. fname .. "' (concurrency: 1..64 expected)", 0) end
  local p = {}
  for k, v in pairs(params or {}) do if not LOCAL[k] then p[k] = v end end
  local style = paging.style
  style.first(p, paging.max)
  local start = p.offset
  local i, seen, done, later = 0, recent(SEEN_CURSORS), false, nil
  local pre = concurrency > 1 and fetcher.window(client, opname, concurrency, prepare)
  local planned -- the pages known from the first: p, step, n, over
  local function plan(rest)
    local room = max_pages - 1
    planned.n = min(rest.n, room)
    planned.over = rest.n > room and too_many
    pre.plan(planned.p, rest.key, rest.first, rest.step, planned.n)
  end
  local function finish(...)
    done = true
    if pre then pre.close() end
    return ...
  end
  return function()
    if later then
      local err = later
      later = nil
      return finish(i + 1, nil, err)
    end
    if done then return nil end
    local page, err
    if pre and pre.waiting() then
      page, err = pre.take()
    elseif p and not planned then
      page, err = fetch(client, opname, p, i == 0)
    else
      return finish(nil)
    end
    i = i + 1
    if not page then return finish(i, nil, err) end
    local items = type(page) == "table" and paging.items(page)
    if type(items) ~= "table" then
      return finish(i, nil, fail(client, opname, "page " .. i .. " has no '" .. paging.items_name .. "' list"))
    end
    if planned then
      -- a total that grows on the way grows the plan, up to max_pages
      local rest, why = style.rest(planned.p, page, paging, planned.step)
      if why then
        later = fail(client, opname, why)
      elseif rest and rest.n > planned.n then
        plan(rest)
      end
      if not later and i >= 1 + planned.n and planned.over then later = fail(client, opname, planned.over) end
      return i, page, nil, items
    end
    local nxt, why = style.advance(p, page, items, paging, seen)
    if nxt and i >= max_pages then
      nxt, why = nil, too_many
    end
    -- this page is good: hand it out, and the error on the next call
    if why then later = fail(client, opname, why) end
    p = nxt
    if p and pre then
      local rest = i == 1 and style.rest and style.rest(p, page, paging, start and p.offset - start)
      if rest then
        -- the total is known: the remaining pages at once, `concurrency` at a time
        planned = { p = p, step = rest.step }
        plan(rest)
      else
        pre.link(p) -- the next page is asked for while the caller reads this one
      end
    end
    return i, page, nil, items
  end
end

--- Iterates the pages of the client's list operation (or `opname`):
-- `for i, page, err in client:pages(params) do ... end`. On failure the
-- iterator gives `i, nil, err` once, then stops.
-- The first page asks for the largest page size the vendor allows unless
-- `params` says otherwise. A walk ends with a `kind = "paging"` error when a
-- page does not move forward (the same offset or cursor again), when the
-- server's next offset, cursor or total is not one the client would send or
-- believe, or after `max_pages` pages.
-- Pages are asked for ahead of the reader (`concurrency`): once the first
-- page gives the total (offset and page styles), the rest `concurrency` at a
-- time; otherwise the next page as soon as its link is read. They come out
-- in order, each request passes the client's rate limiter, a failing page
-- ends the walk as it would one page at a time, and memory holds at most
-- `concurrency` pages. A walk left early may have asked for those pages.
-- @tparam userapi.client.Client client
-- @tparam[opt] string opname the vendor's list operation (may be left out)
-- @tparam[opt] table params its query parameters, `max_pages` (over the
-- client's option; default @{MAX_PAGES}) and `concurrency` (1..64, default
-- @{CONCURRENCY}; 1 asks for one page at a time)
-- @treturn function the iterator: `i, page`, or `i, nil, err`
-- @raise `bad argument #1 to 'pages'` for an operation that is not the list, or
-- a `max_pages` or `concurrency` out of range
-- @usage for i, page, err in paging.pages(ods, { limit = 100, concurrency = 8 }) do
--   if err then error(err) end
--   print(i, #page.results)
-- end
function _M.pages(client, opname, params)
  local iter = walk(client, opname, params, "pages")
  return function()
    local i, page, err = iter()
    return i, page, err
  end
end

--- Iterates every user of the list operation, page by page, lazily:
-- `for user in client:each_user{ ... } do ... end`. Raises the structured
-- error if a page fails (use `pages` for the `nil, err` form).
-- @tparam userapi.client.Client client
-- @tparam[opt] table params the list operation's query parameters, and
-- `max_pages` and `concurrency` as for @{pages}
-- @treturn function the iterator of users
-- @raise the @{userapi.errors.Error} of the failed page
-- @usage for u in paging.each_user(sigfox, { limit = 100 }) do print(u.id) end
function _M.each_user(client, params)
  local next_page = walk(client, params, nil, "each_user")
  local items, k = nil, 0
  return function()
    while true do
      if items then
        k = k + 1
        local u = items[k]
        if u ~= nil then return u end
      end
      local _, page, err, list = next_page()
      if err then error(err, 0) end
      if not page then return nil end
      items, k = list, 0
    end
  end
end

return _M
