-- Kandji API v1, UsersApi: GET /api/v1/users, GET|DELETE /api/v1/users/{user_id}
-- Bearer token; DRF-style {"detail": ...} errors; cursor pagination; Kong
-- rate-limit headers on every response.
local json = require "sim.json"
local util = require "sim.util"
local Store = require "sim.store"

local V = { name = "kandji", prefix = "/kandji", token = "kandji-test-token" }

local function err(status, detail, headers)
  return { status = status, headers = headers, body = json.encode({ detail = detail }) }
end
V.error = function(status, msg)
  if status == 429 then return { status = 429, body = json.encode({ message = msg or "API rate limit exceeded" }) } end
  return err(status, msg or ({ [404] = "Not found.", [405] = "Method not allowed.", [401] = "Invalid token." })[status]
    or require("sim.http").REASON[status] or "Error")
end

local INTEGRATIONS = {
  { id = 634, name = "example", type = "office365", uuid = "f7461096-3f6e-4f1c-9d5e-2a8b7c9d0e11" },
  { id = 635, name = "example-gws", type = "google_workspace", uuid = "0c1d2e3f-4a5b-4c6d-8e7f-90a1b2c3d4e5" },
}

local function user(id, email, name, o)
  o = o or {}
  return {
    id = id, email = email, name = name,
    active = o.active ~= false, archived = o.archived or false,
    created_at = o.created_at or "2024-09-06T21:00:04.304248Z",
    updated_at = o.updated_at or "2024-09-06T21:00:04.304280Z",
    department = o.department or json.null, job_title = o.job_title or json.null,
    deprecated_user_id = o.legacy, device_count = o.devices or 0,
    integration = INTEGRATIONS[o.integ or 1],
  }
end

