-- Ordered collection of records keyed by one field, with lazily generated
-- records: /_sim/seed appends integers k to the list and `gen(k)` builds the
-- record on demand, so a million generated users cost a few MB.  A generated
-- record is cached (and so becomes mutable) the first time get() returns it.
local Store = {}
Store.__index = Store

-- opts: key (field name), gen(k) -> record, parse(key) -> k or nil
function Store.new(opts)
  local s = setmetatable({ keyf = opts.key, gen = opts.gen, parse = opts.parse }, Store)
  s:clear()
  return s
end

function Store:clear()
  self.list, self.byKey, self.mat, self.dead, self.gen_n = {}, {}, {}, {}, 0
end

function Store:count() return #self.list end

-- Record at position i (generated records are built fresh unless cached).
function Store:at(i)
  local e = self.list[i]
  if type(e) == "number" then return self.mat[e] or self.gen(e) end
  return e
end

function Store:add(rec)
  self.list[#self.list + 1] = rec
  self.byKey[rec[self.keyf]] = rec
  return rec
end

function Store:generate(n)
  local list, first = self.list, self.gen_n + 1
  local len = #list
  for k = first, first + n - 1 do len = len + 1; list[len] = k end
  self.gen_n = first + n - 1
  return first, self.gen_n
end

local function gen_k(self, key)
  if not self.parse or type(key) ~= "string" then return nil end
  local k = self.parse(key)
  if k and k >= 1 and k <= self.gen_n and not self.dead[k] then return k end
end

function Store:get(key)
  local r = self.byKey[key]
  if r then return r end
  local k = gen_k(self, key)
  if not k then return nil end
  r = self.mat[k]
  if not r then r = self.gen(k); self.mat[k] = r end
  return r
end

function Store:remove(key)
  local r, k = self.byKey[key], nil
  if not r then k = gen_k(self, key); if not k then return false end end
  local list = self.list
  for i = 1, #list do
    local e = list[i]
    if (r and e == r) or (k and e == k) then table.remove(list, i); break end
  end
  if r then self.byKey[key] = nil else self.dead[k] = true; self.mat[k] = nil end
  return true
end

-- Array of all records for which pred(rec) is true (all when pred is nil).
function Store:filter(pred)
  local out, n = {}, 0
  for i = 1, #self.list do
    local r = self:at(i)
    if not pred or pred(r) then n = n + 1; out[n] = r end
  end
  return out
end

function Store:find(pred)
  for i = 1, #self.list do
    local r = self:at(i)
    if pred(r) then return r end
  end
end

-- Slice [offset+1, offset+limit] of the unfiltered list.
function Store:slice(offset, limit)
  local out = {}
  for i = offset + 1, math.min(#self.list, offset + limit) do out[#out + 1] = self:at(i) end
  return out
end

return Store
