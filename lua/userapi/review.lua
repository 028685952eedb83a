--- An access review across vendors: every account of every vendor of a
-- @{userapi.directory}, grouped by person (email, case-insensitive) and
-- flagged, in memory that does not grow with the number of accounts: the
-- accounts go to a scratch file as they are read, `sort(1)` groups them,
-- and the rows are read back one at a time.
--
-- Flags: `stale` (no login for `stale_days`, where the vendor records
-- logins: its `people.logins`), `pending` (an invitation never accepted),
-- `orphan` (not in the roster), `missing` (in the roster, without an account
-- where its vendors column says there should be one), `service` (a service
-- or API account: the vendor's `people.service_kinds`; reported apart from
-- people, never stale, orphan or missing).
-- @module userapi.review
-- @usage local roster = assert(review.roster(io.open("people.csv"):read("a")))
-- local rv = assert(review.run(dir, { stale_days = 90, roster = roster }))
-- for row in rv:rows() do print(row.email, row.vendor, row.flags) end
-- rv:close()
local csv = require "userapi.csv"
local core = require "userapi.core"

local type, ipairs, tostring, tonumber, pcall, error = type, ipairs, tostring, tonumber, pcall, error
local concat, sort = table.concat, table.sort
local floor = math.floor

local _M = {}

--- The flags, in the order reports list them.
_M.FLAGS = { "stale", "pending", "orphan", "missing", "service" }

-- accounts read from one vendor before the next vendor's turn: the walks go
-- side by side, each within its own client's budget
local TURN = 50

-- ---- the scratch file's lines: tab-separated, escaped ----------------------------

local ESC = { ["\\"] = "\\\\", ["\t"] = "\\t", ["\n"] = "\\n", ["\r"] = "\\r" }
local UNESC = { ["\\\\"] = "\\", ["\\t"] = "\t", ["\\n"] = "\n", ["\\r"] = "\r" }
local COLUMNS = { "email", "vendor", "id", "name", "kind", "state", "last_login", "flags" }

local function esc(v) return (tostring(v or ""):gsub("[\\\t\n\r]", ESC)) end
local function unesc(s) return (s:gsub("\\[\\tnr]", UNESC)) end

local function line_of(row)
  local t = {}
  for i, k in ipairs(COLUMNS) do t[i] = esc(row[k]) end
  return concat(t, "\t") .. "\n"
end

local function row_of(line)
  local row, i = {}, 0
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    i = i + 1
    local v = unesc(field)
    if v ~= "" then row[COLUMNS[i]] = v end
  end
  return row
end

-- ---- one account ---------------------------------------------------------------

