-- Property fuzzing of secret redaction in errors, seeded:
--   lua5.4 fuzz/redact.lua [seconds=20] [seed=os.time()]
-- Random secrets become real clients' credentials (an Opendatasoft API key,
-- a Kandji token, a Sigfox login and password sent as HTTP Basic); random
-- error answers then carry those secrets in every form a server may echo:
-- as given, percent-encoded (upper- and lower-case hex), form-encoded, JSON-
-- escaped, and the Basic blob base64(login:password), anywhere in the body
-- (across the 200-byte excerpt's cut too) and in header values. The error
-- built from the answer (errors.from_response, with the client's secrets) must
-- hold no form of any secret in its message, body, headers or tostring.
-- The encoders are written here and in spec/base64.lua, not taken from the
-- code under test.
-- Nothing is sent: the clients point at a closed loopback port.
-- A failure prints the seed, the secret, the form and where it survived; exit 1.
local userapi = require "userapi"
local errors = require "userapi.errors"
local json = require "userapi.json"

local fuzz = require("fuzz.harness").new("redact")
local random, char, byte, concat, format = math.random, string.char, string.byte, table.concat, string.format

-- ---- the forms a secret travels in ------------------------------------------------

local function percent(s, fmt)
  return (s:gsub("[^%w%-%._~]", function(c) return format(fmt, byte(c)) end))
end

local base64 = require "spec.base64"

local function forms(secret)
  return {
    given = secret,
    percent = percent(secret, "%%%02X"),
    percent_lower = percent(secret, "%%%02x"),
    form = (percent(secret, "%%%02X"):gsub("%%20", "+")),
    json = (secret:gsub('[\\"/]', "\\%0")),
  }
end

-- ---- random secrets and clients ------------------------------------------------------

-- printable ASCII and some UTF-8: what a credential may hold
local ALPHABET = {}
for c = 33, 126 do ALPHABET[#ALPHABET + 1] = char(c) end
for _, s in ipairs{ " ", " ", "é", "€", "%", "+", "/", "=", ":", "&" } do ALPHABET[#ALPHABET + 1] = s end

local function random_secret()
  local out = {}
  for k = 1, random(6, 24) do out[k] = ALPHABET[random(#ALPHABET)] end
  return concat(out)
end

local BASE = "http://127.0.0.1:9"

-- a client of a random vendor with random credentials; its secrets and their forms
local function random_client()
  local r = random(3)
  local ok, c, secrets
  repeat
    if r == 1 then
      local key = random_secret()
      ok, c = pcall(userapi.opendatasoft, { base_url = BASE, apikey = key })
      secrets = { key }
    elseif r == 2 then
      local token = random_secret()
      ok, c = pcall(userapi.kandji, { base_url = BASE, token = token })
      secrets = { token }
    else
      local login, password = random_secret():gsub(":", ""), random_secret()
      ok, c = pcall(userapi.sigfox, { base_url = BASE, login = login, password = password })
      secrets = { password, basic = base64(login .. ":" .. password) }
    end
  until ok -- a credential the client refuses (a control byte...) is drawn again
  return c, secrets
end

-- ---- random answers ---------------------------------------------------------------------

local JUNK = { "error", " ", "token=", "Basic ", "Bearer ", "&", "?", "\"", "%", "+", "/", "\n", "é", "x" }

local function junk(n)
  local out = {}
  for k = 1, n do out[k] = JUNK[random(#JUNK)] end
  return concat(out)
end

-- text holding some forms of the secrets, now and then around byte 200
local function random_text(all)
  local out = { junk(random(0, 10)) }
  for _ = 1, random(1, 4) do
    local f = all[random(#all)]
    if random(4) == 1 then
      local before = concat(out)
      local pad = 200 - #before - random(0, #f)
      if pad > 0 then out[#out + 1] = string.rep("y", pad) end
    end
    out[#out + 1] = f
    out[#out + 1] = junk(random(0, 5))
  end
  return concat(out)
end

local function check(where, s, secrets)
  if type(s) ~= "string" then return end
  -- the mark itself must not join its neighbours into a secret
  local plain = s:gsub("%[REDACTED%]", "\1")
  for name, secret in pairs(secrets) do
    local list = name == "basic" and { basic = secret } or forms(secret)
    for form, text in pairs(list) do
      if plain:find(text, 1, true) then
        local survived = ("the %s form %q of secret %q survived in %s:"):format(form, text, secret, where)
        fuzz.fail("a secret survived", { survived, ("%q"):format(s) })
      end
    end
  end
end

local function check_case()
  local client, secrets = random_client()
  local all = {}
  for name, secret in pairs(secrets) do
    if name == "basic" then all[#all + 1] = secret
    else for _, f in pairs(forms(secret)) do all[#all + 1] = f end end
  end
  local text = random_text(all)
  local body, decoded = text, nil
  if random(2) == 1 then
    body = json.encode{ message = text, detail = random_text(all) }
    decoded = json.decode(body)
  end
  local headers = { ["www-authenticate"] = random_text(all), ["x-echo"] = { random_text(all), random_text(all) } }
  local err = errors.from_response({ vendor = client.vendor.name, operation = "op", secrets = client.secrets },
                                   random(400, 599), body, headers, decoded)
  check("message", err.message, secrets)
  check("body", err.body, secrets)
  check("tostring", tostring(err), secrets)
  for k, v in pairs(err.headers or {}) do
    if type(v) == "table" then
      for i, x in ipairs(v) do check("header " .. k .. "[" .. i .. "]", x, secrets) end
    else
      check("header " .. k, v, secrets)
    end
  end
end

fuzz.run(check_case, 20)