local GEN_PREFIX = "20000000-0000-4000-8000-"
local users = Store.new {
  key = "id",
  gen = function(k)
    return user(GEN_PREFIX .. string.format("%012d", k), string.format("gen%07d@example.com", k),
      string.format("gen_user_%07d", k), { legacy = tostring(100000 + k) })
  end,
  parse = function(id)
    local d = id:sub(1, #GEN_PREFIX) == GEN_PREFIX and id:match("^%d+$", #GEN_PREFIX + 1)
    return d and #d == 12 and tonumber(d) or nil
  end,
}

function V.reset()
  users:clear()
  V.applied = {}
  V.rl = { sec = -1, sec_n = 0, hour = -1, hour_n = 0 }
  users:add(user("69c009ca-1f78-4bdf-bb93-08d6d39041db", "ada@example.com", "Ada Lovelace",
    { legacy = "29360", department = "Engineering", job_title = "Analyst" }))
  users:add(user("7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "alan@example.com", "Alan Turing",
    { legacy = "29361", devices = 2, department = "Research" }))
  users:add(user("8b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e", "grace@example.com", "Grace Hopper",
    { legacy = "29362", devices = 1, integ = 2 }))
  users:add(user("9c3d4e5f-6a7b-4c8d-8e9f-1a2b3c4d5e6f", "charles@example.com", "Charles Babbage",
    { legacy = "29363", archived = true, active = false }))
  users:add(user("ad4e5f6a-7b8c-4d9e-9f0a-2b3c4d5e6f70", "katherine@example.com", "Katherine Johnson",
    { legacy = "29364", integ = 2 }))
end

function V.seed(n) return users:generate(n) end

-- no users (POST /_sim/reset {"empty":true}, server.lua --empty)
function V.empty() users:clear() end

function V.dump(args)
  local off, lim = util.int(util.str_arg(args, "offset") or "0") or 0, util.int(util.str_arg(args, "limit") or "")
  return { users = json.array(users:slice(off, lim or users:count())), count = users:count(),
           integrations = INTEGRATIONS }
end

function V.auth(req)
  local a = req.headers.authorization
  if not a then return err(401, "Authentication credentials were not provided.") end
  local tok = a:match("^[Bb]earer%s+(%S+)%s*$")
  if tok ~= V.token then return err(401, "Invalid token.") end
end

-- Kong-style rate limiting: counted for every Kandji request, enforced only
-- when config kandji_rate_limit_enforce is true.
function V.before(req, ctx)
  local now, rl, cfg = util.now(), V.rl, ctx.cfg
  local sec, hour = math.floor(now), math.floor(now / 3600)
  if sec ~= rl.sec then rl.sec, rl.sec_n = sec, 0 end
  if hour ~= rl.hour then rl.hour, rl.hour_n = hour, 0 end
  rl.sec_n, rl.hour_n = rl.sec_n + 1, rl.hour_n + 1
  local ls, lh = cfg.kandji_rate_limit_second, cfg.kandji_rate_limit_hour
  local rs, rh = math.max(0, ls - rl.sec_n), math.max(0, lh - rl.hour_n)
  local reset_s, reset_h = 1, (hour + 1) * 3600 - sec
  local h = {
    ["X-RateLimit-Limit-Second"] = ls, ["X-RateLimit-Remaining-Second"] = rs,
    ["X-RateLimit-Limit-Hour"] = lh, ["X-RateLimit-Remaining-Hour"] = rh,
    ["RateLimit-Limit"] = rs <= rh and ls or lh, ["RateLimit-Remaining"] = math.min(rs, rh),
    ["RateLimit-Reset"] = rs <= rh and reset_s or reset_h, ["Via"] = "kong/3.2.2",
  }
  ctx.extra_headers = h
  if cfg.kandji_rate_limit_enforce and (rl.sec_n > ls or rl.hour_n > lh) then
    local r = V.error(429)
    r.headers = { ["Retry-After"] = rl.sec_n > ls and reset_s or reset_h }
    return r
  end
end

local function list_users(ctx, req)
  local a = req.args
  local email, id, integ, archived, cursor = util.str_arg(a, "email"), util.str_arg(a, "id"),
    util.str_arg(a, "integration_id"), util.str_arg(a, "archived"), util.str_arg(a, "cursor")
  if archived and archived ~= "true" and archived ~= "false" then
    return err(400, "archived must be 'true' or 'false'.")
  end
  local offset = 0
  if cursor and cursor ~= "" then
    local raw = util.b64decode(cursor)
    offset = raw and tonumber(raw:match("^o=(%d+)$"))
    if not offset then return err(404, "Invalid cursor") end
  end
  local size = ctx.cfg.kandji_page_size
  local page, total
  if email or id or integ or archived then
    local want_arch = archived == "true"
    local all = users:filter(function(u)
      return (not email or util.icontains(u.email, email)) and (not id or u.id == id)
        and (not integ or (u.integration and u.integration.uuid == integ))
        and (not archived or u.archived == want_arch)
    end)
    total, page = #all, table.move(all, offset + 1, math.min(#all, offset + size), 1, {})
  else
    total, page = users:count(), users:slice(offset, size)
  end
  local base = (ctx.cfg.kandji_next_host or ctx.origin) .. V.prefix .. "/api/v1/users"
  local function link(off)
    local q = util.rebuild_query(req.query, { cursor = true }, off > 0 and { { "cursor", util.b64encode("o=" .. off) } } or nil)
    return q == "" and base or base .. "?" .. q
  end
  local body = {
    next = offset + size < total and link(offset + size) or json.null,
    previous = offset > 0 and link(math.max(0, offset - size)) or json.null,
    results = json.array(page),
  }
  return { status = 200, body = json.encode(body) }
end

local function get_user(ctx, req, id)
  local u = users:get(id)
  if not u then return V.error(404) end
  return { status = 200, body = json.encode(u) }
end

local function delete_user(ctx, req, id)
  local u = users:get(id)
  if not u then return V.error(404) end
  if (u.device_count or 0) > 0 then return err(400, "User still assigned to one or more devices.") end
  users:remove(id)
  return { status = 204 }
end

function V.method_not_allowed(method) return err(405, 'Method "' .. method .. '" not allowed.') end

V.routes = {
  { "GET", "^/api/v1/users$", "list_users", list_users },
  { "GET", "^/api/v1/users/([^/]+)$", "get_user", get_user },
  { "DELETE", "^/api/v1/users/([^/]+)$", "delete_user", delete_user, mutating = true },
}

return V
