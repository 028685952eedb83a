--- Pages asked for ahead of the reader, on the transport's multi interface
-- (curl multi in plain Lua, light threads under nginx), so that the round
-- trips of a walk overlap each other and the caller's work. Each request is
-- an @{userapi.attempt}: the token and the budget slot before it is sent,
-- and its answer settled as a call's would be: a retry waits the same, and
-- counts the same, as one page at a time.
-- @module userapi.fetcher
local attempt = require "userapi.attempt"

local setmetatable, pairs, ipairs, error = setmetatable, pairs, ipairs, error
local max, min, floor = math.max, math.min, math.floor

local _M = {}

local Fetcher = {}
Fetcher.__index = Fetcher

--- A fetcher of one operation's requests for a client.
-- @tparam userapi.client.Client client
-- @tparam string opname the operation (the vendor's list)
-- @treturn table the fetcher: `add(req, opts)` -> job, `take(job)` -> page or
-- `nil, err`, `close()`; `largest` (the largest body taken, in bytes)
function _M.new(client, opname)
  return setmetatable({ client = client, opname = opname, jobs = {}, largest = 0,
                        closings = client:closings() }, Fetcher)
end

-- The client was closed since the walk began: the walk ends with an error value.
function Fetcher:closed()
  if self.client:closings() == self.closings then return nil end
  self:close()
  return attempt.closed(self.client, self.opname)
end

-- Begins a job's attempt (token, slot) and sends it.
function Fetcher:send(job)
  local ok, err = job:begin()
  if not ok then job.failed = err return end
  job.answer = nil
  self.multi = self.multi or self.client.transport:multi()
  self.jobs[self.multi:add(job.req)] = job
  -- the curl multi starts a transfer only when driven: send it now, so the
  -- answer travels while the caller works
  self:pump(0)
end

--- Sends a built request now (after the token and the rate limiter); returns its job.
-- @tparam table req a request from `client:build`
-- @tparam[opt] table opts its local options
-- @treturn table the job, for `take`
function Fetcher:add(req, opts)
  local job = attempt.new(self.client, self.opname, req, opts)
  job.failed = self:closed()
  if not job.failed then self:send(job) end
  return job
end

--- Drives the transfers for up to `ms`; keeps the answers that came.
-- @tparam int ms how long to wait for an answer (0: not at all)
function Fetcher:pump(ms)
  for _, r in ipairs(self.multi:wait(ms)) do
    local j = self.jobs[r.id]
    if not j then error("userapi: a page answered that no one asked for", 0) end
    self.jobs[r.id] = nil
    j.answer = r
  end
end

--- Waits for a job's answer: the decoded page, or `nil` and the error. An
-- answer the policy retries is asked again after the same wait as a call's.
-- @tparam table job from `add`
-- @return the page
-- @treturn[2] nil
-- @treturn[2] userapi.errors.Error
function Fetcher:take(job)
  while true do
    if job.failed then return nil, job.failed end
    local closed = self:closed()
    if closed then return nil, closed end
    while not job.answer do self:pump(1000) end
    local r = job.answer
    if r.body then self.largest = max(self.largest, #r.body) end
    local done, value, err = job:settle(r.status, r.status and r.body or r.err, r.headers, r.rate_limit_headers)
    if done then return value, err end
    if err ~= "renew" then self.client.sleep(value) end
    job.failed = self:closed()
    if not job.failed then self:send(job) end
  end
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
-- was just read); `first(req, opts)` sends one page alone and waits for it;
-- `waiting()`, `take()` -> page or nil, err; `close()`.
-- Memory holds at most `concurrency` pages, and no more pages than fit in
-- `max_bytes` at the size of the largest page seen (at least one).
-- @tparam userapi.client.Client client
-- @tparam string opname the list operation
-- @tparam int concurrency requests at once
-- @tparam function prepare `prepare(client, opname, params)` -> req, opts or nil, err
-- @tparam number max_bytes the bound of the pages held ahead, in bytes
-- @treturn table the window
function _M.window(client, opname, concurrency, prepare, max_bytes)
  local f = _M.new(client, opname)
  local w = {}
  local queue, head, tail = {}, 1, 0
  local plan
  local function ask(p)
    local req, opts = prepare(client, opname, p)
    tail = tail + 1
    queue[tail] = req and f:add(req, opts) or { failed = opts }
  end
  -- how many pages may be out at once: concurrency, and what max_bytes holds
  local function room()
    if f.largest == 0 then return concurrency end
    return max(1, min(concurrency, floor(max_bytes / f.largest)))
  end
  local function top_up()
    while plan and plan.k <= plan.n and tail - head + 1 < room() do
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
  function w.first(req, opts) return f:take(f:add(req, opts)) end
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
