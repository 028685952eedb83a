--- The libcurl transport: a session of the C core is the transport object
-- (request, multi, set_auth, close); waits block the thread.
local core = require "userapi.core"

return { name = "curl", new = core.session, sleep = core.sleep, now = core.now }
