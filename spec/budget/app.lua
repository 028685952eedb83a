-- The nginx side of the budget specs. Every worker polls the `runs` dict
-- from a timer; GET /run?... starts a run in all of them at once (each with
-- `threads` light threads), GET /status?id= tells how many workers finished.
local userapi = require "userapi"
local json = require "userapi.json"

local _M = {}
local SIM = os.getenv("USERAPI_SIM_URL")
local ADA = "69c009ca-1f78-4bdf-bb93-08d6d39041db"

-- the clients a run uses: made fresh per run, as a worker's first requests
local function client_of(p)
  -- the worker in the user agent: a spec can tell who sent what
  local extra = { base_url = SIM .. "/" .. p.vendor, retries = false, user_agent = "budget-spec/w" .. ngx.worker.id() }
  if p.rate then extra.rate_limit = { per_second = tonumber(p.rate) } end
  if p.redis then extra.store = os.getenv("USERAPI_REDIS_URL") end
  if p.store then extra.store = p.store end
  if p.fleet then extra.store = { redis = extra.store, fleet = tonumber(p.fleet) } end
  if p.timeout_ms then extra.timeout_ms = tonumber(p.timeout_ms) end
  if p.token then extra.token = p.token end
  if p.vendor == "kandji" then
    extra.token = extra.token or "kandji-test-token"
    return userapi.kandji(extra)
  end
  extra.client_id, extra.client_secret = "arthur-client", "arthur-secret"
  return userapi.arthur(extra)
end

-- one light thread: calls until the run's budget (n calls or ms) is spent
local function worker_thread(c, p, state)
  local deadline = p.ms and ngx.now() * 1000 + tonumber(p.ms)
  while true do
    if deadline and ngx.now() * 1000 >= deadline then return end
    if p.n then
      if state.started >= tonumber(p.n) then return end
      state.started = state.started + 1
    end
    local res, err
    if p.vendor == "kandji" then res, err = c:get_user(ADA) else res, err = c:get_users_me() end
    if res then state.ok = state.ok + 1 else state.failed, state.err = state.failed + 1, tostring(err) end
    if not deadline and not p.n then return end -- one call each
  end
end

local function execute(id, p)
  local state = { ok = 0, failed = 0, started = 0, pid = ngx.worker.pid() }
  local made, c = pcall(client_of, p)
  if not made then
    -- a constructor's refusal is the run's result (a dict too small, a bad store)
    state.failed, state.err = 1, tostring(c)
    ngx.shared.runs:set("done:" .. id .. ":" .. ngx.worker.id(), json.encode(state))
    return
  end
  local threads = {}
  for i = 1, tonumber(p.threads) do threads[i] = ngx.thread.spawn(worker_thread, c, p, state) end
  for i = 1, #threads do ngx.thread.wait(threads[i]) end
  state.pid = ngx.worker.pid()
  ngx.shared.runs:set("done:" .. id .. ":" .. ngx.worker.id(), json.encode(state))
end

-- every 20 ms: has a new run been asked for? (a worker still starting when
-- the run was asked for runs it as soon as it is up)
function _M.start()
  local seen = 0
  local function poll(premature)
    if premature then return end
    local id = ngx.shared.runs:get("id") or 0
    if id > seen then
      seen = id
      local p = json.decode(ngx.shared.runs:get("params"))
      ngx.timer.at(0, function() execute(id, p) end)
    end
    ngx.timer.at(0.02, poll)
  end
  ngx.timer.at(0, poll)
end

function _M.run()
  local p = ngx.req.get_uri_args()
  if ngx.shared.userapi and p.flush then ngx.shared.userapi:flush_all() end
  ngx.shared.runs:set("params", json.encode(p))
  local id = ngx.shared.runs:incr("id", 1, 0)
  ngx.say(json.encode{ id = id })
end

-- The pid of the worker holding a token renewal lock in the userapi dict, if any.
function _M.renewer()
  local dict = ngx.shared.userapi
  for _, k in ipairs(dict and dict:get_keys(0) or {}) do
    if k:find(":renewing$") then
      ngx.say(json.encode{ locked = true, pid = tonumber(tostring(dict:get(k)):match("^(%d+):")) })
      return
    end
  end
  ngx.say(json.encode{})
end

-- Fills the userapi dict with another application's entries (an hour each)
-- until it holds no more: what a busy tenant's rings do to a small dict.
function _M.fill()
  local dict, n = ngx.shared.userapi, 0
  dict:flush_all()
  dict:flush_expired()
  -- smaller and smaller entries: no slab size keeps room for the budget's own
  for _, size in ipairs{ 100, 40, 8, 1 } do
    while dict:safe_add("f" .. n, ("x"):rep(size), 3600) do n = n + 1 end
  end
  ngx.say(json.encode{ entries = n })
end

-- The keys of the userapi dict that never expire (dict:ttl is 0 for them).
function _M.forever()
  local dict, keys = ngx.shared.userapi, {}
  for _, k in ipairs(dict and dict:get_keys(0) or {}) do
    if dict:ttl(k) == 0 then keys[#keys + 1] = k end
  end
  ngx.say(json.encode{ keys = keys })
end

function _M.status()
  local id = ngx.var.arg_id
  local done = {}
  for w = 0, ngx.worker.count() - 1 do
    local v = ngx.shared.runs:get("done:" .. id .. ":" .. w)
    if v then done[#done + 1] = json.decode(v) end
  end
  ngx.say(json.encode{ workers = ngx.worker.count(), done = done })
end

return _M
