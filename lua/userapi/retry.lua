--- When and how long to wait before trying again: the one retry state
-- machine (`decide`) and the policy it reads. The rate limiter is
-- `userapi.limiter`.
-- @module userapi.retry
local type, tonumber, tostring, min, max, random, floor = type, tonumber, tostring, math.min, math.max, math.random,
  math.floor
local format = string.format
local _M = {}

local DEFAULTS = { max = 3, base_ms = 200, max_ms = 20000, unsafe = false }
local IDEMPOTENT = { GET = true, HEAD = true, PUT = true, DELETE = true, OPTIONS = true }
-- The one list of what is worth another try: the same request may succeed later.
local RETRY_STATUS = { [408] = true, [429] = true, [502] = true, [503] = true, [504] = true }
local TRANSIENT = { connect = true, resolve = true, timeout = true, recv = true, send = true }
-- the request never left: safe to send again whatever the method
local NOT_SENT = { connect = true, resolve = true }
-- the server speaks for every request of the client: a batch pauses as a whole
local THROTTLE = { [429] = true, [503] = true }

--- True when an answer's status, or a transport failure's kind, is worth
-- another try (`err.retryable`): 408, 429, 502, 503, 504; timeout, connect,
-- resolve, send, recv.
-- @tparam ?int status the HTTP status
-- @tparam ?string kind the transport failure's kind
-- @treturn boolean
function _M.retryable(status, kind)
  return (status and RETRY_STATUS[status]) or (kind and TRANSIENT[kind]) or false
end

--- The retry policy from the `retries` option: a table (merged over the
-- defaults), false (never), or nil (defaults).
-- @tparam[opt] table|false opt the `retries` option
-- @tparam[opt=3] int opt.max retries after the first try
-- @tparam[opt=200] int opt.base_ms the first backoff (doubled each time, full jitter)
-- @tparam[opt=20000] int opt.max_ms the longest wait, also for `Retry-After`
-- @tparam[opt=false] boolean opt.unsafe retry POST and PATCH too
-- @treturn table|false the policy
-- @raise on an unknown option
-- @usage userapi.kandji{ subdomain = "acme", token = T, retries = { max = 5 } }
function _M.policy(opt)
  if opt == false then return false end
  if opt ~= nil and type(opt) ~= "table" then error("userapi: retries must be a table or false", 3) end
  local p = {}
  for k, v in pairs(DEFAULTS) do p[k] = v end
  for k, v in pairs(opt or {}) do
    if DEFAULTS[k] == nil then error("userapi: unknown retries option '" .. tostring(k) .. "'", 3) end
    p[k] = v
  end
  return p
end

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9,
                 Oct = 10, Nov = 11, Dec = 12 }

-- Seconds from now until an IMF-fixdate ("Wed, 21 Oct 2015 07:28:00 GMT").
local function http_date_delay(s)
  -- fixed widths: a server's "year 99999999999" must not reach os.time,
  -- which raises on a date it cannot represent
  local d, mon, y, h, mi, sec = s:match("^%a%a%a, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if not d or not MONTHS[mon] then return nil end
  local t = { year = tonumber(y), month = MONTHS[mon], day = tonumber(d), hour = tonumber(h),
              min = tonumber(mi), sec = tonumber(sec), isdst = false }
  local now = os.time()
  -- os.time reads local time; correct by the zone offset of now
  local utc_now = os.time(os.date("!*t", now))
  local ok, then_ = pcall(os.time, t)
  if not ok or not then_ then return nil end
  return then_ - utc_now
end

local function first(v) return type(v) == "table" and v[1] or v end

--- The delay the server asked for, in ms: Retry-After (seconds or an HTTP
-- date), else RateLimit-Reset (seconds) when the quota is spent (a 429, or
-- RateLimit-Remaining 0); nil when neither applies. A gateway such as
-- Kandji's sends RateLimit-Reset on every answer: on a 503 with quota left it
-- says when the window rolls over, not when to try again.
-- @tparam ?table headers the response headers (names lower-cased)
-- @tparam[opt] int status the response status
-- @treturn ?number milliseconds
function _M.server_delay(headers, status)
  if not headers then return nil end
  local ra = first(headers["retry-after"])
  if ra then
    local secs = tonumber(ra) or http_date_delay(ra)
    if secs then return max(0, secs) * 1000 end
  end
  local reset = tonumber(first(headers["ratelimit-reset"]))
  if reset and (status == 429 or tonumber(first(headers["ratelimit-remaining"])) == 0) then
    return max(0, reset) * 1000
  end
  return nil
end

--- How long to wait before attempt `attempt + 1`, or nil not to retry.
-- status is nil for a transport failure, then body is the core error.
-- @tparam table|false p the policy
-- @tparam string method the request's method
-- @tparam int attempt tries so far minus one
-- @tparam ?int status the status
-- @param body the body, or the transport's error
-- @tparam ?table headers the response headers
-- @treturn ?number milliseconds to wait, or nil
function _M.wait(p, method, attempt, status, body, headers)
  if not p or attempt >= p.max then return nil end
  local safe = IDEMPOTENT[method] or p.unsafe
  if status then
    if not RETRY_STATUS[status] or not safe then return nil end
    local asked = _M.server_delay(headers, status)
    if asked then return min(asked, p.max_ms) end
  else
    local kind = type(body) == "table" and body.kind
    if not (NOT_SENT[kind] or (safe and TRANSIENT[kind])) then return nil end
  end
  -- exponential backoff with full jitter
  return floor(random() * min(p.max_ms, p.base_ms * 2 ^ attempt))
end

--- The one retry loop's decision after an answer, for `Client:exchange` and
-- `bulk.run` alike: `"done"` (map the answer), `"renew"` (a 401 with a
-- token provider, once per request: renew the token, then send again), or
-- `"retry"` after `wait` ms (`throttled` when the server asked the whole
-- client to slow down). Before a retry it counts `client.retried` and
-- reports the wait through `client.warn` (vendor, operation, status or
-- failure kind, attempt, wait: never a secret).
-- @tparam userapi.client.Client client
-- @tparam table state the request's: `attempt` (retries so far), `renewed`; updated
-- @tparam string opname the operation
-- @tparam string method the request's method
-- @tparam ?int status the status, nil for a transport failure
-- @param body the body, or the transport's error
-- @tparam ?table headers the response headers
-- @treturn string `"done"`, `"renew"` or `"retry"`
-- @treturn ?number the wait in ms, for `"retry"`
-- @treturn ?boolean throttled
function _M.decide(client, state, opname, method, status, body, headers)
  if status == 401 and client.token_provider and not state.renewed then
    state.renewed = true
    return "renew"
  end
  local wait = _M.wait(client.retries, method, state.attempt, status, body, headers)
  if not wait then return "done" end
  state.attempt = state.attempt + 1
  client.retried = client.retried + 1
  client.warn(format("userapi %s %s: %s, retry %d of %d in %d ms", client.vendor.name, opname,
    status and ("status " .. status) or (type(body) == "table" and tostring(body.kind) or "failure"),
    state.attempt, client.retries.max, wait))
  return "retry", wait, THROTTLE[status] or false
end

return _M
