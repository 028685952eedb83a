--- Pages asked for ahead of the reader, on the transport's multi interface
-- (curl multi in plain Lua, light threads under nginx), so that the round
-- trips of a walk overlap each other and the caller's work. Each request
-- passes the client's rate limiter and token renewal first; each answer goes
-- through the client's `observe` and `result`, as a sequential call's would.
-- @module userapi.fetcher
local oidc = require "userapi.oidc"

local setmetatable, pairs, ipairs, error = setmetatable, pairs, ipairs, error

local _M = {}

local Fetcher = {}
Fetcher.__index = Fetcher

--- A fetcher of one operation's requests for a client.
-- @tparam userapi.client.Client client
-- @tparam string opname the operation (the vendor's list)
-- @treturn table the fetcher: `add(req, opts)` -> job, `take(job)` -> page or
-- `nil, err`, `close()`
function _M.new(client, opname)
  return setmetatable({ client = client, opname = opname, jobs = {} }, Fetcher)
end

--- Sends a built request now (after the rate limiter); returns its job.
-- @tparam table req a request from `client:build`
-- @tparam[opt] table opts its local options
-- @treturn table the job, for `take`
function Fetcher:add(req, opts)
  local client = self.client
  local job = { req = req, opts = opts }
  if client.token_provider then
    local ok, err = oidc.refresh(client, false)
    if not ok then
      job.failed = err
      return job
    end
  end
  self.multi = self.multi or client.transport:multi()
  local waited, late = client.limiter:acquire(self.opname)
  if not waited then
    job.failed = late
    return job
  end
  job.started = client.now()
  self.jobs[self.multi:add(req)] = job
  -- the curl multi starts a transfer only when driven: send it now, so the
  -- answer travels while the caller works
  self:pump(0)
  return job
end

--- Drives the transfers for up to `ms`; keeps the answers that came.
-- @tparam int ms how long to wait for an answer (0: not at all)
function Fetcher:pump(ms)
  for _, r in ipairs(self.multi:wait(ms)) do
    local j = self.jobs[r.id]
    if not j then error("userapi: a page answered that no one asked for", 0) end
    self.jobs[r.id] = nil
    j.result = r
  end
end

-- the answer of a job: its result mapped as `exchange` would; an answer that
-- the client's policy would retry (or a 401 with a token to renew) is asked
-- again through `exchange`, whose answer is then final
local function settle(self, job)
  local client, opname, r = self.client, self.opname, job.result
  local status, body, headers = r.status, r.body, r.headers
  if not status then body = r.err end
  headers = client:observe(opname, job.req, status, body, headers, job.started, 0)
  local page, err = client:result(opname, job.opts, status, body, headers)
  if err and (err.retryable or status == 401) and (client.retries or client.token_provider) then
    return client:exchange(opname, job.req, job.opts)
  end
  if err then err.attempts = 1 end
  return page, err
end

--- Waits for a job's answer: the decoded page, or `nil` and the error.
-- @tparam table job from `add`
-- @return the page
-- @treturn[2] nil
-- @treturn[2] userapi.errors.Error
function Fetcher:take(job)
  if job.failed then return nil, job.failed end
  while not job.result do self:pump(1000) end
  return settle(self, job)
end

--- Ends the transfers still running.
function Fetcher:close()
  if self.multi then self.multi:close() end
  self.multi, self.jobs = nil, {}
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

--- A window of requests ahead of a walk's reader, answers taken in order:
-- `plan(p, key, first, step, n)` asks for n pages known in advance (p with
-- `p[key] = first + (k - 1) * step`), `concurrency` at a time, and may be
-- called again with a larger n; `link(p)` asks for one page now (its link
-- was just read); `waiting()`, `take()` -> page or nil, err; `close()`.
-- Memory holds at most `concurrency` pages.
-- @tparam userapi.client.Client client
-- @tparam string opname the list operation
-- @tparam int concurrency requests at once
-- @tparam function prepare `prepare(client, opname, params)` -> req, opts or nil, err
-- @treturn table the window
function _M.window(client, opname, concurrency, prepare)
  local f = _M.new(client, opname)
  local w = {}
  local queue, head, tail = {}, 1, 0
  local plan
  local function ask(p)
    local req, opts = prepare(client, opname, p)
    tail = tail + 1
    queue[tail] = req and f:add(req, opts) or { failed = opts }
  end
  local function top_up()
    while plan and plan.k <= plan.n and tail - head + 1 < concurrency do
      local q = copy(plan.p)
      q[plan.key] = plan.first + (plan.k - 1) * plan.step
      plan.k = plan.k + 1
      ask(q)
    end
  end
  function w.plan(p, key, first, step, n)
    if plan then plan.n = n else plan = { p = p, key = key, first = first, step = step, n = n, k = 1 } end
    top_up()
  end
  w.link = ask
  function w.waiting() return head <= tail end
  function w.take()
    local job = queue[head]
    queue[head], head = nil, head + 1
    local page, err = f:take(job)
    top_up()
    return page, err
  end
  function w.close() f:close() end
  return w
end

return _M
