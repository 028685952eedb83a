--- When and how long to wait before trying again: the policy and the wait
-- it gives (`wait`); @{userapi.attempt} is the one loop that reads it. The rate limiter is
-- `userapi.limiter`.
-- @module userapi.retry
local type, tonumber, tostring, min, max, random, floor = type, tonumber, tostring, math.min, math.max, math.random,
  math.floor
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
-- @tparam[opt] int opt.deadline_ms the longest a call may take, its waits
-- included: a server-asked wait past it fails the call at once (`kind = "rate_limited"`)
-- @treturn table|false the policy
-- @raise on an unknown option
-- @usage userapi.kandji{ subdomain = "acme", token = T, retries = { max = 5 } }
function _M.policy(opt)
  if opt == false then return false end
  if opt ~= nil and type(opt) ~= "table" then error("userapi: retries must be a table or false", 3) end
  local p = {}
  for k, v in pairs(DEFAULTS) do p[k] = v end
  for k, v in pairs(opt or {}) do
    -- checked here: a bad value would otherwise raise at the first retry, after a request went out
    if k == "deadline_ms" then
      if type(v) ~= "number" or v ~= v or v <= 0 or v == math.huge then
        error("userapi: retries.deadline_ms must be a finite number > 0, got " .. tostring(v), 3)
      end
    else
      if DEFAULTS[k] == nil then error("userapi: unknown retries option '" .. tostring(k) .. "'", 3) end
      local t = type(DEFAULTS[k])
      if type(v) ~= t or (t == "number" and (v ~= v or v < 0 or v == math.huge or (k == "max" and v % 1 ~= 0))) then
        error("userapi: retries." .. tostring(k) .. " must be " .. (t == "number" and (k == "max" and
          "an integer >= 0" or "a finite number >= 0") or "a boolean") .. ", got " .. tostring(v), 3)
      end
    end
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

--- Whether a status speaks for every request of the client (429, 503): a
-- batch then pauses as a whole.
-- @tparam ?int status
-- @treturn boolean
function _M.throttles(status) return THROTTLE[status] or false end

return _M