-- seconds since the epoch of an ISO 8601 time (UTC), or nil
local function epoch(iso)
  if type(iso) ~= "string" then return nil end
  local y, m, d, H, M, S = iso:match("^(%d%d%d%d)-(%d%d)-(%d%d)[T ](%d%d):(%d%d):(%d%d)")
  if not y then
    y, m, d = iso:match("^(%d%d%d%d)-(%d%d)-(%d%d)$")
    H, M, S = 0, 0, 0
  end
  if not y then return nil end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  -- days from civil (Howard Hinnant's algorithm): no os.time, no time zone
  y = m <= 2 and y - 1 or y
  local era = floor(y / 400)
  local yoe = y - era * 400
  local doy = floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(H) * 3600 + tonumber(M) * 60 + tonumber(S)
end

--- Seconds since the epoch of an ISO 8601 time in UTC (`2024-02-03T10:11:12Z`,
-- `2024-02-03`), without the local time zone; nil for anything else.
-- @tparam string iso
-- @treturn ?number
_M.epoch = epoch

local function state_of(r)
  if r.pending then return "pending" end
  if r.active == false then return "disabled" end
  return "active"
end

-- the flags of one account, by what its vendor records
local function flags_of(r, people, opts)
  local service = people.service_kinds and people.service_kinds[r.kind]
  if service then return { "service" } end
  local flags = {}
  if r.pending then
    flags[#flags + 1] = "pending"
  elseif people.logins and opts.stale_days then
    local seen = epoch(r.last_seen_at) or (r.last_seen_at == nil and epoch(r.created_at))
    if seen and opts.now - seen > opts.stale_days * 86400 then flags[#flags + 1] = "stale" end
  end
  if opts.roster and not (r.email and opts.roster.by_email[r.email]) then flags[#flags + 1] = "orphan" end
  return flags
end

-- ---- the roster ----------------------------------------------------------------------

local VENDOR_SEP = "[^;,%s]+"

--- Reads a roster: CSV with a header naming `email`, and optionally `name`
-- and `vendors` (the vendors the person should have accounts in, separated
-- by `;`, `,` or spaces; vendor names or aliases).
-- @tparam string text the CSV
-- @treturn[1] table `{ people = { {email, name, vendors}, ... } (sorted by email), by_email = {} }`
-- @treturn[2] nil
-- @treturn[2] string what is wrong, with the line
function _M.roster(text)
  if type(text) ~= "string" then error("bad argument #1 to 'roster' (string expected)", 2) end
  local rows = {}
  -- a byte order mark (a spreadsheet's "CSV UTF-8") is not part of the first column's name
  text = text:gsub("^\239\187\191", "")
  local ok, err = pcall(function()
    local p = csv.parser(",", function(fields) rows[#rows + 1] = fields end)
    p.feed(text)
    p.finish()
    -- a stray quote opening a field would swallow every later person: each then an orphan
    if p.unclosed() then error(("line %d: a quoted field is never closed"):format(#rows), 0) end
  end)
  if not ok then return nil, "roster: " .. tostring(err) end
  local header = rows[1]
  if not header then return nil, "roster: empty (a header with an email column expected)" end
  local col = {}
  for i, h in ipairs(header) do col[h:lower():gsub("^%s+", ""):gsub("%s+$", "")] = i end
  if not col.email then return nil, "roster: no email column in the header" end
  local people, by_email = {}, {}
  for n = 2, #rows do
    local row = rows[n]
    local email = (row[col.email] or ""):gsub("^%s+", ""):gsub("%s+$", ""):lower()
    if email ~= "" then
      if not email:find("@", 1, true) then return nil, ("roster: line %d: '%s' is not an email"):format(n, email) end
      local vendors
      if col.vendors and row[col.vendors] and row[col.vendors]:find("%S") then
        vendors = {}
        for v in row[col.vendors]:gmatch(VENDOR_SEP) do vendors[#vendors + 1] = v:lower() end
      end
      if not by_email[email] then
        local p = { email = email, name = col.name and row[col.name] or nil, vendors = vendors }
        people[#people + 1], by_email[email] = p, p
      end
    end
  end
  sort(people, function(a, b) return a.email < b.email end)
  return { people = people, by_email = by_email }
end

-- ---- the review ------------------------------------------------------------------------

local Review = {}
Review.__index = Review

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function counts() return { accounts = 0, stale = 0, pending = 0, orphan = 0, missing = 0, service = 0 } end

-- the walks, side by side: TURN accounts of one vendor, then the next's
local function walk(self, dir, opts, out)
  local live = {}
  for _, v in ipairs(self.vendors) do
    live[#live + 1] = { name = v, it = dir:accounts(v), people = dir.clients[v].vendor.people }
  end
  while #live > 0 do
    for i = #live, 1, -1 do
      local w = live[i]
      for _ = 1, TURN do
        local ok, r = pcall(w.it)
        if not ok then
          self.failed = self.failed or {}
          self.failed[w.name] = r
          table.remove(live, i)
          break
        end
        if r == nil then
          table.remove(live, i)
          break
        end
        local flags = flags_of(r, w.people, opts)
        local c = self.summary[w.name]
        c.accounts = c.accounts + 1
        for _, f in ipairs(flags) do c[f] = c[f] + 1 end
        local ok_w, err = out:write(line_of{ email = r.email, vendor = w.name, id = r.id, name = r.name,
          kind = r.kind, state = state_of(r), last_login = r.last_seen_at, flags = concat(flags, " ") })
        if not ok_w then error("review: cannot write its scratch file: " .. tostring(err), 0) end
      end
    end
  end
end

--- Runs a review: walks every vendor of the directory.
-- @tparam userapi.directory.Directory dir the vendors to review
-- @tparam[opt] table opts `stale_days` (a whole number of days), `roster` (from @{roster}),
-- `now` (seconds since the epoch; the clock's by default), `tmpdir` (default `TMPDIR` or /tmp)
-- @treturn[1] Review with `summary` (counts by vendor and flag, and `total`), `people`
-- (distinct emails), `failed` (`{ [vendor] = err }` for walks that failed, nil when none did)
-- @treturn[2] nil
-- @treturn[2] string a scratch file that could not be made or sorted
-- @raise on bad arguments
function _M.run(dir, opts)
  if type(dir) ~= "table" or type(dir.accounts) ~= "function" then
    error("bad argument #1 to 'run' (a userapi.directory expected)", 2)
  end
  opts = opts or {}
  if opts.stale_days ~= nil and (type(opts.stale_days) ~= "number" or opts.stale_days < 0
      or opts.stale_days ~= floor(opts.stale_days)) then
    error("bad argument #2 to 'run' (stale_days: a whole number of days expected)", 2)
  end
  opts = { stale_days = opts.stale_days, roster = opts.roster, now = opts.now or os.time(),
           tmpdir = opts.tmpdir or os.getenv("TMPDIR") or "/tmp" }
  local self = setmetatable({ vendors = {}, summary = { total = counts() }, roster = opts.roster }, Review)
  self.vendor_names = {}
  for _, v in ipairs(dir.vendors) do
    self.vendors[#self.vendors + 1] = v
    self.summary[v] = counts()
    local cli = dir.clients[v].vendor.cli
    self.vendor_names[v] = v
    if cli and cli.alias then self.vendor_names[cli.alias] = v end
  end
  local base = opts.tmpdir .. "/userapi-review." .. tostring({}):match("0x(%x+)") .. "." .. os.time()
  self.raw, self.sorted = base .. ".raw", base .. ".sorted"
  -- the scratch files list every account of the tenant: private to the user (0600), made
  -- exclusively (never through a link planted at the name), as the journal is
  local out, err = core.open_private(self.raw, "new")
  if not out then return nil, "review: cannot make a scratch file: " .. tostring(err) end
  local ok, werr = pcall(walk, self, dir, opts, out)
  out:close()
  if not ok then
    os.remove(self.raw)
    error(werr, 0)
  end
  -- sort(1) writes into the private file made here (it keeps an existing file's mode)
  local held, herr = core.open_private(self.sorted, "new")
  if not held then
    os.remove(self.raw)
    return nil, "review: cannot make a scratch file: " .. tostring(herr)
  end
  held:close()
  -- C collation: byte order, the same as Lua's string comparison below
  local cmd = ("LC_ALL=C sort -t '\t' -k1,1 -k2,2 -k3,3 -S 8M -T %s -o %s %s"):format(
    shell_quote(opts.tmpdir), shell_quote(self.sorted), shell_quote(self.raw))
  -- Lua 5.1 and LuaJIT answer a status number, Lua 5.2+ true or nil
  local status = os.execute(cmd)
  os.remove(self.raw)
  -- read through one descriptor, the name removed at once: a run ended by a signal
  -- (`| head` is SIGPIPE, Ctrl-C) leaves no list of accounts behind
  local fh, ferr
  if status == true or status == 0 then fh, ferr = io.open(self.sorted, "rb") end
  os.remove(self.sorted)
  if status ~= true and status ~= 0 then return nil, "review: sort(1) failed on its scratch file" end
  if not fh then return nil, "review: cannot read its scratch file: " .. tostring(ferr) end
  self.sorted_file = fh
  -- one pass for the counts the grouping gives: people and missing accounts
  local total = self.summary.total
  local people = 0
  for row in self:rows() do
    if row.state ~= "missing" then
      for _, f in ipairs(_M.FLAGS) do
        if row.flags:find(f, 1, true) then total[f] = total[f] + 1 end
      end
      total.accounts = total.accounts + 1
    else
      self.summary[row.vendor].missing = self.summary[row.vendor].missing + 1
      total.missing = total.missing + 1
    end
    if row.first then people = people + 1 end
  end
  self.people = people
  return self
end

--- A review's results.
-- @type Review

--- The rows, person after person (by email; accounts without an email first),
-- vendor after vendor: `email`, `vendor`, `id`, `name`, `kind`, `state`
-- (`active`, `pending`, `disabled`, or `missing` for a roster's account that
-- is not there), `last_login`, `flags` (a space-separated string), `first`
-- (true on a person's first row).
-- @treturn function an iterator of rows
function Review:rows()
  local f = self.sorted_file
  if not f then error("the review is closed", 2) end
  f:seek("set", 0)
  local roster = self.roster and self.roster.people or {}
  local ri, queue, nxt = 1, {}, nil
  local group, person, seen, started      -- the person being read: email, roster entry, vendors seen
  local function peek()
    if nxt == nil and f then
      local line = f:read("l")
      if line then
        nxt = row_of(line)
        nxt.email, nxt.flags = nxt.email or "", nxt.flags or ""
      else
        f = nil
      end
    end
    return nxt
  end
  local function emit(row)
    row.first = not started
    started = true
    return row
  end
  return function()
    while true do
      if #queue > 0 then return emit(table.remove(queue, 1)) end
      local acc = peek()
      if group == nil then
        local ros = roster[ri] and roster[ri].email
        if not acc and not ros then return nil end
        group = (acc and (not ros or acc.email <= ros)) and acc.email or ros
        person, seen, started = nil, {}, false
        if ros == group then person, ri = roster[ri], ri + 1 end
      end
      if acc and acc.email == group then
        nxt = nil
        if not acc.flags:find("service", 1, true) then seen[acc.vendor] = true end
        if acc.email == "" then acc.email = nil end
        return emit(acc)
      end
      -- the person is done: the accounts the roster says they should have
      for _, v in ipairs(person and person.vendors or {}) do
        local name = self.vendor_names[v]
        if name and not seen[name] then
          seen[name] = true
          queue[#queue + 1] = { email = group, vendor = name, name = person.name, state = "missing", flags = "missing" }
        end
      end
      group = nil
    end
  end
end

--- What would fix the review: offboard each orphan from the vendors where
-- they have accounts, onboard each missing account.
-- @treturn {table,...} `{ action = "offboard"|"onboard", email, name, vendors = {...} }`,
-- offboards first, each by email
function Review:plan()
  local off, on, order = {}, {}, {}
  for row in self:rows() do
    local flags = " " .. row.flags .. " "
    local list = flags:find(" orphan ", 1, true) and off or flags:find(" missing ", 1, true) and on
    if list and row.email then
      local key = list == off and "off " .. row.email or "on " .. row.email
      local p = list[key]
      if not p then
        p = { action = list == off and "offboard" or "onboard", email = row.email, name = row.name, vendors = {} }
        list[key] = p
        order[#order + 1] = p
      end
      p.vendors[#p.vendors + 1] = row.vendor
    end
  end
  sort(order, function(a, b)
    if a.action ~= b.action then return a.action == "offboard" end
    return a.email < b.email
  end)
  return order
end

--- Closes the scratch file (its name is already gone).
function Review:close()
  if self.sorted_file then self.sorted_file:close() end
  self.sorted_file = nil
end

return _M
