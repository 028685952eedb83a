--- The libcurl transport: a session of the C core is the transport object
-- (request, multi, set_auth, close). Its waits block the thread in plain Lua
-- and in nginx's startup phases; in nginx's request phases they never block
-- the worker (see `userapi.phase.curl_sleep`).
local core = require "userapi.core"
local phase = require "userapi.phase"

-- one error type: the core's errors get userapi.errors' metatable (the core requires no Lua module)
core.set_error_mt(require("userapi.errors").mt)

return { name = "curl", new = core.session, sleep = ngx and phase.curl_sleep or core.sleep, now = core.now,
         warn = phase.warn }
