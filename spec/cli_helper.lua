-- Shared by the command's specs (spec/cli*_spec.lua): the command in-process
-- through cli.main with captured streams (under the suite's Lua), and as a
-- real subprocess of bin/userapi (Lua 5.4, no LUA_PATH: it finds the checkout).
local cli = require "userapi.cli"
local format = require "userapi.format"
local config = require "userapi.config"
local csv = require "userapi.csv"
local cjson = require "cjson"
local sim = require "spec.helper"
local proc = require "spec.proc"

local ADA = "69c009ca-1f78-4bdf-bb93-08d6d39041db"      -- Kandji, no devices
local ALAN = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"     -- Kandji, 2 devices
local SIGFOX_ADA = "5f3a9c1e2b4d6f8a0c1e2b4d"

-- credentials as the command reads them
local ENV = {
  USERAPI_ODS_APIKEY = "ods-test-key",
  USERAPI_ARTHUR_TOKEN = "arthur-test-token",
  USERAPI_KANDJI_TOKEN = "kandji-test-token",
  USERAPI_SIGFOX_LOGIN = "sigfox-login",
  USERAPI_SIGFOX_PASSWORD = "sigfox-secret",
  HOME = "/nonexistent",
}

-- a stream that remembers what is written, or hands out `input`
local function stream(input)
  local s = { buf = {}, input = input or "" }
  function s:write(...)
    for i = 1, select("#", ...) do self.buf[#self.buf + 1] = tostring((select(i, ...))) end
    return self
  end
  function s:read(what)
    if what == "*l" or what == "l" then
      if self.input == "" then return nil end
      local line, rest = self.input:match("^([^\n]*)\n?(.*)$")
      self.input = rest
      return line
    end
    local all = self.input
    self.input = ""
    return all
  end
  function s:flush() end
  function s:text() return table.concat(self.buf) end
  return s
end

-- cli.main with captured streams: returns code, stdout, stderr
local function run(argv, opts)
  opts = opts or {}
  local env = {}
  for k, v in pairs(ENV) do env[k] = v end
  for k, v in pairs(opts.env or {}) do env[k] = v or nil end
  local out, err = stream(), stream()
  local code = cli.main(argv, env, { stdin = stream(opts.stdin), stdout = out, stderr = err,
    isatty = function(name) return opts.tty == name end })
  return code, out:text(), err:text()
end

-- the arguments of one call of vendor on the simulator
local function args(vendor, ...)
  local a = { vendor, ... }
  a[#a + 1] = "--base-url"
  a[#a + 1] = sim.base[vendor]
  return a
end

local lines = proc.lines

-- a config file as users keep it: private to them
local function config_file(name, text)
  local path = proc.file(name, text)
  os.execute("chmod 600 " .. path)
  return path
end

local function jsonl(s)
  local t = {}
  for i, l in ipairs(lines(s)) do t[i] = cjson.decode(l) end
  return t
end

local function ids(records) return sim.pluck(records, "id") end

local KANDJI_IDS = { ADA, ALAN, "8b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e", "9c3d4e5f-6a7b-4c8d-8e9f-1a2b3c4d5e6f",
                     "ad4e5f6a-7b8c-4d9e-9f0a-2b3c4d5e6f70" }

-- bin/userapi as a subprocess, always Lua 5.4 (the command's own Lua)
local function userapi(argv, env, stdin)
  local e = {}
  for k, v in pairs(ENV) do e[k] = v end
  e.HOME = nil
  for k, v in pairs(env or {}) do e[k] = v end
  local a = { "bin/userapi" }
  for _, x in ipairs(argv) do a[#a + 1] = x end
  return proc.run(a, e, stdin)
end

-- the command runs on Lua 5.4 whatever Lua runs the suite
local function build_command()
  local f = io.open(proc.root .. "/build/lua5.4/userapi/core.so")
  if f then f:close() else os.execute("cd " .. proc.root .. " && make -s all LUA=lua5.4 >/dev/null") end
end

return {
  cli = cli, format = format, config = config, csv = csv, cjson = cjson, sim = sim, proc = proc,
  ADA = ADA, ALAN = ALAN, SIGFOX_ADA = SIGFOX_ADA, ENV = ENV, KANDJI_IDS = KANDJI_IDS,
  stream = stream, run = run, args = args, lines = lines, config_file = config_file, jsonl = jsonl, ids = ids,
  userapi = userapi, build_command = build_command,
}
