-- Base64 (RFC 4648, with padding) written apart from the library, so a spec
-- or a spec server can look for a secret's Basic encoding without trusting
-- the code under test. Plain Lua 5.1 arithmetic: runs on LuaJIT and 5.4.
local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

return function(s)
  return ((s:gsub(".", function(c)
    local b, bits = c:byte(), ""
    for i = 8, 1, -1 do bits = bits .. (math.floor(b / 2 ^ (i - 1)) % 2) end
    return bits
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local n = 0
    for i = 1, 6 do n = n * 2 + (x:sub(i, i) == "1" and 1 or 0) end
    return ALPHABET:sub(n + 1, n + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end
