-- Runs a command of the checkout as a subprocess with a clean environment
-- (env -i: only what the case gives, plus PATH and a HOME of its own, so no
-- user config is read) and returns its exit code, stdout and stderr.
local proc = {}

proc.root = debug.getinfo(1, "S").source:match("^@(.*)/spec/proc%.lua$") or "."
if proc.root:sub(1, 1) ~= "/" then
  local p = io.popen("cd " .. proc.root .. " && pwd")
  proc.root = p:read("*l")
  p:close()
end

--- The interpreter running the specs, and its build directory.
proc.lua = jit and "luajit" or "lua5.4"
proc.build = proc.root .. "/build/" .. proc.lua

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
proc.quote = q

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end
proc.slurp = slurp

local tmp
--- A scratch directory for the whole run (removed at exit by the OS's tmp policy).
function proc.tmpdir()
  if not tmp then
    local p = io.popen("mktemp -d /tmp/userapi-proc.XXXXXX")
    tmp = p:read("*l")
    p:close()
  end
  return tmp
end

--- Writes text to a file in the scratch directory; returns its path.
function proc.file(name, text)
  local path = proc.tmpdir() .. "/" .. name
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

--- Runs argv (an array) in the checkout's root with env (a table) and stdin
-- (a string); `raw` is a shell fragment used instead of argv when given.
-- Returns { code, out, err }.
function proc.run(argv, env, stdin, raw)
  local dir = proc.tmpdir()
  local vars = { "PATH=" .. q(os.getenv("PATH") or "/usr/bin:/bin"), "HOME=" .. q(dir .. "/home") }
  for k, v in pairs(env or {}) do vars[#vars + 1] = k .. "=" .. q(v) end
  local words = {}
  for i, a in ipairs(argv or {}) do words[i] = q(a) end
  local inp = proc.file("stdin", stdin or "")
  local cmd = ("cd %s && env -i %s %s <%s >%s/stdout 2>%s/stderr; echo $?"):format(
    q(proc.root), table.concat(vars, " "), raw or table.concat(words, " "), q(inp), q(dir), q(dir))
  local p = assert(io.popen(cmd))
  local code = tonumber(p:read("*l"))
  p:close()
  return { code = code, out = slurp(dir .. "/stdout"), err = slurp(dir .. "/stderr") }
end

--- The LUA_PATH and LUA_CPATH of the checkout for the spec's interpreter.
function proc.lua_env(extra)
  local env = {
    LUA_PATH = proc.root .. "/lua/?.lua;" .. proc.root .. "/lua/?/init.lua;;",
    LUA_CPATH = proc.build .. "/?.so;;",
  }
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end

--- The lines of s, each ended by a newline.
function proc.lines(s)
  local t = {}
  for l in s:gmatch("([^\n]*)\n") do t[#t + 1] = l end
  return t
end

--- Runs a shell command; true when it exited 0 (on every Lua: os.execute's
-- result differs between 5.1/LuaJIT and 5.2+).
function proc.sh_ok(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end

local scratch_seq = 0
--- A fresh, empty directory under the scratch directory, one per call (links
-- and FIFOs need names of their own); `name` prefixes it.
function proc.scratch(name)
  scratch_seq = scratch_seq + 1
  local dir = proc.tmpdir() .. "/" .. (name or "scratch") .. scratch_seq
  assert(proc.sh_ok("rm -rf " .. proc.quote(dir) .. " && mkdir " .. proc.quote(dir)))
  return dir
end

--- Writes text to path (made `mode` with chmod when given); returns path.
function proc.write(path, text, mode)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  if mode then assert(proc.sh_ok("chmod " .. mode .. " " .. proc.quote(path))) end
  return path
end

return proc
