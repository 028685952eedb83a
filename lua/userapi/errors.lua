--- The one error type of userapi: built here, and only here, so that secrets
-- are redacted in one place. A failed operation returns `nil, err` with `err`
-- an @{Error}; `tostring(err)` reads as a sentence.
-- @module userapi.errors
-- @usage
-- local res, err = kandji:delete_user(id)
-- if not res then
--   print(err)                        -- kandji delete_user: 400 User still assigned to one or more devices.
--   if err.retryable then ... end     -- 408, 429, 502, 503, 504, timeouts, connection failures
-- end
local retry = require "userapi.retry"

local _M = {}

--- The error object (a table with a metatable; test with `userapi.is_error`).
-- Every string in it has the client's secrets (API key, token, password)
-- replaced by `[REDACTED]`.
-- @table Error
-- @field vendor `"opendatasoft"`, `"arthur"`, `"kandji"` or `"sigfox"`
-- @field operation the operation's name (`"delete_user"`; `"token"` for Arthur's token endpoint)
-- @field status the HTTP status, or nil when no answer came
-- @field kind without a status, what went wrong: `"timeout"`, `"connect"`, `"resolve"`,
-- `"tls"`, `"send"`, `"recv"`, `"too_large"`, `"decode"` (a 2xx that is not JSON),
-- `"paging"` (a page without its list, a cursor that repeats), `"auth"` (no token),
-- `"skipped"` (bulk, after `stop_on_error`), `"closed"` (`client:close()` during a
-- walk or a bulk run); with a status, `"rate_limited"`: the server asked for a wait
-- longer than `retries.max_ms` or `retries.deadline_ms` allow (not waited), or a 429
-- not retried
-- @field retry_after with `kind = "rate_limited"`, the wait the server asked for, in seconds
-- @field message the vendor's own message when its error body has one, else a
-- short description (`"HTTP 502"`)
-- @field code the vendor's error code (Opendatasoft `error_code`) or curl's code
-- @field item for one failed item of a batch answered 2xx (Opendatasoft invite and
-- provision), its position in the input (from 1); `kind` is then `"item"`
-- @field body the response body, as received
-- @field headers the response headers (names lower-cased)
-- @field retryable whether the same request may succeed later
-- @field attempts how many times the request was sent (retries included)

local type, setmetatable, ipairs = type, setmetatable, ipairs
local find, sub = string.find, string.sub

local mt = {}
mt.__index = mt
--- The metatable of every @{Error}: the C core and the transports give their
-- error tables this one, so one type prints and tests the same everywhere.
-- @table mt
_M.mt = mt

--- Renders the error as a sentence: `kandji delete_user: 400 User still assigned ...`,
-- or for a failure without an answer `kandji list_users: timeout (...)`; after
-- retries, ` (after 4 attempts)`.
-- @function Error:__tostring
-- @treturn string
function mt:__tostring()
  local head = (self.vendor or "userapi") .. " " .. (self.operation or "?") .. ": "
  if self.item then return head .. "item " .. self.item .. ": " .. (self.message or "") end
  -- a final error after retries says how many times the request went out
  local tries = type(self.attempts) == "number" and self.attempts > 1 and
    (" (after " .. self.attempts .. " attempts)") or ""
  if self.status then return head .. self.status .. " " .. (self.message or "") .. tries end
  return head .. (self.kind or "error") .. " (" .. (self.message or "") .. ")" .. tries
end


local secret_lib = require "userapi.secrets"
local redact, redact_headers = secret_lib.redact, secret_lib.redact_headers

--- s with every form of every secret replaced by `[REDACTED]` (@{userapi.secrets.redact}).
-- @function redact
-- @param s a string (anything else is returned as it is)
-- @tparam ?{string,...} list the forms to hide (a client's secrets)
-- @return s redacted
_M.redact = redact

--- Standard base64 (@{userapi.secrets.base64}).
-- @function base64
_M.base64 = secret_lib.base64

--- Every form of a secret (@{userapi.secrets.forms}).
-- @function secret_forms
_M.secret_forms = secret_lib.forms

-- Redact first, then cut: a secret straddling the cut must not leave a half.
local function excerpt(s, secrets)
  s = redact(s, secrets)
  if #s > 200 then return sub(s, 1, 200) .. "..." end
  return s
end

-- The message of an error body that follows a standard: OAuth2 token
-- endpoints (RFC 6749 5.2: error_description, error), problem details
-- (RFC 7807: detail, title), or a plain `message`. Vendors with their own
-- shapes parse them in their `error_message` hook.
local function standard_message(t)
  if type(t) ~= "table" then return nil end
  for _, k in ipairs({ "error_description", "detail", "message", "title", "error" }) do
    if type(t[k]) == "string" then return t[k] end
  end
  return nil
end
--- The message of a decoded error body in a standard shape (OAuth2's
-- `error_description`/`error`, RFC 7807's `detail`/`title`, a `message`), or nil.
-- @function standard_message
-- @tparam table t the decoded JSON error body
-- @treturn ?string
_M.standard_message = standard_message

--- Builds an error. Fields: vendor, operation, status, kind, message, body,
-- headers, retryable (derived when absent), and secrets (strings to redact, not kept).
-- @tparam table f the fields of the @{Error}, plus `secrets`
-- @treturn Error f itself, redacted, with the error metatable
function _M.new(f)
  local secrets = f.secrets
  f.secrets = nil
  if f.retryable == nil then
    f.retryable = retry.retryable(f.status, f.kind)
  end
  f.message = redact(f.message, secrets)
  f.code = redact(f.code, secrets) -- a vendor's error code is its text too
  f.body = redact(f.body, secrets)
  f.headers = redact_headers(f.headers, secrets)
  return setmetatable(f, mt)
end

--- An error for an HTTP response outside 2xx; `decoded` is the JSON body if
-- any. Its message is the vendor's (its `error_message` hook), else a
-- standard one (`standard_message`), else a short excerpt of a text body.
-- @tparam table base `vendor`, `operation`, `secrets`
-- @tparam int status the HTTP status
-- @tparam string body the response body
-- @tparam table headers the response headers
-- @param[opt] decoded the decoded JSON body
-- @tparam[opt] function message_of the vendor's hook: `message_of(decoded)` -> message, code
-- @treturn Error
function _M.from_response(base, status, body, headers, decoded, message_of)
  base.status, base.body, base.headers = status, body, headers
  if message_of and type(decoded) == "table" then base.message, base.code = message_of(decoded) end
  base.message = base.message or standard_message(decoded)
  if not base.message then
    base.message = (body ~= "" and not find(body, "^%s*[<{%[]")) and excerpt(body, base.secrets) or ("HTTP " .. status)
  end
  return _M.new(base)
end

--- An error for a transport failure (a core error table: kind, code, message).
-- @tparam table base `vendor`, `operation`, `secrets`
-- @tparam table err the transport's error
-- @treturn Error
function _M.from_transport(base, err)
  base.kind, base.code, base.message = err.kind, err.code, err.message
  return _M.new(base)
end

--- The first 200 bytes of a body, for messages, redacted before it is cut.
-- @function excerpt
-- @tparam string s
-- @tparam ?{string,...} secrets the forms to hide
-- @treturn string
_M.excerpt = excerpt

--- True when v is a userapi error.
-- @param v any value
-- @treturn boolean
function _M.is(v) return getmetatable(v) == mt end

return _M
