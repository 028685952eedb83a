--- The `userapi` command's standard streams: every write to standard output
-- checked, terminals recognised, the progress bar.
--
-- A write that fails raises a write error. When the reader has gone (EPIPE:
-- `userapi ... | head -1`), the command stops at once and ends as a process
-- killed by SIGPIPE would: status 141, no message. SIGPIPE usually does that
-- itself; where the host ignores it (a parent's `trap '' PIPE`), the write
-- returns EPIPE and the command finishes the job: core.die_of_sigpipe.
-- @module userapi.cli.streams
local setmetatable, getmetatable, type, tostring = setmetatable, getmetatable, type, tostring
local floor, format = math.floor, string.format
local core = require "userapi.core"

local _M = {}

local WRITE_MT = {}
local EPIPE = 32

--- The exit status of a process killed by SIGPIPE, as a shell reports it.
_M.SIGPIPE_STATUS = 141

-- raises the failure of a write or flush, if it failed
local function check(ok, msg, code)
  if ok == nil and msg ~= nil then
    local pipe = code == EPIPE or tostring(msg):find("Broken pipe", 1, true) ~= nil
    error(setmetatable({ message = tostring(msg), pipe = pipe }, WRITE_MT), 0)
  end
end

--- A write error raised by a checked stream, or nil.
-- @param e a caught error
-- @treturn ?table `{ message, pipe }`: pipe when the reader has gone
function _M.write_error(e)
  if type(e) == "table" and getmetatable(e) == WRITE_MT then return e end
end

--- A stream whose `write` and `flush` raise a write error on failure.
-- @param stream a file or file-like object (`write`, optional `flush`)
-- @treturn table the checked stream
function _M.checked(stream)
  local c = {}
  function c:write(...)
    check(stream:write(...))
    return self
  end
  function c:flush()
    if stream.flush then check(stream:flush()) end
    return self
  end
  return c
end

--- Whether a stream is the process's own (`io.stderr`, ...) and a terminal.
-- @param stream the stream the command was given
-- @tparam string name `stdin`, `stdout` or `stderr`
-- @treturn boolean
function _M.isatty(stream, name)
  return stream == io[name] and core.isatty(stream)
end

--- A progress bar on a terminal: `bar(done, n)` redraws it.
-- @param err_stream where to draw
-- @treturn function
function _M.progress_bar(err_stream)
  local last = -1
  return function(done, n)
    local cols = 30
    local filled = n > 0 and floor(cols * done / n) or cols
    if filled == last and done < n then return end
    last = filled
    err_stream:write(format("\r[%s%s] %d/%d", ("#"):rep(filled), ("."):rep(cols - filled), done, n))
    if done >= n then err_stream:write("\n") end
    if err_stream.flush then err_stream:flush() end
  end
end

--- Ends the process as SIGPIPE would have: killed by the signal, status 141
-- to a shell.
function _M.die_of_sigpipe()
  io.stderr:flush()
  core.die_of_sigpipe()
end

return _M
