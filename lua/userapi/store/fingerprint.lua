--- The name of a vendor tenant in a shared store: the vendor, the base URL and
-- a SHA-256 fingerprint of the credential, so that clients holding the same
-- credential share one budget and the store never holds the secret itself.
-- Pure Lua (LuaJIT's `bit`, or Lua 5.4's operators), so nginx workers and a
-- plain-Lua job compute the same key.
-- @module userapi.store.fingerprint
local byte, char, rep, format, concat = string.byte, string.char, string.rep, string.format, table.concat
local floor = math.floor

local _M = {}

-- 32-bit operations, results in 0..2^32-1: LuaJIT's bit, Lua 5.2's bit32,
-- Lua 5.3+'s operators (through load: LuaJIT would not parse them), else
-- plain arithmetic (Lua 5.1 without a bit library; slow, but run once per client)
local function u(x) return x % 4294967296 end

local function from_bit(bit)
  local band, bxor, bnot, rshift, ror = bit.band, bit.bxor, bit.bnot, bit.rshift, bit.ror or bit.rrotate
  return {
    band = function(a, b) return u(band(a, b)) end,
    bxor = function(a, b, c) return u(bxor(a, b, c or 0)) end,
    bnot = function(a) return u(bnot(a)) end,
    shr = function(a, n) return u(rshift(a, n)) end,
    ror = function(a, n) return u(ror(a, n)) end,
  }
end

local OPERATORS = [[return {
  band = function(a, b) return a & b end,
  bxor = function(a, b, c) return a ~ b ~ (c or 0) end,
  bnot = function(a) return ~a & 0xffffffff end,
  shr = function(a, n) return a >> n end,
  ror = function(a, n) return ((a >> n) | (a << (32 - n))) & 0xffffffff end,
}]]

local function arithmetic()
  local function bitwise(a, b, both)
    local r, p = 0, 1
    for _ = 1, 32 do
      local x, y = a % 2, b % 2
      if (both and x + y == 2) or (not both and x + y == 1) then r = r + p end
      a, b, p = (a - x) / 2, (b - y) / 2, p * 2
    end
    return r
  end
  local function shr(a, n) return floor(a / 2 ^ n) end
  return {
    band = function(a, b) return bitwise(a, b, true) end,
    bxor = function(a, b, c) return bitwise(bitwise(a, b, false), c or 0, false) end,
    bnot = function(a) return 4294967295 - a end,
    shr = shr,
    ror = function(a, n) return shr(a, n) + (a % 2 ^ n) * 2 ^ (32 - n) end,
  }
end

local B
do
  -- never a bit.lua of the working directory (util.optional_require)
  local optional = require("userapi.util").optional_require
  local bit = optional("bit") or optional("bit32")
  if bit then
    B = from_bit(bit)
  else
    local chunk = (loadstring or load)(OPERATORS) -- luacheck: ignore 113
    B = chunk and chunk() or arithmetic()
  end
end
local band, bxor, bnot, shr, ror = B.band, B.bxor, B.bnot, B.shr, B.ror

local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

local function u32(x) return x % 4294967296 end

local function be32(x)
  return char(floor(x / 16777216) % 256, floor(x / 65536) % 256, floor(x / 256) % 256, x % 256)
end

local function block(H, msg, at)
  local w = {}
  for i = 0, 15 do
    local a, b, c, d = byte(msg, at + i * 4, at + i * 4 + 3)
    w[i] = ((a * 256 + b) * 256 + c) * 256 + d
  end
  for i = 16, 63 do
    local x, y = w[i - 15], w[i - 2]
    local s0 = bxor(ror(x, 7), ror(x, 18), shr(x, 3))
    local s1 = bxor(ror(y, 17), ror(y, 19), shr(y, 10))
    w[i] = u32(w[i - 16] + s0 + w[i - 7] + s1)
  end
  local a, b, c, d, e, f, g, h = H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8]
  for i = 0, 63 do
    local S1 = bxor(ror(e, 6), ror(e, 11), ror(e, 25))
    local ch = bxor(band(e, f), band(bnot(e), g))
    local t1 = h + S1 + ch + K[i + 1] + w[i]
    local S0 = bxor(ror(a, 2), ror(a, 13), ror(a, 22))
    local maj = bxor(band(a, b), band(a, c), band(b, c))
    h, g, f, e, d, c, b, a = g, f, e, u32(d + t1), c, b, a, u32(t1 + S0 + maj)
  end
  H[1], H[2], H[3], H[4] = u32(H[1] + a), u32(H[2] + b), u32(H[3] + c), u32(H[4] + d)
  H[5], H[6], H[7], H[8] = u32(H[5] + e), u32(H[6] + f), u32(H[7] + g), u32(H[8] + h)
end

--- SHA-256 of a string, as 64 lower-case hex digits.
-- @tparam string msg
-- @treturn string the digest
function _M.sha256(msg)
  local H = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
  local bits = #msg * 8
  msg = msg .. "\128" .. rep("\0", (55 - #msg) % 64) .. be32(floor(bits / 4294967296)) .. be32(bits % 4294967296)
  for at = 1, #msg, 64 do block(H, msg, at) end
  local out = {}
  for i = 1, 8 do out[i] = format("%08x", H[i]) end
  return concat(out)
end

--- The store key of a tenant: `vendor:fingerprint`, the fingerprint taken
-- over the base URL and the credential's parts.
-- @tparam string vendor the vendor's name
-- @tparam string base_url the client's base URL
-- @tparam {string,...} parts the credential (API key, login and password, client id and secret)
-- @treturn string the key
function _M.tenant(vendor, base_url, parts)
  return vendor .. ":" .. _M.sha256(base_url .. "\0" .. concat(parts, "\0")):sub(1, 32)
end

return _M
