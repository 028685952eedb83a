-- Simulator-wide state (config, faults, recorded requests) and the /_sim/
-- control API (no auth).
local json = require "sim.json"
local util = require "sim.util"
local http = require "sim.http"

local C = {}

C.DEFAULTS = {
  arthur_token_ttl = 3600,            -- seconds; issued tokens really expire
  arthur_validation_style = "v1",     -- 422 wording: "v1" (field required) or "v2" (Field required)
  kandji_page_size = 300,
  kandji_next_host = nil,             -- e.g. "http://127.0.0.2:1": origin used in Kandji next/previous
  kandji_rate_limit_enforce = false,  -- answer 429 past the limits below
  kandji_rate_limit_second = 50,
  kandji_rate_limit_hour = 10000,
  max_recorded_requests = 10000,
}

local vendors, by_name = {}, {}
C.config = {}
C.faults = {}
local reqs, first, last, seq = {}, 1, 0, 0
local fault_id = 0

function C.init(vs)
  vendors = vs
  for _, v in ipairs(vs) do by_name[v.name] = v end
  by_name.opendatasoft = by_name.ods -- the name userapi uses
end

-- empty: every vendor without users (an application on its first SCIM
-- sync); C.start_empty (server.lua --empty) makes it the default
function C.reset(empty)
  C.config = util.shallow_copy(C.DEFAULTS)
  C.faults = {}
  reqs, first, last, seq = {}, 1, 0, 0
  http.stats.connections_accepted, http.stats.requests = 0, 0
  if empty == nil then empty = C.start_empty end
  for _, v in ipairs(vendors) do
    v.reset()
    if empty then v.empty() end
  end
end

------------------------------------------------------------------------------
-- recorded requests
------------------------------------------------------------------------------
function C.record(rec)
  seq = seq + 1
  rec.seq = seq
  last = last + 1
  reqs[last] = rec
  local max = C.config.max_recorded_requests or 10000
  while last - first + 1 > max do reqs[first] = nil; first = first + 1 end
end

local function list_requests(args)
  local vendor, since = util.str_arg(args, "vendor"), tonumber(util.str_arg(args, "since") or "")
  local out = json.array()
  for i = first, last do
    local r = reqs[i]
    if (not vendor or r.vendor == vendor) and (not since or r.seq > since) then out[#out + 1] = r end
  end
  return out
end

------------------------------------------------------------------------------
-- faults
------------------------------------------------------------------------------
local function path_matches(pat, path)
  if pat == path then return true end
  local ok, m = pcall(string.match, path, "^" .. pat .. "$")
  return ok and m ~= nil
end

-- First queued fault matching this request (consumes one use of it).
function C.take_fault(vendor, req, op)
  for i, f in ipairs(C.faults) do
    local m = f.match or {}
    if (not m.vendor or m.vendor == vendor)
      and (not m.method or m.method:upper() == req.method)
      and (not m.path or path_matches(m.path, req.path))
      and (not m.op or m.op == op)
      and (not m.query or req.query:find(m.query, 1, true)) then
      if f.times ~= 0 then
        f.remaining = f.remaining - 1
        if f.remaining <= 0 then table.remove(C.faults, i) end
      end
      return f
    end
  end
end

local function add_fault(f)
  if type(f) ~= "table" or json.looks_array(f) and next(f) ~= nil then return nil, "fault must be an object" end
  if f.match ~= nil and type(f.match) ~= "table" then return nil, "match must be an object" end
  if f.drop ~= nil and f.drop ~= "before" and f.drop ~= "mid" then return nil, 'drop must be "before" or "mid"' end
  f.times = math.tointeger(f.times or 1) or 1
  f.remaining = f.times
  if f.status then f.status = math.tointeger(f.status) end
  fault_id = fault_id + 1
  f.id = fault_id
  C.faults[#C.faults + 1] = f
  return f.id
end

------------------------------------------------------------------------------
-- /_sim/ endpoints
------------------------------------------------------------------------------
local function J(status, v) return { status = status, body = json.encode(v) } end
local function bad(msg) return J(400, { error = msg }) end

local function body_json(req)
  if req.body == "" then return {} end
  local v, e = json.decode(req.body)
  if e then return nil, bad("invalid JSON: " .. e) end
  return v
end

function C.handle(req)
  local m, p = req.method, req.path:gsub("/+$", "")
  local args = util.parse_query(req.query)
  if p == "/_sim/health" then return J(200, { ok = true }) end
  if p == "/_sim/reset" and m == "POST" then
    local b, e = body_json(req)
    if e then return e end
    if type(b) ~= "table" or (b.empty ~= nil and type(b.empty) ~= "boolean") then return bad("empty must be a boolean") end
    C.reset(b.empty)
    return J(200, { ok = true })
  end
  if p == "/_sim/stats" then
    return J(200, { connections_accepted = http.stats.connections_accepted, requests = http.stats.requests })
  end
  if p == "/_sim/requests" then
    if m == "DELETE" then reqs, first, last = {}, 1, 0; return J(200, { ok = true }) end
    return J(200, list_requests(args))
  end
  local vname = p:match("^/_sim/state/([%w_]+)$")
  if vname then
    local v = by_name[vname]
    if not v then return J(404, { error = "unknown vendor " .. vname }) end
    local st = v.dump(args)
    st.applied = v.applied
    return J(200, st)
  end
  if p == "/_sim/config" then
    if m == "POST" then
      local b, e = body_json(req)
      if e then return e end
      if type(b) ~= "table" then return bad("config must be an object") end
      for k, v in pairs(b) do
        if v == json.null then C.config[k] = C.DEFAULTS[k]
        else C.config[k] = type(v) == "number" and math.tointeger(v) or v end
      end
    end
    return J(200, C.config)
  end
  if p == "/_sim/seed" and m == "POST" then
    local b, e = body_json(req)
    if e then return e end
    local v = by_name[b.vendor or ""]
    local n = math.tointeger(b.count or 0)
    if not v then return bad("unknown vendor") end
    if not n or n < 0 then return bad("count must be a non-negative integer") end
    local t0 = util.now()
    local a, z = v.seed(n)
    return J(200, { ok = true, vendor = v.name, added = n, first_generated = a, last_generated = z,
      seconds = util.now() - t0 })
  end
  if p == "/_sim/faults" then
    if m == "DELETE" then C.faults = {}; return J(200, { ok = true }) end
    if m == "POST" then
      local b, e = body_json(req)
      if e then return e end
      local list = json.looks_array(b) and next(b) ~= nil and b or { b }
      local ids = json.array()
      for _, f in ipairs(list) do
        local id, err = add_fault(f)
        if not id then return bad(err) end
        ids[#ids + 1] = id
      end
      return J(200, { ok = true, ids = ids })
    end
    return J(200, json.array(C.faults))
  end
  if p == "/_sim/shutdown" and m == "POST" then
    local r = J(200, { ok = true })
    r.close = true
    r.after = http.stop
    return r
  end
  return J(404, { error = "unknown control endpoint " .. m .. " " .. req.path })
end

return C
