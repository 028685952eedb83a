-- Starts nginx for the nginx specs: a config file from the repository whose
-- text `fill` adapts (paths, ports), in its own prefix, without the
-- sanitizer preload of make memcheck. Returns the base URL, a function that
-- stops it by pid, and the prefix (its error.log is read by some specs).
local sim = require "spec.helper"

local run = {}

run.ROOT = debug.getinfo(1, "S").source:match("^@(.*)/spec/nginx/run%.lua$") or "."
if run.ROOT:sub(1, 1) ~= "/" then run.ROOT = io.popen("pwd"):read("*l") .. "/" .. run.ROOT end

--- Starts nginx; `env` is a table of variables the config passes on (`env NAME;`).
function run.start(template, pidfile, fill, env)
  local prefix = sim.sh("mktemp -d /tmp/userapi-nginx.XXXXXX")
  os.execute("mkdir -p " .. prefix .. "/tmp " .. prefix .. "/logs")
  local port = sim.free_port()
  local conf = fill(assert(io.open(run.ROOT .. "/" .. template)):read("*a"), prefix, port)
  local f = assert(io.open(prefix .. "/nginx.conf", "w"))
  f:write(conf)
  f:close()
  local vars = { "USERAPI_SIM_URL=" .. sim.url }
  for k, v in pairs(env or {}) do vars[#vars + 1] = k .. "='" .. v .. "'" end
  local out = sim.sh(("env -u LD_PRELOAD %s /usr/sbin/nginx -p %s -c %s/nginx.conf 2>&1; echo rc=$?")
    :format(table.concat(vars, " "), prefix, prefix))
  assert(out:find("rc=0", 1, true), "nginx did not start: " .. out)
  local function stop()
    local pid = io.open(prefix .. "/" .. pidfile)
    if pid then
      os.execute("kill " .. pid:read("*l"))
      pid:close()
    end
    if os.getenv("USERAPI_KEEP_NGINX") then print("nginx prefix kept: " .. prefix) return end
    os.execute("sleep 0.2; rm -rf " .. prefix)
  end
  return "http://127.0.0.1:" .. port, stop, prefix
end

--- Fills @PREFIX@, @ROOT@, @PORT@ and the extra @NAME@s of `vars`.
function run.filler(vars)
  return function(conf, prefix, port)
    conf = conf:gsub("@PREFIX@", prefix):gsub("@ROOT@", run.ROOT):gsub("@PORT@", tostring(port))
    for k, v in pairs(vars or {}) do conf = conf:gsub("@" .. k .. "@", (v:gsub("%%", "%%%%"))) end
    return conf
  end
end

return run
