-- The nginx side of spec/nginx_spec.lua: endpoints that run userapi inside
-- request handlers and a timer, with the simulator as the vendor.
local userapi = require "userapi"
local json = require "userapi.json"
local cases = require "spec.shared_cases"

local _M = {}

local clients
local function get_clients()
  -- made once per worker, on first use; requests then share their pools
  clients = clients or cases.clients(userapi, os.getenv("USERAPI_SIM_URL"))
  return clients
end

local function reply(v)
  ngx.header["Content-Type"] = "application/json"
  ngx.say(json.encode(v))
end

function _M.case()
  local name = ngx.var.arg_name
  local ok, res = pcall(cases[name], get_clients())
  if not ok then ngx.status = 500 reply{ error = tostring(res) } return end
  reply(res)
end

function _M.lookup()
  local c = get_clients()
  local u, err = c.kandji:get_user(ngx.var.arg_id)
  if not u then ngx.status = err.status or 502 reply{ error = tostring(err) } return end
  reply{ id = u.id, email = u.email, transport = c.kandji.transport.nginx and "nginx" or "curl" }
end

-- a lookup the simulator has been told to delay
function _M.slow()
  local page, err = get_clients().kandji:list_users{ email = "slow" }
  reply{ ok = page ~= nil, err = err and tostring(err) }
end

function _M.timer_result()
  reply{ walked = ngx.shared.results:get("walked"), error = ngx.shared.results:get("error") }
end

-- init_worker: a timer walks every Kandji user, as a sync job would
function _M.start_timer()
  ngx.timer.at(0, function(premature)
    if premature then return end
    local ok, err = pcall(function()
      local n = 0
      for _ in get_clients().kandji:each_user() do n = n + 1 end
      ngx.shared.results:set("walked", n)
    end)
    if not ok then ngx.shared.results:set("error", tostring(err)) end
  end)
end

return _M
