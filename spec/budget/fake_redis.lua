-- A Redis that lies, for spec/budget_store_spec.lua: it speaks RESP, takes
-- any password, loads any script, and answers every EVALSHA (a reservation)
-- with the integer of argument ANSWER_MS, and every other command with +OK.
--   lua5.4 spec/budget/fake_redis.lua --port-file FILE --watch-pid PID --answer-ms N
local socket = require "socket"

local opts = {}
for i = 1, #arg, 2 do opts[arg[i]:gsub("^%-%-", "")] = arg[i + 1] end
local answer = tonumber(opts["answer-ms"] or "3600000")
local server = assert(socket.bind("127.0.0.1", 0))
local _, port = server:getsockname()
local f = assert(io.open(opts["port-file"] .. ".tmp", "w"))
f:write(port)
f:close()
os.rename(opts["port-file"] .. ".tmp", opts["port-file"])
server:settimeout(0.2)

-- one command: *N then N bulk strings
local function command(c)
  local line = c:receive("*l")
  if not line then return nil end
  local n = tonumber(line:match("^%*(%d+)"))
  if not n then return {} end
  local args = {}
  for i = 1, n do
    local len = tonumber(c:receive("*l"):match("^%$(%d+)"))
    args[i] = c:receive(len + 2):sub(1, len)
  end
  return args
end

local clients = {}
while true do
  if opts["watch-pid"] and not os.execute("kill -0 " .. opts["watch-pid"] .. " 2>/dev/null") then break end
  local c = server:accept()
  if c then c:settimeout(1) clients[#clients + 1] = c end
  local readable = socket.select(clients, nil, 0.05)
  for _, cl in ipairs(readable) do
    local args = command(cl)
    if not args then
      for i, x in ipairs(clients) do if x == cl then table.remove(clients, i) end end
      cl:close()
    else
      local cmd = (args[1] or ""):lower()
      if cmd == "script" then cl:send("$40\r\n" .. ("a"):rep(40) .. "\r\n")
      elseif cmd == "evalsha" or cmd == "eval" then cl:send(":" .. answer .. "\r\n")
      else cl:send("+OK\r\n") end
    end
  end
end
