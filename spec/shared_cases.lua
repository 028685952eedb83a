-- Cases run both under plain Lua (libcurl) and inside nginx (cosockets):
-- each returns a plain, JSON-friendly summary that must be the same in both.
local json = require "userapi.json"

local cases = {}

local function summary_of_error(err)
  return { vendor = err.vendor, operation = err.operation, status = err.status, message = err.message,
           retryable = err.retryable, text = tostring(err) }
end

function cases.get_user(c)
  local u = assert(c.kandji:get_user("69c009ca-1f78-4bdf-bb93-08d6d39041db"))
  return { id = u.id, email = u.email, null_kept = u.department == json.null }
end

function cases.filtered_list(c)
  local page = assert(c.opendatasoft:get_users{ search = "ada", limit = 5 })
  return { total = page.total_count, first = page.results[1] and page.results[1].username }
end

function cases.not_found(c)
  local ok, err = c.sigfox:get_api_user("000000000000000000000000")
  return { ok = ok or false, err = summary_of_error(err) }
end

function cases.bad_argument(c)
  local ok, msg = pcall(c.kandji.get_user, c.kandji, "a/b")
  return { ok = ok, msg = msg }
end

function cases.walk_all(c)
  local n, seen = 0, {}
  for u in c.arthur:each_user{ page_size = 2, user_types = { "user", "service_account", "data_plane" } } do
    n = n + 1
    seen[#seen + 1] = u.id
  end
  return { n = n, ids = seen }
end

-- pages fetched ahead, concurrently (light threads in nginx, the curl multi in plain Lua)
function cases.walk_concurrent(c)
  local names = {}
  for u in c.opendatasoft:each_user{ limit = 2, concurrency = 4 } do names[#names + 1] = u.username end
  return { n = #names, names = names }
end

function cases.bulk(c)
  local res = c.kandji:bulk("get_user", { "69c009ca-1f78-4bdf-bb93-08d6d39041db", "missing" }, { concurrency = 2 })
  return { ok = res.ok, failed = res.failed, first = res[1].value.email, second = res[2].err.status }
end

function cases.export_rows(c)
  local n, names = 0, {}
  for row in c.opendatasoft:each_export_row{ delimiter = ";" } do
    n = n + 1
    names[#names + 1] = row.username
  end
  return { n = n, names = names }
end

function cases.create_and_delete(c)
  local created = assert(c.sigfox:create_api_user{ groupId = "babecafebabecafebabedcef", name = "nginx case",
    timezone = "Europe/Paris", profileIds = { "5138e7dfa2f1fffaf25fd409" } })
  local deleted = c.sigfox:delete_api_user(created.id)
  return { created = type(created.id), deleted = deleted }
end

-- Queues a simulator fault through the client's own transport (cosockets in nginx).
local function fault(c, f)
  local status = c.kandji.transport:request{ method = "POST", url = c.sim_url .. "/_sim/faults",
    body = json.encode(f), auth = false, headers = { ["Content-Type"] = "application/json" } }
  assert(status == 200, "fault not queued")
end

function cases.malformed_body(c)
  fault(c, { match = { vendor = "kandji" }, malformed = true })
  local ok, err = c.kandji:get_user("69c009ca-1f78-4bdf-bb93-08d6d39041db")
  return { ok = ok or false, kind = err.kind, status = err.status, retryable = err.retryable }
end

function cases.dropped_connection(c)
  fault(c, { match = { vendor = "kandji" }, drop = "mid" })
  local ok, err = c.kandji:get_user("69c009ca-1f78-4bdf-bb93-08d6d39041db")
  return { ok = ok or false, failed = err ~= nil, has_status = err.status ~= nil, retryable = err.retryable }
end

function cases.retry_after(c)
  fault(c, { match = { vendor = "kandji" }, status = 503, headers = { ["Retry-After"] = "0" } })
  local userapi = require "userapi"
  local kandji = userapi.kandji{ base_url = c.sim_url .. "/kandji", token = "kandji-test-token",
                                 rate_limit = false, retries = { max = 2, base_ms = 1 } }
  local u = assert(kandji:get_user("69c009ca-1f78-4bdf-bb93-08d6d39041db"))
  return { email = u.email, retried = kandji.retried }
end

--- Clients of the four vendors on the simulator at `url`.
function cases.clients(userapi, url)
  local base = { opendatasoft = "/ods/api/automation/v1.0", arthur = "/arthur", kandji = "/kandji",
                 sigfox = "/sigfox/v2" }
  local creds = {
    opendatasoft = { apikey = "ods-test-key" }, arthur = { access_token = "arthur-test-token" },
    kandji = { token = "kandji-test-token" }, sigfox = { login = "sigfox-login", password = "sigfox-secret" },
  }
  local c = {}
  for vendor, path in pairs(base) do
    local o = { base_url = url .. path, retries = false, rate_limit = false }
    for k, v in pairs(creds[vendor]) do o[k] = v end
    c[vendor] = userapi[vendor](o)
  end
  c.sim_url = url
  return c
end

cases.names = { "get_user", "filtered_list", "not_found", "bad_argument", "walk_all", "walk_concurrent", "bulk",
                "export_rows", "create_and_delete", "malformed_body", "dropped_connection", "retry_after" }

return cases
