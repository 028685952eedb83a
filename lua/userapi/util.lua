--- The small things every layer needs, written once: percent-decoding,
-- trimming, the edit distance behind every "did you mean", and loading an
-- optional module without looking in the current directory.
-- This module requires nothing of userapi: any module may require it.
-- @module userapi.util
local type, ipairs, pairs, tonumber, error = type, ipairs, pairs, tonumber, error
local char, gsub, sub, byte = string.char, string.gsub, string.sub, string.byte
local min, max, floor = math.min, math.max, math.floor

local _M = {}

--- Decodes `%XX` escapes (and `+` as a space when `plus` is true: a form or
-- query value).
-- @tparam string s
-- @tparam[opt] boolean plus `+` means a space
-- @treturn string
-- @usage util.unescape("a%40b+c", true)  --> "a@b c"
function _M.unescape(s, plus)
  if plus then s = gsub(s, "+", " ") end
  return (gsub(s, "%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

--- The string without leading and trailing white space.
-- @tparam string s
-- @treturn string
function _M.trim(s)
  return (gsub(gsub(s, "^%s+", ""), "%s+$", ""))
end

--- The edits (insertions, deletions, substitutions and swaps of two
-- neighbours) that turn a into b; past `limit`, `limit + 1`.
-- @tparam string a
-- @tparam string b
-- @tparam[opt] number limit give up past this many edits
-- @treturn number
function _M.distance(a, b, limit)
  limit = limit or math.huge
  if math.abs(#a - #b) > limit then return limit + 1 end
  local prev, prev2 = {}, nil
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur, best = { [0] = i }, i
    for j = 1, #b do
      local cost = byte(a, i) == byte(b, j) and 0 or 1
      cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
      if prev2 and i > 1 and j > 1 and byte(a, i) == byte(b, j - 1) and byte(a, i - 1) == byte(b, j) then
        cur[j] = min(cur[j], prev2[j - 2] + 1)
      end
      if cur[j] < best then best = cur[j] end
    end
    if best > limit then return limit + 1 end
    prev2, prev = prev, cur
  end
  return prev[#b]
end

-- the candidates as a sorted array: an array, or the string keys of a table
local function names_of(candidates)
  local list = {}
  if #candidates > 0 then
    for i, c in ipairs(candidates) do list[i] = c end
  else
    for k in pairs(candidates) do if type(k) == "string" then list[#list + 1] = k end end
  end
  table.sort(list)
  return list
end

--- The candidate nearest to name, when it is a few edits away at most (or
-- shares its first letters: "timeout" of "timeout_ms"), for "did you mean".
-- @tparam string name what was written
-- @tparam table candidates the valid names: an array, or the keys of a table
-- @tparam[opt] function fold maps a name before comparing (`string.lower`)
-- @treturn ?string the nearest, or nil when none is close
-- @usage util.nearest("curser", { "offset", "page", "cursor" })  --> "cursor"
function _M.nearest(name, candidates, fold)
  if type(name) ~= "string" then return nil end
  local typed = fold and fold(name) or name
  local limit = max(2, floor(#name / 4))
  local best, best_d = nil, limit + 1
  for _, c in ipairs(names_of(candidates)) do
    local folded = fold and fold(c) or c
    local d = _M.distance(typed, folded, limit)
    local n = max(4, #typed - 1)
    if #typed >= 4 and d > limit and sub(folded, 1, n) == sub(typed, 1, n) then d = limit end
    if d < best_d then best, best_d = c, d end
  end
  return best
end

-- ---- optional modules ------------------------------------------------------------

-- a path template that names a place independent of the working directory
local function absolute(template) return sub(template, 1, 1) == "/" end

local function search(name, path)
  local file = gsub(name, "%.", "/")
  for template in path:gmatch("[^;]+") do
    if absolute(template) then
      local candidate = gsub(template, "%?", file)
      local f = io.open(candidate, "rb")
      if f then
        f:close()
        return candidate
      end
    end
  end
end

-- the loader of a C module: luaopen_ of the name after any "-", dots as "_"
local function c_loader(name, file)
  local stem = name:match("^[^-]*%-(.*)$") or name
  return package.loadlib(file, "luaopen_" .. gsub(stem, "%.", "_"))
end

--- Loads an optional module (`bit`, `redis`, `resty.redis`, ...) as
-- `require` would, but never from the current directory: only the modules
-- already loaded or preloaded, and the entries of `package.path` and
-- `package.cpath` that are absolute paths. A `./bit.lua` where a command
-- runs is not code of ours.
-- @tparam string name the module
-- @treturn ?any the module, or nil when it is not installed
-- @treturn ?string why not
-- @raise when the module is found but fails to load (its own error)
function _M.optional_require(name)
  local loaded = package.loaded[name]
  if loaded ~= nil then return loaded end
  local loader, file = package.preload[name], ":preload:"
  if not loader then
    file = search(name, package.path)
    if file then
      local err
      loader, err = loadfile(file)
      if not loader then error(err, 0) end
    else
      -- a C module, or a submodule in its root's library ("cjson.safe" in cjson.so)
      file = search(name, package.cpath) or (name:find(".", 1, true) and search(name:match("^[^.]*"), package.cpath))
      if file then
        local err
        loader, err = c_loader(name, file)
        if not loader then return nil, err end
      end
    end
  end
  if not loader then return nil, "module '" .. name .. "' not found" end
  local value = loader(name, file)
  if value == nil then value = package.loaded[name] ~= nil and package.loaded[name] or true end
  package.loaded[name] = value
  return value
end

return _M
