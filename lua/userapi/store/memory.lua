--- The in-process budget: one client's sliding windows, in a Lua table.
-- The limiter uses it when no shared store is configured, and whenever the
-- shared store fails (it then keeps the client under its own budget alone).
-- @module userapi.store.memory
local max, setmetatable = math.max, setmetatable

local _M = {}
local Memory = {}
Memory.__index = Memory

--- A store keeping its windows in this Lua state.
-- @tparam function now milliseconds, monotonic (the client's clock)
-- @treturn table the store
function _M.new(now)
  return setmetatable({ now = now, rings = {}, last = 0 }, Memory)
end

--- Reserves the next free slot and returns how long to wait for it.
-- Each window keeps the slots of its last `n` requests in a ring: the new
-- slot is at least one span (plus margin) after the oldest of them, and
-- never before the previous slot, so slots are handed out in order and no
-- span ever holds more than `n` of them. A slot more than `max_wait` ms away
-- is not taken (the caller will not wait that long).
-- @tparam table windows `{ { n = N, span = ms, margin = ms }, ... }`
-- @tparam[opt] number max_wait the longest acceptable wait
-- @treturn number milliseconds from now until the slot
function Memory:reserve(windows, max_wait)
  local t = self.now()
  local slot = max(t, self.last, self.paused_until or 0)
  for j, w in ipairs(windows) do
    local ring = self.rings[j]
    if not ring then ring = { i = 0 } self.rings[j] = ring end
    local oldest = ring[ring.i % w.n + 1]
    if oldest then slot = max(slot, oldest + w.span + w.margin) end
  end
  if max_wait and slot - t > max_wait then return slot - t end
  for j, w in ipairs(windows) do
    local ring = self.rings[j]
    ring.i = ring.i % w.n + 1
    ring[ring.i] = slot
  end
  self.last = slot
  return slot - t
end

--- Records a slot the shared store gave, `delay` ms from now: should the
-- store fail later, this client's own windows already hold its recent requests.
-- @tparam table windows as for `reserve`
-- @tparam number delay milliseconds from now
function Memory:note(windows, delay)
  local slot = self.now() + delay
  for j, w in ipairs(windows) do
    local ring = self.rings[j]
    if not ring then ring = { i = 0 } self.rings[j] = ring end
    ring.i = ring.i % w.n + 1
    ring[ring.i] = slot
  end
  if slot > self.last then self.last = slot end
end

--- Holds every later slot until `ms` from now (the vendor asked for a pause).
-- @tparam number ms the pause
function Memory:pause(ms)
  self.paused_until = max(self.paused_until or 0, self.now() + ms)
end

return _M
