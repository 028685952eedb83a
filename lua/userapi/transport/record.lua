--- A transport that records requests instead of sending them: the dry run
-- of the `userapi` command. A client made with it checks, builds, pages and
-- runs bulk as usual; each request it would send lands in a list, answered
-- with an empty 204, and `describe` prints it with the credentials the real
-- transport would add, redacted.
--
-- Credential exchanges (requests with `auth = false`: OIDC discovery and the
-- token request) are answered with a placeholder token and not recorded, so a
-- dry run never contacts a token endpoint.
-- @module userapi.transport.record
-- @usage
-- local record = require "userapi.transport.record"
-- local sent = {}
-- local kandji = userapi.kandji{ subdomain = "acme", token = T, transport = record.module(sent) }
-- kandji:delete_user(id)
-- io.write(record.describe(sent[1]))   -- DELETE https://acme.api.kandji.io/api/v1/users/...
local core = require "userapi.core"

local setmetatable, pairs, ipairs, tostring, type = setmetatable, pairs, ipairs, tostring, type
local concat, sort = table.concat, table.sort

local _M = {}

-- what a token endpoint (and a discovery document) would answer
local PLACEHOLDER = '{"token_endpoint":"https://dry-run.invalid/token",' ..
                    '"access_token":"dry-run-token","token_type":"Bearer","expires_in":3600}'

local Recorder = {}
Recorder.__index = Recorder

-- a request as recorded: what was asked, and the auth the transport held
local function entry(self, req)
  local e = { method = req.method, url = req.url, query = req.query, headers = req.headers,
              body = req.body, auth = req.auth ~= false and self.auth or nil, secrets = req.secrets }
  self.sink[#self.sink + 1] = e
  return e
end

--- Records one request; answers 204 with an empty body.
-- @tparam table req a request from `client:build`
-- @treturn int status
-- @treturn string body
-- @treturn string headers
function Recorder:request(req)
  if req.auth == false then return 200, PLACEHOLDER, "Content-Type: application/json\r\n" end
  entry(self, req)
  return 204, "", ""
end

--- Holds the credentials later requests would carry.
function Recorder:set_auth(a) self.auth = a end

--- Nothing to close.
function Recorder:close() end

-- the multi interface of bulk: every added request completes at the next wait
local Multi = {}
Multi.__index = Multi

function Multi:add(req)
  self.n = self.n + 1
  entry(self.recorder, req)
  self.ready[#self.ready + 1] = { id = self.n, status = 204, body = "", headers = "" }
  return self.n
end
function Multi:pending() return #self.ready end
function Multi:wait()
  local done = self.ready
  self.ready = {}
  return done
end
function Multi:close() self.ready = {} end

--- A multi whose transfers complete at once.
function Recorder:multi() return setmetatable({ recorder = self, n = 0, ready = {} }, Multi) end

--- A transport module (for a client's `transport` option) whose requests
-- are appended to `sink`.
-- @tparam table sink where the requests go, in the order they were made
-- @treturn table the module: `name`, `new`, `sleep` (returns at once), `now`
function _M.module(sink)
  return {
    name = "record",
    new = function(opts) return setmetatable({ sink = sink, auth = opts and opts.auth }, Recorder) end,
    sleep = function() end,
    now = core.now,
  }
end

-- the one redaction algorithm (userapi.secrets)
local redact = require("userapi.secrets").redact

-- the secret values of an auth table, as given and percent-encoded
local function auth_secrets(auth, extra, own)
  local list = {}
  for _, s in ipairs(extra or {}) do list[#list + 1] = s end
  for _, s in ipairs(own or {}) do list[#list + 1] = s end -- the request's body secrets
  for _, k in ipairs({ "key", "token", "password" }) do
    local v = auth and auth[k]
    if type(v) == "string" then
      list[#list + 1] = v
      list[#list + 1] = core.escape(v)
    end
  end
  return list
end

-- the Authorization header line, or the query pair, the real transport would add
local function auth_form(auth)
  if not auth then return nil end
  if auth.scheme == "apikey" and auth["in"] == "query" then return nil, "apikey=[REDACTED]" end
  if auth.scheme == "apikey" then return "Authorization: Apikey [REDACTED]" end
  if auth.scheme == "basic" then return "Authorization: Basic [REDACTED]" end
  return "Authorization: Bearer [REDACTED]"
end

--- Renders a recorded request as text: the request line with the query, the
-- headers sorted, credentials redacted, then the body.
-- @tparam table e a recorded request
-- @tparam[opt] {string,...} secrets more values to redact (a client's `secrets`)
-- @treturn string
function _M.describe(e, secrets)
  local url = e.url
  if e.query and next(e.query) then url = core.url(url, e.query) end
  local header, pair = auth_form(e.auth)
  if pair then url = url .. (url:find("?", 1, true) and "&" or "?") .. pair end
  local headers = { header }
  for k, v in pairs(e.headers or {}) do headers[#headers + 1] = k .. ": " .. tostring(v) end
  sort(headers)
  secrets = auth_secrets(e.auth, secrets, e.secrets)
  local lines = { e.method .. " " .. redact(url, secrets) }
  for _, h in ipairs(headers) do lines[#lines + 1] = h end
  if e.body then
    lines[#lines + 1] = ""
    lines[#lines + 1] = redact(e.body, secrets)
  end
  return concat(lines, "\n") .. "\n"
end

return _M
