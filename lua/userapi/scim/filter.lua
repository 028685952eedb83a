--- SCIM filters and attribute paths (RFC 7644 §3.4.2.2, §3.5.2): parsed into
-- a small tree, evaluated over a SCIM resource (a decoded JSON object).
-- Attribute names compare case-insensitively; string values too, except
-- `id`, `externalId` and `meta.location` (caseExact in RFC 7643 §4.1, §3.1).
-- A filter that does not parse raises `{ scim = "invalidFilter", detail = ... }`.
-- @module userapi.scim.filter
local type, ipairs, pairs, tostring, tonumber, error = type, ipairs, pairs, tostring, tonumber, error
local lower, sub, find = string.lower, string.sub, string.find

local _M = {}

local ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"
local CORE = "urn:ietf:params:scim:schemas:core:2.0:user"
_M.ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

local CASE_EXACT = { id = true, externalid = true, ["meta.location"] = true }

local function fail(msg, kind) error({ scim = kind or "invalidFilter", detail = msg }, 0) end

-- ---- tokens -------------------------------------------------------------------

local WORD = "^[%w_%$%-%.:]+"

local function tokens(s)
  local out, i, n = {}, 1, #s
  while i <= n do
    local c = sub(s, i, i)
    if c:match("%s") then
      i = i + 1
    elseif c == "(" or c == ")" or c == "[" or c == "]" then
      out[#out + 1] = { t = c }
      i = i + 1
    elseif c == '"' then
      local j = i + 1
      while j <= n and sub(s, j, j) ~= '"' do
        if sub(s, j, j) == "\\" then j = j + 1 end
        j = j + 1
      end
      if j > n then fail("unterminated string in filter") end
      local decoded = require("userapi.json").decode(sub(s, i, j))
      if type(decoded) ~= "string" then fail("bad string in filter") end
      out[#out + 1] = { t = "value", v = decoded }
      i = j + 1
    else
      local w = s:match(WORD, i)
      if not w then fail("unexpected '" .. c .. "' in filter") end
      -- "emails[type eq x].value": a "." after "]" starts a sub-attribute
      out[#out + 1] = { t = "word", v = w }
      i = i + #w
    end
  end
  return out
end

-- ---- attribute paths ----------------------------------------------------------

--- An attribute path split into lower-cased parts: `name.givenName` ->
-- `{ "name", "givenname" }`; the enterprise extension's URN prefix becomes its
-- own first part (its key in a resource). The core schema's URN is dropped.
-- @tparam string s
-- @treturn {string,...}
function _M.split_path(s)
  local l = lower(s)
  if sub(l, 1, #ENTERPRISE + 1) == ENTERPRISE .. ":" then
    local rest = _M.split_path(sub(s, #ENTERPRISE + 2))
    table.insert(rest, 1, ENTERPRISE)
    return rest
  end
  if sub(l, 1, #CORE + 1) == CORE .. ":" then l = sub(l, #CORE + 2) end
  if find(l, "^urn:") then fail("unknown schema in attribute path '" .. s .. "'") end
  local parts = {}
  for p in l:gmatch("[^%.]+") do parts[#parts + 1] = p end
  if #parts == 0 or #parts > 2 then fail("bad attribute path '" .. s .. "'") end
  return parts
end

-- ---- parser -------------------------------------------------------------------

local P = {}
P.__index = P

function P:peek() return self.toks[self.i] end
function P:next() local t = self.toks[self.i]; self.i = self.i + 1; return t end
function P:is_word(w)
  local t = self:peek()
  return t and t.t == "word" and lower(t.v) == w
end

local OPS = { eq = true, ne = true, co = true, sw = true, ew = true, gt = true, ge = true, lt = true, le = true }

local function comp_value(t)
  if not t then fail("comparison value missing") end
  if t.t == "value" then return t.v end
  if t.t == "word" then
    local w = lower(t.v)
    if w == "true" then return true elseif w == "false" then return false elseif w == "null" then return nil end
    local n = tonumber(t.v)
    if n and t.v:match("^%-?%d") then return n end
  end
  -- RFC 7644 §3.4.2.2: compValue is JSON (false, null, true, a number or a string)
  fail("comparison value must be a JSON string, number, true, false or null (got '" .. tostring(t.v or t.t) .. "')")
end

function P:attr_exp(path)
  local opt = self:next()
  if not opt or opt.t ~= "word" then fail("operator expected after '" .. path .. "'") end
  local op = lower(opt.v)
  local parts = _M.split_path(path)
  if op == "pr" then return { op = "pr", path = parts, raw = path } end
  if not OPS[op] then fail("unknown operator '" .. opt.v .. "'") end
  return { op = op, path = parts, raw = path, value = comp_value(self:next()),
           exact = CASE_EXACT[table.concat(parts, ".")] }
end

-- a request's filter is bounded before it is walked: its nesting (each
-- "(", "not (" and "[" is a level of recursion, parsing and matching) and its
-- comparisons (an "or" chain is as deep a tree to match); far above what an
-- identity provider sends, far below a Lua stack overflow
_M.MAX_DEPTH, _M.MAX_TERMS = 50, 200

function P:enter()
  self.depth = self.depth + 1
  if self.depth > _M.MAX_DEPTH then fail("filter nests deeper than " .. _M.MAX_DEPTH .. " levels") end
end

function P:unary()
  self.terms = self.terms + 1
  if self.terms > _M.MAX_TERMS then fail("filter has more than " .. _M.MAX_TERMS .. " comparisons") end
  self:enter()
  local node = self:unary_in()
  self.depth = self.depth - 1
  return node
end

function P:unary_in()
  if self:is_word("not") then
    self:next()
    local t = self:next()
    if not t or t.t ~= "(" then fail("'not' must be followed by '('") end
    local inner = self:or_expr()
    t = self:next()
    if not t or t.t ~= ")" then fail("')' expected") end
    return { op = "not", a = inner }
  end
  local t = self:next()
  if not t then fail("filter ends too early") end
  if t.t == "(" then
    local inner = self:or_expr()
    local close = self:next()
    if not close or close.t ~= ")" then fail("')' expected") end
    return inner
  end
  if t.t ~= "word" then fail("attribute expected") end
  local nt = self:peek()
  if nt and nt.t == "[" then
    self:next()
    local inner = self:or_expr()
    local close = self:next()
    if not close or close.t ~= "]" then fail("']' expected") end
    return { op = "has", path = _M.split_path(t.v), raw = t.v, filter = inner }
  end
  return self:attr_exp(t.v)
end

function P:and_expr()
  local a = self:unary()
  while self:is_word("and") do
    self:next()
    a = { op = "and", a = a, b = self:unary() }
  end
  return a
end

function P:or_expr()
  local a = self:and_expr()
  while self:is_word("or") do
    self:next()
    a = { op = "or", a = a, b = self:and_expr() }
  end
  return a
end

local parsed, n_parsed = {}, 0

--- Parses a filter (the tree is shared: callers do not change it).
-- @tparam string s
-- @treturn table the tree
-- @raise `{ scim = "invalidFilter", detail }`
function _M.parse(s)
  local tree = parsed[s]
  if tree then return tree end
  if type(s) ~= "string" or s:match("^%s*$") then fail("empty filter") end
  local p = setmetatable({ toks = tokens(s), i = 1, depth = 0, terms = 0 }, P)
  tree = p:or_expr()
  if p:peek() then fail("unexpected '" .. tostring(p:peek().v or p:peek().t) .. "' in filter") end
  -- providers repeat their filters (a lookup per person): the last 200 are kept, read-only
  if n_parsed >= 200 then parsed, n_parsed = {}, 0 end
  parsed[s], n_parsed = tree, n_parsed + 1
  return tree
end

-- ---- evaluation ---------------------------------------------------------------

--- The value of key k in object t, the key compared case-insensitively.
function _M.get(t, k)
  if type(t) ~= "table" then return nil end
  local v = t[k]
  if v ~= nil then return v, k end
  for key, x in pairs(t) do
    if type(key) == "string" and lower(key) == k then return x, key end
  end
end
local get = _M.get

local function is_array(v) return type(v) == "table" and (v[1] ~= nil or require("userapi.json").is_empty_array(v)) end

-- every value at path in r (multi-valued attributes flattened; a complex
-- multi-valued attribute without a sub-attribute gives its elements' `value`)
local function values(r, path)
  local out = {}
  local function walk(v, i)
    if v == nil then return end
    if is_array(v) then
      for _, x in ipairs(v) do walk(x, i) end
      return
    end
    if i > #path then
      if type(v) == "table" then
        local inner = get(v, "value")
        if inner ~= nil then out[#out + 1] = inner end
      else
        out[#out + 1] = v
      end
      return
    end
    if type(v) == "table" then walk(get(v, path[i]), i + 1) end
  end
  walk(r, 1)
  return out
end

local function norm(a, exact)
  if type(a) == "string" and not exact then return lower(a) end
  return a
end

local COMPARE = {
  eq = function(a, b) return a == b end,
  ne = function(a, b) return a ~= b end,
  co = function(a, b) return type(a) == "string" and type(b) == "string" and find(a, b, 1, true) ~= nil end,
  sw = function(a, b) return type(a) == "string" and type(b) == "string" and sub(a, 1, #b) == b end,
  ew = function(a, b) return type(a) == "string" and type(b) == "string" and (#b == 0 or sub(a, -#b) == b) end,
  gt = function(a, b) return type(a) == type(b) and type(a) ~= "boolean" and a > b end,
  ge = function(a, b) return type(a) == type(b) and type(a) ~= "boolean" and a >= b end,
  lt = function(a, b) return type(a) == type(b) and type(a) ~= "boolean" and a < b end,
  le = function(a, b) return type(a) == type(b) and type(a) ~= "boolean" and a <= b end,
}

local function compare(node, r)
  local exact = node.exact
  local want = norm(node.value, exact)
  local vs = values(r, node.path)
  if node.op == "ne" then
    for _, v in ipairs(vs) do if norm(v, exact) == want then return false end end
    return true
  end
  if node.op == "eq" and want == nil then return #vs == 0 end
  for _, v in ipairs(vs) do
    if COMPARE[node.op](norm(v, exact), want) then return true end
  end
  return false
end

--- Whether resource r matches the filter tree.
-- @tparam table node a tree from @{parse}
-- @tparam table r the resource
-- @treturn boolean
function _M.match(node, r)
  local op = node.op
  if op == "and" then return _M.match(node.a, r) and _M.match(node.b, r) end
  if op == "or" then return _M.match(node.a, r) or _M.match(node.b, r) end
  if op == "not" then return not _M.match(node.a, r) end
  if op == "pr" then
    for _, v in ipairs(values(r, node.path)) do
      if v ~= require("userapi.json").null and v ~= "" then return true end
    end
    return false
  end
  if op == "has" then
    local v = r
    for _, p in ipairs(node.path) do v = get(v, p) end
    if type(v) ~= "table" then return false end
    if not is_array(v) then v = { v } end
    for _, elem in ipairs(v) do
      if type(elem) == "table" and _M.match(node.filter, elem) then return true end
    end
    return false
  end
  return compare(node, r)
end

--- What a vendor can look up for this filter: the value of `userName eq`,
-- `emails.value eq` or `emails[value eq]` at the top (or under an `and`),
-- and the attribute it was found on; nil when the filter needs a walk.
-- @tparam table node
-- @treturn ?string the value
-- @treturn ?string `"username"`, `"email"` or `"externalid"`
function _M.lookup_key(node)
  if node.op == "and" then
    local v, k = _M.lookup_key(node.a)
    if v then return v, k end
    return _M.lookup_key(node.b)
  end
  if node.op == "eq" and type(node.value) == "string" then
    local p = table.concat(node.path, ".")
    if p == "username" then return node.value, "username" end
    if p == "emails.value" or p == "emails" then return node.value, "email" end
    if p == "externalid" then return node.value, "externalid" end
  end
  if node.op == "has" and node.path[1] == "emails" and #node.path == 1 then
    local v, k = _M.lookup_key(node.filter)
    if k == "username" then return nil end
    if v and (k == "email" or table.concat(node.filter.path or {}, ".") == "value") then return v, "email" end
    if node.filter.op == "eq" and node.filter.path and node.filter.path[1] == "value" then
      return node.filter.value, "email"
    end
  end
end

-- ---- PATCH paths --------------------------------------------------------------

--- A PATCH path: `{ path = parts, filter = tree|nil, sub = name|nil }` for
-- `attr`, `attr.sub`, `attr[filter]` and `attr[filter].sub`.
-- @tparam string s
-- @treturn table
-- @raise `{ scim = "invalidPath" }`
function _M.patch_path(s)
  if type(s) ~= "string" or s == "" then fail("empty path", "invalidPath") end
  local ok, res = pcall(function()
    local open = find(s, "[", 1, true)
    if not open then return { path = _M.split_path(s) } end
    local close = s:find("]", open, true)
    if not close then fail("']' expected in path") end
    local rest = sub(s, close + 1)
    local subattr
    if rest ~= "" then
      subattr = rest:match("^%.([%w_%$%-]+)$")
      if not subattr then fail("bad path after ']'") end
      subattr = lower(subattr)
    end
    return { path = _M.split_path(sub(s, 1, open - 1)), filter = _M.parse(sub(s, open + 1, close - 1)), sub = subattr }
  end)
  if ok then return res end
  if type(res) == "table" then error({ scim = "invalidPath", detail = res.detail }, 0) end
  error(res, 0)
end

return _M
