-- Base64 (RFC 4648, with padding) written apart from the library, so a spec
-- or a spec server can look for a secret's Basic encoding without trusting
-- the code under test. Plain Lua 5.1 arithmetic: runs on LuaJIT and 5.4.
local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

return function(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    for k, shift in ipairs{ 262144, 4096, 64, 1 } do
      local v = math.floor(n / shift) % 64
      out[#out + 1] = ((k == 3 and not b) or (k == 4 and not c)) and "=" or ALPHABET:sub(v + 1, v + 1)
    end
  end
  return table.concat(out)
end
