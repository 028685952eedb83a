--- The steps around one send, written once for a call, a walk's read-ahead,
-- bulk and a stream: `begin` takes the token, then the budget slot; the
-- caller sends; `settle` observes the answer (rate-limit headers,
-- `on_request`), decides (done, renew the token, or retry after a wait) and
-- builds the result. Callers keep only their scheduling: when to send, and
-- where to wait.
--
-- A wait the server asks for that is longer than `retries.max_ms`, or than
-- what is left before `retries.deadline_ms`, is not waited: the call fails at
-- once with `kind = "rate_limited"`, `retry_after` (seconds) and `attempts`.
-- @module userapi.attempt
local core = require "userapi.core"
local json = require "userapi.json"
local csv = require "userapi.csv"
local errors = require "userapi.errors"
local retry = require "userapi.retry"
local secrets = require "userapi.secrets"

local type, tostring, setmetatable, next = type, tostring, setmetatable, next
local find, format, ceil = string.find, string.format, math.ceil

local _M = {}

local Attempt = {}
Attempt.__index = Attempt

-- headers arrive as a raw block (the curl transport) or a table (nginx)
local function parse_headers(h)
  if type(h) == "string" then return core.parse_headers(h) end
  return h
end

--- A request's attempts: one object from the first send to the result.
-- @tparam userapi.client.Client client
-- @tparam string opname the operation
-- @tparam table req the request (from `client:build`)
-- @tparam[opt] table opts the call's local options (from `client:build`)
-- @treturn table the attempt: `begin`, `settle`; fields `attempt` (retries so far)
function _M.new(client, opname, req, opts)
  local policy = client.retries
  local a = setmetatable({ client = client, opname = opname, req = req, opts = opts, attempt = 0 }, Attempt)
  if policy and policy.deadline_ms then a.deadline = client.now() + policy.deadline_ms end
  return a
end

--- Before each send: the token (renewed if due; waiting for another's
-- renewal no longer than the deadline), then the budget slot.
-- @tparam[opt] boolean slot false when the caller reserved its slot itself (bulk)
-- @treturn[1] boolean true: send now
-- @treturn[2] nil
-- @treturn[2] userapi.errors.Error the token could not be had
function Attempt:begin(slot)
  local client = self.client
  local auth = client.auth
  if auth then
    local ok, err = auth:refresh(false, self.deadline)
    if not ok then return nil, err end
    self.token = auth:current()
  end
  if slot ~= false then
    -- a slot farther than the call may wait is an error now (kind rate_limited), not a sleep
    local waited, late = client.limiter:acquire(self.opname, self.deadline)
    if not waited then return nil, late end
  end
  -- only on_request reads the start (its `ms`): no clock read without it
  if client.opts.on_request then self.started = client.now() end
  return true
end

