-- Runs the Lua and shell blocks of a Markdown file against the simulator, as
-- a reader would paste them: `make docs` runs README.md's. Run it under
-- sim/with-sim.sh (USERAPI_SIM_URL set):
--
--   sim/with-sim.sh lua5.4 tools/readme.lua README.md
--
-- * The Lua blocks of one `##` section make one program, in order, so a
--   later block may use what an earlier one made. It runs under lua5.4 with
--   the checkout's module paths.
-- * A shell block runs alone, with `sh -e` from the checkout's top.
-- * Both see the environment the README's quick start tells a reader to set
--   for the simulator: USERAPI_<VENDOR>_BASE_URL and the simulator's
--   credentials. The simulator is reset before each program and block.
-- * A block right after a line `<!-- not run: REASON -->` is skipped and its
--   reason listed; a reason is required.
-- Exits 1 naming the first line of each block that failed, with its output.
local root = arg[0]:match("^(.*)/tools/[^/]*$") or "."
local file = arg[1] or (root .. "/README.md")
local sim = os.getenv("USERAPI_SIM_URL")
if not sim or sim == "" then
  io.stderr:write("tools/readme.lua: run it under sim/with-sim.sh (USERAPI_SIM_URL is not set)\n")
  os.exit(2)
end

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- what the quick start sets to point scripts and the command at the simulator
local ENV = {
  USERAPI_ODS_BASE_URL = sim .. "/ods/api/automation/v1.0", USERAPI_ODS_APIKEY = "ods-test-key",
  USERAPI_ODS_DOMAIN = "data.example.org",
  USERAPI_ARTHUR_BASE_URL = sim .. "/arthur", USERAPI_ARTHUR_TOKEN = "arthur-test-token",
  USERAPI_KANDJI_BASE_URL = sim .. "/kandji", USERAPI_KANDJI_TOKEN = "kandji-test-token",
  USERAPI_KANDJI_SUBDOMAIN = "acme",
  USERAPI_SIGFOX_BASE_URL = sim .. "/sigfox/v2", USERAPI_SIGFOX_LOGIN = "sigfox-login",
  USERAPI_SIGFOX_PASSWORD = "sigfox-secret",
  USERAPI_CONFIG = "/nonexistent/userapi-config",
  LUA_PATH = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;;",
  LUA_CPATH = root .. "/build/lua5.4/?.so;;",
  PATH = root .. "/bin:" .. os.getenv("PATH"),
}

local function env_prefix()
  local words = {}
  for k, v in pairs(ENV) do words[#words + 1] = k .. "=" .. quote(v) end
  table.sort(words)
  return "env " .. table.concat(words, " ") .. " "
end

-- the blocks of the file: { lang, text, line, skip = reason, section }
local function blocks(text)
  local out, section, lang, body, start, prev, n = {}, "", nil, nil, nil, "", 0
  for line in (text .. "\n"):gmatch("(.-)\n") do
    n = n + 1
    if body then
      if line:match("^```%s*$") then
        out[#out + 1] = { lang = lang, text = table.concat(body, "\n") .. "\n", line = start, section = section,
                          skip = prev:match("^<!%-%- not run: (.-)%s*%-%->$") }
        body, prev = nil, ""
      else
        body[#body + 1] = line
      end
    else
      local l = line:match("^```(%w*)")
      if l then
        lang, body, start = l, {}, n
      else
        if line:match("^## ") then section = line:sub(4) end
        if line:match("%S") then prev = line end
        if line:match("^<!%-%- not run") and not line:match("^<!%-%- not run: %S.-%-%->$") then
          io.stderr:write(("%s:%d: a not-run mark needs a reason: <!-- not run: REASON -->\n"):format(file, n))
          os.exit(2)
        end
      end
    end
  end
  return out
end

local http = require "socket.http"
local function reset()
  local _, code = http.request{ url = sim .. "/_sim/reset", method = "POST" }
  assert(code == 200, "simulator reset failed: " .. tostring(code))
end

local function run(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok, _, code = p:close()
  return ok and code == 0, out
end

local f = assert(io.open(file))
local all = blocks(f:read("a"))
f:close()

local programs, order, skipped = {}, {}, {}
for _, b in ipairs(all) do
  if b.skip then
    if b.lang == "lua" or b.lang == "sh" then skipped[#skipped + 1] = ("%s:%d (%s)"):format(file, b.line, b.skip) end
  elseif b.lang == "lua" then
    local p = programs[b.section]
    if not p then
      p = { lines = {}, first = b.line }
      programs[b.section] = p
      order[#order + 1] = { kind = "lua", section = b.section }
    end
    p.lines[#p.lines + 1] = ("-- %s:%d\n%s"):format(file, b.line, b.text)
  elseif b.lang == "sh" then
    order[#order + 1] = { kind = "sh", block = b }
  end
end

local failed, ran, dir = 0, 0, os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. quote(dir)))
for _, o in ipairs(order) do
  reset()
  local ok, out, where
  if o.kind == "lua" then
    local p = programs[o.section]
    local path = dir .. "/section.lua"
    local w = assert(io.open(path, "w"))
    w:write(table.concat(p.lines, "\n"))
    w:close()
    where = ("%s:%d (section '%s', its Lua blocks as one program)"):format(file, p.first, o.section)
    ok, out = run("cd " .. quote(root) .. " && " .. env_prefix() .. "lua5.4 " .. quote(path))
  else
    where = ("%s:%d (shell)"):format(file, o.block.line)
    ok, out = run("cd " .. quote(root) .. " && " .. env_prefix() .. "sh -e -c " .. quote(o.block.text))
  end
  ran = ran + 1
  if not ok then
    failed = failed + 1
    io.stderr:write(("readme: %s failed:\n%s\n"):format(where, out))
  end
end
os.execute("rm -rf " .. quote(dir))
print(("readme: %d programs and shell blocks run, %d failed; %d blocks not run:"):format(ran, failed, #skipped))
for _, s in ipairs(skipped) do print("  " .. s) end
os.exit(failed == 0 and 0 or 1)
