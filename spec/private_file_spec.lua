-- core.open_private, the C primitive under the journal and the config file:
-- what is checked is what was opened (fstat on the descriptor), a link is
-- not followed unless asked, a FIFO does not block, flock is per open file.
-- And the config file read while a symbolic link is swapped under it
-- (issue 19, item 24).
local core = require "userapi.core"
local config = require "userapi.config"
local proc = require "spec.proc"

local sh_ok, write = proc.sh_ok, proc.write
local function scratch() return proc.scratch("private") end

describe("core.open_private", function()
  it("creates a file 0600 whatever the umask, reads, appends, cuts, syncs", function()
    local path = scratch() .. "/new"
    local old = core.umask(0)
    local f, st = core.open_private(path, "rw")
    core.umask(old)
    assert.same({ mode = tonumber("600", 8), uid = core.geteuid(), size = 0 }, st)
    assert.is_true(f:write("one\n"))
    assert.is_true(f:write("two\n"))
    assert.is_true(f:sync())
    assert.is_true(f:truncate(4))
    assert.is_true(f:write("three\n")) -- appended at the new end
    f:close()
    f:close() -- twice is harmless
    assert.error_matches(function() f:read() end, "open file expected", 1, true)
    local r, rst = core.open_private(path, "r")
    assert.equal(10, rst.size)
    assert.equal("one\nthree\n", r:read())
    assert.is_nil(r:write("x"))
    r:close()
    assert.has_error(function() core.open_private(path, "w") end,
      [[bad argument #2 to 'open_private' ("r", "rw" or "new" expected)]])
  end)

  it("refuses a symbolic link unless asked to follow it, and what is not a regular file", function()
    local dir = scratch()
    local target = write(dir .. "/target", "x", "600")
    assert(sh_ok(("ln -s %s %s/link && mkfifo %s/fifo"):format(target, dir, dir)))
    for _, mode in ipairs({ "r", "rw" }) do
      assert.same({ nil, dir .. "/link is a symbolic link (not followed)", "link" },
        { core.open_private(dir .. "/link", mode) })
      -- O_NONBLOCK: no writer, no reader, and still no wait
      assert.same({ nil, dir .. "/fifo is not a regular file", "type" }, { core.open_private(dir .. "/fifo", mode) })
    end
    assert.same({ nil, dir .. " is not a regular file", "type" }, { core.open_private(dir, "r") })
    assert.same({ nil, "/dev/zero is not a regular file", "type" }, { core.open_private("/dev/zero", "r") })
    local f = assert(core.open_private(dir .. "/link", "r", true))
    assert.equal("x", f:read())
    f:close()
    local none, err, why = core.open_private(dir .. "/missing", "r")
    assert.is_nil(none)
    assert.equal(dir .. "/missing: No such file or directory", err)
    assert.equal("open", why)
  end)

  it("locks for one open file at a time; closing releases", function()
    local path = scratch() .. "/locked"
    local a = core.open_private(path, "rw")
    local b = core.open_private(path, "rw")
    assert.is_true(a:lock())
    assert.is_false(b:lock())
    a:close()
    assert.is_true(b:lock())
    b:close()
  end)
end)

describe("the config file", function()
  it("is checked and read through one descriptor while a symbolic link is swapped under it", function()
    local dir = scratch()
    local private = write(dir .. "/private", "[default.kandji]\ntoken = kandji-test-token\n", "600")
    -- what the check refuses (open to others); an attacker's own file would be another uid's
    local planted = write(dir .. "/planted", "[default.kandji]\ntoken = planted-token\n", "644")
    -- swaps the link as fast as it can, atomically (rename), for at most 60 s
    local flipper = write(dir .. "/flip.lua", [[
      local ffi = require "ffi"
      ffi.cdef "int symlink(const char *, const char *); int rename(const char *, const char *);"
      local dir, a, b = arg[1], arg[2], arg[3]
      local stop = os.time() + 60
      for i = 1, math.huge do
        ffi.C.symlink(a, dir .. "/t1"); ffi.C.rename(dir .. "/t1", dir .. "/config")
        ffi.C.symlink(b, dir .. "/t2"); ffi.C.rename(dir .. "/t2", dir .. "/config")
        if i % 1000 == 0 and os.time() > stop then break end
      end
    ]])
    local pid = proc.lines(io.popen(("luajit %s %s %s %s >/dev/null 2>&1 & echo $!"):format(flipper, dir, private,
      planted)):read("*a"))[1]
    finally(function() os.execute("kill " .. pid .. " 2>/dev/null") end)
    while not io.open(dir .. "/config") do core.sleep(1) end
    local env = { USERAPI_CONFIG = dir .. "/config", HOME = "/nonexistent" }
    local seen = { private = 0, planted = 0, refused = 0 }
    for _ = 1, 3000 do
      local ok, opts = pcall(config.options, "kandji", env)
      if not ok then
        assert.truthy(tostring(opts.message):find("run chmod 600 " .. dir .. "/config", 1, true), opts.message)
        seen.refused = seen.refused + 1
      elseif opts.token == "planted-token" then
        seen.planted = seen.planted + 1
      else
        assert.equal("kandji-test-token", opts.token)
        seen.private = seen.private + 1
      end
    end
    -- both files were met, and the planted one was never read as if checked
    assert.equal(0, seen.planted, ("planted %d, refused %d, private %d"):format(seen.planted, seen.refused,
      seen.private))
    assert.is_true(seen.refused > 0 and seen.private > 0)
  end)

  it("a FIFO named as the config file is refused (exit 2), not waited on", function()
    local fifo = scratch() .. "/config"
    assert(sh_ok("mkfifo " .. fifo))
    local r = proc.run(nil, { USERAPI_CONFIG = fifo }, nil, "timeout 20 bin/userapi kandji list_users")
    assert.equal(2, r.code)
    assert.equal("userapi: " .. fifo .. " is not a regular file\n", r.err)
  end)
end)
