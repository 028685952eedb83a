-- Starts the SCIM bridge (spec/scim/nginx.conf.in) in front of the spec
-- simulator for the SCIM specs, and speaks SCIM to it.
local core = require "userapi.core"
local json = require "userapi.json"
local sim = require "spec.helper"
local run = require "spec.nginx.run"

local M = { TOKEN = "scim-spec-token-0123456789" }

--- Starts nginx (`workers` workers, `env` more variables); returns the bridge.
function M.start(workers, env)
  local vars = { USERAPI_SCIM_TOKEN = M.TOKEN }
  for k, v in pairs(env or {}) do vars[k] = v end
  local url, stop, prefix = run.start("spec/scim/nginx.conf.in", "nginx.pid",
    run.filler{ WORKERS = tostring(workers or 1), DAEMON = "on" }, vars)
  local b = { url = url, stop = stop, prefix = prefix, session = core.session{ timeout_ms = 10000 } }
  --- One SCIM request: returns status, decoded body (or nil), headers.
  function b.request(method, path, body, token)
    local status, text, headers = b.session:request{
      method = method, url = url .. "/scim/v2/" .. path,
      headers = { Authorization = "Bearer " .. (token or M.TOKEN), ["Content-Type"] = "application/scim+json",
                  Accept = "application/scim+json" },
      body = body and (type(body) == "string" and body or json.encode(body)) or nil,
    }
    assert(status, text)
    return status, text ~= "" and json.decode(text) or nil, headers
  end
  --- The bridge's error.log.
  function b.log()
    local f = io.open(prefix .. "/error.log")
    local t = f and f:read("*a") or ""
    if f then f:close() end
    return t
  end
  for _ = 1, 100 do
    local status = b.session:request{ method = "GET", url = url .. "/scim/v2/kandji/ServiceProviderConfig" }
    if status then break end
    core.sleep(20)
  end
  return b
end

--- Empties the simulator's tenants (an application on its first sync).
function M.empty() sim.control("POST", "reset", { empty = true }) end

return M
