-- Request dispatch: /_sim/* to the control API, vendor prefixes to the vendor
-- modules (routing, auth, faults, applied-op counting, recording).
local json = require "sim.json"
local util = require "sim.util"
local control = require "sim.control"

local A = {}
local vendors = {
  require "sim.vendors.ods",
  require "sim.vendors.arthur",
  require "sim.vendors.kandji",
  (require "sim.vendors.sigfox"),
}
A.vendors = vendors
control.init(vendors)
control.reset()

local function find_vendor(path)
  for _, v in ipairs(vendors) do
    local p = v.prefix
    if path:sub(1, #p) == p and (#path == #p or path:sub(#p + 1, #p + 1) == "/") then return v end
  end
end

-- Returns route, captures, allowed-methods list (when the path exists but the
-- method does not).
local function route(v, method, sub)
  local allowed, seen = {}, {}
  local reserved = v.reserved and v.reserved[sub]
  for _, r in ipairs(v.routes) do
    local pat = r[2]
    if not (reserved and pat:find("(", 1, true)) then
      local caps = { sub:match(pat) }
      if caps[1] ~= nil then
        if r[1] == method then
          if caps[1] == sub and not pat:find("(", 1, true) then caps = {} end
          for i, c in ipairs(caps) do caps[i] = util.unescape(c) end
          return r, caps
        end
        if not seen[r[1]] then seen[r[1]] = true; allowed[#allowed + 1] = r[1] end
      end
    end
  end
  return nil, nil, #allowed > 0 and allowed or nil
end

local MALFORMED_JSON = '{"sim": "malformed json", "results": [{"id": 1,, ]'

local function apply_fault(v, f, resp)
  if f.status then
    local body = f.body
    if type(body) == "table" then body = json.encode(body) end
    if body == nil then resp = v.error(f.status) else resp = { status = f.status, body = body } end
  elseif f.body ~= nil then
    resp.body = type(f.body) == "table" and json.encode(f.body) or tostring(f.body)
  end
  resp.headers = resp.headers or {}
  for k, val in pairs(f.headers or {}) do resp.headers[k] = val end
  if f.truncate then resp.body = (resp.body or ""):sub(1, #(resp.body or "") // 2) end
  if f.malformed == "http" then resp.raw = "NOT-HTTP/9.9 ??? garbage\r\nthis is not a valid response\r\n\r\n"
  elseif f.malformed then resp.body = MALFORMED_JSON end
  resp.huge_bytes = f.huge_bytes and math.tointeger(f.huge_bytes) or nil
  resp.delay_ms, resp.drip_ms, resp.drip_bytes = f.delay_ms, f.drip_ms, f.drip_bytes
  resp.drop = f.drop
  return resp
end

local function vendor_request(v, req)
  local sub = req.path:sub(#v.prefix + 1)
  req.args = util.parse_query(req.query)
  local host = req.headers.host or "127.0.0.1"
  local ctx = { cfg = control.config, origin = "http://" .. host, vendor = v }
  local r, caps, allowed = route(v, req.method, sub)
  local op = r and r[3]
  local f = control.take_fault(v.name, req, op)
  local resp
  if v.before then resp = v.before(req, ctx) end
  if f and (f.status or f.drop == "before") then
    resp = apply_fault(v, f, {})
  elseif not resp then
    if not (r and r.public) then resp = v.auth(req, ctx) end
    if not resp then
      if r then
        resp = r[4](ctx, req, table.unpack(caps))
        if r.mutating and resp.status >= 200 and resp.status < 300 then
          v.applied[op] = (v.applied[op] or 0) + 1
        end
      elseif allowed then
        resp = v.method_not_allowed and v.method_not_allowed(req.method, allowed) or v.error(405)
        resp.headers = resp.headers or {}
        resp.headers.Allow = table.concat(allowed, ", ")
      else
        resp = v.error(404)
      end
    end
    if f then resp = apply_fault(v, f, resp) end
  end
  if ctx.extra_headers then
    resp.headers = resp.headers or {}
    for k, val in pairs(ctx.extra_headers) do if resp.headers[k] == nil then resp.headers[k] = val end end
  end
  control.record({
    time = req.arrived or util.now(), vendor = v.name, op = op, method = req.method, path = req.path, query = req.query,
    args = req.args, headers = req.headers, body = req.body,
    status = (resp.drop == "before" or resp.raw) and 0 or resp.status, fault = f and f.id or nil,
  })
  return resp
end

function A.handle(req)
  local path = req.path
  if path == "/_sim" or path:sub(1, 6) == "/_sim/" then return control.handle(req) end
  local v = find_vendor(path)
  if v then return vendor_request(v, req) end
  return { status = 404, body = json.encode({ error = "no simulated vendor at " .. path,
    prefixes = { "/ods/api/automation/v1.0", "/arthur", "/kandji", "/sigfox/v2" } }) }
end

return A
