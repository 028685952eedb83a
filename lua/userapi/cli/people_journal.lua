--- The person-level journal of `userapi onboard`, `offboard` and `rotate`
-- (`--journal FILE`): one JSON line per step, so that a rerun after a crash
-- (SIGKILL, a reboot) knows what was done.
--
--     {"journal":"userapi offboard","vendors":"arthur,opendatasoft"}   the header: which job
--     {"begin":"ada@example.com"}                         before the item's first request
--     {"done":"ada@example.com","result":{...}}           once it is finished
--     {"failed":"ada@example.com"}                        finished, but a vendor failed: done again next time
--
-- An item done is skipped on the rerun (reported as resumed); an item begun
-- but not done is in doubt: onboard and offboard are idempotent and do it
-- again, rotate refuses to (a second rotation would lose the first one's
-- secret) unless told. A last line cut short by the kill is ignored.
--
-- Kept apart from @{userapi.journal} (the bulk journal: windows of items of
-- one operation, keyed by arguments): this one is keyed by person or account
-- and spans vendors. The file is the user's own: created 0600, never through
-- a symbolic link, never a FIFO or a device (`core.open_private`).
-- @module userapi.cli.people_journal
local json = require "userapi.json"
local core = require "userapi.core"
local usage = require("userapi.cli.usage").raise

local type, tostring, error, pcall, ipairs = type, tostring, error, pcall, ipairs

local _M = {}

local Journal = {}
Journal.__index = Journal

-- each line reaches the kernel (and the disk) before the request it announces
local function put(self, rec)
  local ok, err = self.f:write(json.encode(rec) .. "\n")
  if ok then ok, err = self.f:sync() end
  if not ok then error("userapi: cannot write the journal " .. self.path .. ": " .. tostring(err), 0) end
end

-- a done record's result as written: nothing, or a table whose array part holds rows (tables)
local function result_ok(result)
  if result == nil then return true end
  if type(result) ~= "table" then return false end
  for _, row in ipairs(result) do
    if type(row) ~= "table" then return false end
  end
  return true
end

-- the records of the file: done (key -> result) and begun (key -> true)
local function read_back(path, text, header, vendors)
  local done, begun, n = {}, {}, 0
  for line in text:gmatch("([^\n]*)\n") do
    n = n + 1
    local ok, rec = pcall(json.decode, line)
    if not ok or type(rec) ~= "table" then usage("--journal %s: line %d is not a journal record", path, n) end
    if n == 1 then
      if rec.journal ~= header then
        usage("--journal %s: written by %s, not %s", path, tostring(rec.journal or "something else"), header)
      end
      -- a person done in other vendors is not done in these
      if rec.vendors ~= vendors then
        usage("--journal %s: written for the vendors %s, not %s (a journal is one job: give another file)", path,
          tostring(rec.vendors), tostring(vendors))
      end
    elseif type(rec.done) == "string" then
      -- a tampered line is named, never a Lua error when its rows are reported
      if not result_ok(rec.result) then usage("--journal %s: line %d is not a journal record", path, n) end
      done[rec.done], begun[rec.done] = rec.result or true, nil
    elseif type(rec.failed) == "string" then
      -- finished without success: nothing to skip, nothing in doubt
      begun[rec.failed], done[rec.failed] = nil, nil
    elseif type(rec.begin) == "string" then
      -- begun again after a failure was recorded: in doubt again
      begun[rec.begin], done[rec.begin] = true, nil
    end
  end
  return done, begun
end

--- Opens (or creates, 0600) the journal of a command.
-- @tparam string path
-- @tparam string command `onboard`, `offboard`, `rotate`
-- @tparam[opt] string vendors the vendors of the job (`arthur,opendatasoft`): a rerun must have the same
-- @treturn Journal
-- @raise a usage error: a symbolic link, not a regular file, another's, another command's
function _M.open(path, command, vendors)
  local f, st = core.open_private(path, "rw")
  if not f then usage("--journal %s", tostring(st)) end
  if st.uid ~= core.geteuid() then
    f:close()
    usage("--journal %s: the file is another user's", path)
  end
  local text, rerr = f:read()
  if not text then error("userapi: cannot read the journal " .. path .. ": " .. tostring(rerr), 0) end
  local header = "userapi " .. command
  -- a line torn by a kill is cut off the file
  local whole = text:match("^(.*\n)") or ""
  if #whole < #text then
    local ok, terr = f:truncate(#whole)
    if not ok then error("userapi: cannot write the journal " .. path .. ": " .. tostring(terr), 0) end
  end
  local self = setmetatable({ path = path, f = f }, Journal)
  if whole == "" then
    put(self, { journal = header, vendors = vendors })
    self.done, self.begun = {}, {}
  else
    self.done, self.begun = read_back(path, whole, header, vendors)
  end
  return self
end

--- A journal.
-- Fields: `done` (key -> the recorded result), `begun` (key -> true: in doubt).
-- @type Journal

--- Records that an item starts (before its first request).
-- @tparam string key
function Journal:begin(key) put(self, { begin = key }) end

--- Records an item finished, with what to report on a rerun.
-- @tparam string key
-- @tparam table result
function Journal:finish(key, result)
  self.done[key], self.begun[key] = result, nil
  put(self, { done = key, result = result })
end

--- Records an item finished without success: a rerun does it again (it is neither done nor in doubt).
-- @tparam string key
function Journal:failed(key)
  self.done[key], self.begun[key] = nil, nil
  put(self, { failed = key })
end

function Journal:close() self.f:close() end

return _M
