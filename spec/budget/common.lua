-- Measures on what the simulator recorded: arrival times and counts per path.
local _M = {}

--- The arrival times (seconds) of the recorded requests, oldest first.
function _M.times(requests, vendor)
  local t = {}
  for _, r in ipairs(requests) do
    if not vendor or r.vendor == vendor then t[#t + 1] = r.time end
  end
  table.sort(t)
  return t
end

--- The most requests inside any window [t, t + span) of the sorted times.
function _M.busiest(times, span)
  local best, first = 0, 1
  for i = 1, #times do
    while times[i] - times[first] >= span do first = first + 1 end
    best = math.max(best, i - first + 1)
  end
  return best
end

--- How many recorded requests went to each path.
function _M.count_paths(requests)
  local counts = {}
  for _, r in ipairs(requests) do counts[r.path] = (counts[r.path] or 0) + 1 end
  return counts
end

--- n argument lists of one operation without arguments.
function _M.empty_items(n)
  local t = {}
  for i = 1, n do t[i] = {} end
  return t
end

return _M
