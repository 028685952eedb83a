-- cjson wrapper.  lua-cjson 2.1.0 encodes every empty table as {}, so arrays
-- that may be empty are marked: either with json.array(t) or by living under a
-- key that is always an array in the vendor models (ARRAY_KEYS).  encode()
-- swaps such empty tables for a sentinel string, encodes, then restores them.
local cjson = require "cjson"

local M = { null = cjson.null }

local ARR = { __name = "json.array" }
function M.array(t) return setmetatable(t or {}, ARR) end
function M.is_array(t) return getmetatable(t) == ARR end

local ARRAY_KEYS = {}
for k in ([[results records data permissions groups identity_providers profiles
  errors loc group_ids profileIds profileId roles perms actions resources allowedMethods
  user_ids user_types]]):gmatch("%S+") do ARRAY_KEYS[k] = true end

local SENT = "\1[]\1"
local SENT_PAT = ('"\\u0001[]\\u0001"'):gsub("%p", "%%%0")

local function mark(t, undo, depth)
  if depth > 64 then return end
  for k, v in pairs(t) do
    if type(v) == "table" then
      if next(v) == nil then
        if getmetatable(v) == ARR or ARRAY_KEYS[k] then
          undo[#undo + 1] = t; undo[#undo + 1] = k; undo[#undo + 1] = v
          t[k] = SENT
        end
      else
        mark(v, undo, depth + 1)
      end
    end
  end
end

function M.encode(v)
  if type(v) == "table" and next(v) == nil and getmetatable(v) == ARR then return "[]" end
  local undo = {}
  if type(v) == "table" then mark(v, undo, 0) end
  local ok, s = pcall(cjson.encode, v)
  for i = #undo, 1, -3 do undo[i - 2][undo[i - 1]] = undo[i] end
  if not ok then error(s, 2) end
  if #undo > 0 then s = s:gsub(SENT_PAT, "[]") end
  if s:find("\\/", 1, true) then s = s:gsub("\\/", "/") end
  return s
end

-- Returns value or nil, err.
function M.decode(s)
  local ok, v = pcall(cjson.decode, s)
  if ok then return v end
  return nil, tostring(v)
end

-- An array is a table whose keys are exactly 1..n (the empty table counts).
function M.looks_array(t)
  if type(t) ~= "table" then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

return M