--- Reserves the next budget slot without waiting, for a caller that
-- schedules its sends itself (bulk).
-- @tparam userapi.client.Client client
-- @tparam string opname the operation, for the error
-- @treturn[1] number milliseconds until the slot (0 or less: now)
-- @treturn[1] number when the slot is (the client's clock, ms): lateness counts from it
-- @treturn[2] nil
-- @treturn[2] userapi.errors.Error the slot is farther than a call may wait (`kind = "rate_limited"`)
function _M.reserve(client, opname)
  local limiter = client.limiter
  local _, max_wait = limiter:bounds()
  local delay, asked = limiter:reserve(max_wait)
  if delay > max_wait then return nil, limiter:too_far(opname, delay) end
  return delay, asked + delay
end

--- Whether a send due at `slot_at` is still within its window's margin: a
-- send woken later than that may find the window full, and takes a new slot.
-- @tparam userapi.client.Client client
-- @tparam number slot_at from `reserve`
-- @treturn boolean
function _M.on_time(client, slot_at) return client.now() - slot_at <= client.limiter:margin() end

--- The error of a send late for slot after slot (a host too loaded to keep to the budget).
-- @tparam userapi.client.Client client
-- @tparam string opname
-- @treturn userapi.errors.Error
function _M.too_late(client, opname) return client.limiter:too_far(opname, nil) end

-- Remembers rate-limit headers and reports the exchange to `on_request`;
-- returns the headers (parsed if they had to be read). `rate_headers`: the
-- C core's word on whether a raw block holds any (nil: it did not say).
local function observe(self, status, body, headers, rate_headers)
  local client = self.client
  local kind = type(headers)
  -- else plain finds (any case of RateLimit, Retry-After): a pattern costs more than the parse
  if kind == "string" and (rate_headers or rate_headers == nil and (find(headers, "imit", 1, true)
      or find(headers, "IMIT", 1, true) or find(headers, "etry-", 1, true) or find(headers, "ETRY-", 1, true))) then
    headers, kind = parse_headers(headers), "table"
  end
  if kind == "table" then
    local seen
    for k, v in next, headers do
      if find(k, "ratelimit", 1, true) or k == "retry-after" then
        seen = seen or {}
        -- a header copy is kept: a vendor echoing a secret in it must not leak it
        seen[k] = client.secrets:redact(v)
      end
    end
    if seen then
      client.rate_limit = seen
      client.limiter:observe(seen, status)
    end
  end
  local hook = client.opts.on_request
  if hook then
    local req = self.req
    local url = req.query and next(req.query) and core.url(req.url, req.query) or req.url
    hook{
      vendor = client.vendor.name, operation = self.opname, method = req.method,
      url = client.secrets:url(url), attempt = self.attempt + 1, status = status,
      error = not status and secrets.redact(tostring(body), client.secrets:with(req.secrets)) or nil,
      ms = self.started and (client.now() - self.started),
    }
  end
  return headers
end

--- The per-item results of a batch operation's 2xx answer (an operation
-- with `chunk`, such as Opendatasoft's invite and provision), read by the
-- vendor's `bulk_result` hook. A failed item's `err` has `kind = "item"`,
-- `item` (its position) and the vendor's message and code.
-- @tparam userapi.client.Client client
-- @tparam string opname the operation
-- @param answer the decoded answer
-- @tparam int n how many items were sent
-- @treturn table `{ ok = count, failed = count, { ok = true, value } or { ok = false, err }, ... }`
function _M.items(client, opname, answer, n)
  local vendor = client.vendor
  local outcomes = vendor.bulk_result(answer, n)
  local results = { ok = 0, failed = 0 }
  for i = 1, n do
    local o = outcomes[i] or {}
    if o.ok then
      results[i] = { ok = true, value = o.value }
      results.ok = results.ok + 1
    else
      local message, code
      if type(o.error) == "table" then
        if vendor.error_message then message, code = vendor.error_message(o.error) end
        message = message or errors.standard_message(o.error)
      end
      results[i] = { ok = false, err = errors.new{ vendor = vendor.name, operation = opname, kind = "item",
        item = i, code = code, secrets = client.secrets,
        message = message or (o.error == nil and "no result for this item in the answer" or "failed") } }
      results.failed = results.failed + 1
    end
  end
  return results
end

-- The error of an answer that is not a result: a transport failure, a
-- status outside 2xx, or a body that is not JSON (`decode_err` says why).
-- Its context (and the secrets it redacts) is built here, off the success path.
local function failure(self, status, body, headers, decode_err)
  local client = self.client
  local hidden = client.secrets:with(self.req.secrets)
  local base = { vendor = client.vendor.name, operation = self.opname, secrets = hidden }
  if not status then return nil, errors.from_transport(base, body) end
  if not decode_err then
    local decoded = find(body, "^%s*[{%[]") and json.decode(body) or nil
    return nil, errors.from_response(base, status, body, parse_headers(headers), decoded, client.vendor.error_message)
  end
  base.status, base.kind, base.body, base.headers = status, "decode", body, parse_headers(headers)
  base.message = "response is not valid JSON (" .. tostring(decode_err) .. "): " .. errors.excerpt(body, hidden)
  return nil, errors.new(base)
end

-- Maps a transport answer to the operation's result or nil, err.
local function result(self, status, body, headers)
  if not status or status < 200 or status > 299 then return failure(self, status, body, headers) end
  local client, opts = self.client, self.opts
  local op = client.vendor.ops[self.opname]
  if op.response == "csv" then
    if opts and opts.parse then return csv.parse(body, opts.delimiter) end
    return body
  end
  if status == 204 or body == "" then return true end
  local value, err = json.decode(body)
  if value == nil then return failure(self, status, body, headers, err) end
  if op.chunk then return _M.items(client, self.opname, value, opts and opts.batch or 1) end
  return value
end

-- The answer as the final result: attempts counted, and a wait the server
-- asked for that the caller does not allow named.
local function final(self, status, body, headers, asked, why)
  local value, err = result(self, status, body, headers)
  if err then
    err.attempts = self.attempt + 1
    if asked then
      err.kind, err.retry_after = "rate_limited", ceil(asked / 1000)
      err.message = format("%s (the server asks to wait %d s, longer than %s: not waited)",
        err.message or "", err.retry_after, why)
    end
  end
  return true, value, err
end

-- A server-asked wait the caller does not allow: longer than max_ms, or past the deadline.
local function too_long(self, status, headers)
  local policy = self.client.retries
  local asked = retry.server_delay(headers, status)
  if not asked then return nil end
  if asked > policy.max_ms then return asked, "retries.max_ms (" .. policy.max_ms .. " ms)" end
  if self.deadline and self.client.now() + asked > self.deadline then
    return asked, "retries.deadline_ms (" .. policy.deadline_ms .. " ms)"
  end
end

--- After each answer: observe it, then decide. Returns `true, value, err`
-- when the request is done (the result or the error, `err.attempts` set), or
-- `false, wait_ms, why` to send it again after `wait_ms` (`why`: `"retry"`,
-- `"throttled"` when the server asked the whole client to slow down, or
-- `"renew"`: the token was renewed after a 401).
-- @tparam ?int status the status, nil for a transport failure
-- @param body the body, or the transport's error table
-- @param headers the headers, raw or parsed
-- @tparam[opt] boolean rate_headers whether raw headers hold rate-limit ones (the C core says)
-- @return as above
function Attempt:settle(status, body, headers, rate_headers)
  local client = self.client
  if status and status >= 300 then headers = parse_headers(headers) end
  -- nothing to observe when the C core says no rate-limit header came (it
  -- says false only then; nil is "not said"), unless on_request wants every exchange
  if rate_headers ~= false or client.opts.on_request then
    headers = observe(self, status, body, headers, rate_headers)
  end
  -- a 2xx is done: never renewed, never retried (retry.wait says no to it)
  if status and status >= 200 and status <= 299 then return final(self, status, body, headers) end
  local auth = client.auth
  if status == 401 and auth and not self.renewed then
    self.renewed = true
    -- a failed renewal is the token call's own error, from every path
    local ok, err = auth:refresh(self.token or true, self.deadline)
    if not ok then return true, nil, err end
    return false, 0, "renew"
  end
  local policy = client.retries
  local wait = retry.wait(policy, self.req.method, self.attempt, status, body, headers)
  if not wait then
    -- a 429 not retried still says how long the server asks to wait
    local asked = status == 429 and retry.server_delay(headers, status)
    local ok, value, err = final(self, status, body, headers)
    if err and asked then err.kind, err.retry_after = "rate_limited", ceil(asked / 1000) end
    return ok, value, err
  end
  local asked, why = too_long(self, status, headers)
  if asked then return final(self, status, body, headers, asked, why) end
  self.attempt = self.attempt + 1
  client.retried = client.retried + 1
  client.warn(format("userapi %s %s: %s, retry %d of %d in %d ms", client:tenant().label, self.opname,
    status and ("status " .. status) or (type(body) == "table" and tostring(body.kind) or "failure"),
    self.attempt, policy.max, wait))
  return false, wait, retry.throttles(status) and "throttled" or "retry"
end

--- The error of a walk or a bulk run whose client was closed under it.
-- @tparam userapi.client.Client client
-- @tparam string opname the operation
-- @treturn userapi.errors.Error `kind = "closed"`, not retryable
function _M.closed(client, opname)
  return errors.new{ vendor = client.vendor.name, operation = opname, kind = "closed", retryable = false,
                     message = "the client was closed (client:close()) while this ran" }
end

--- Sends a request until it is done: the one loop of a call.
-- @tparam userapi.client.Client client
-- @tparam string opname the operation
-- @tparam table req the request
-- @tparam[opt] table opts the call's local options
-- @return the result, or nil and the error
function _M.run(client, opname, req, opts)
  local a = _M.new(client, opname, req, opts)
  while true do
    local ok, err = a:begin()
    if not ok then return nil, err end
    local done, value, e = a:settle(client.transport:request(req))
    if done then return value, e end
    if e ~= "renew" then client.sleep(value) end
  end
end

return _M
