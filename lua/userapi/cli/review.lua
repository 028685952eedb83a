--- `userapi review`: an access review across the configured vendors
-- (@{userapi.review}): every account grouped by person and flagged, as rows
-- (`-o json|jsonl|csv|table`), an HTML report (`--html FILE`), or the plan
-- that would fix it (`--plan`), carried out with `--apply`.
-- @module userapi.cli.review
local userapi = require "userapi"
local review = require "userapi.review"
local review_html = require "userapi.review_html"
local csv = require "userapi.csv"
local fmt_ = require "userapi.format"
local people = require "userapi.cli.people"
local people_journal = require "userapi.cli.people_journal"
local config = require "userapi.config"
local usage_ = require "userapi.cli.usage"
local usage, did_you_mean = usage_.raise, usage_.did_you_mean

local pairs, ipairs, pcall, tostring, concat = pairs, ipairs, pcall, tostring, table.concat

local _M = {}

local COLUMNS = { "email", "vendor", "id", "name", "kind", "state", "last_login", "flags" }
local PLAN_COLUMNS = { "action", "email", "name", "vendors" }

local read_file = require("userapi.cli.usage").read_file

-- rows to stdout as -o asks; json, jsonl and csv stream
local function write_rows(out, fmt, iter, cols, head)
  local w = fmt ~= "csv" and fmt_.writer(fmt, out, cols)
  if fmt == "json" then out:write("{\n  ", head, ',\n  "rows": ') end
  if fmt == "csv" then out:write(csv.format_row(cols), "\n") end
  for r in iter do
    if fmt == "csv" then
      local t = {}
      -- an empty field is "": a hole would end the row there (an account without a login lost its flags)
      for i, c in ipairs(cols) do t[i] = r[c] == nil and "" or r[c] end
      out:write(csv.format_row(t), "\n")
    else
      local clean = {}
      for _, c in ipairs(cols) do clean[c] = r[c] end
      w.row(clean)
    end
  end
  if w then w.finish() end
  if fmt == "json" then out:write("}\n") end
end

local function summary_line(rv)
  local t, parts = rv.summary.total, {}
  for _, f in ipairs(review.FLAGS) do parts[#parts + 1] = t[f] .. " " .. f end
  return ("review: %d people, %d accounts in %d vendors: %s"):format(rv.people, t.accounts, #rv.vendors,
    concat(parts, ", "))
end

-- the plan carried out: offboards, then onboards, each in the vendors the
-- review named; with --journal a rerun skips what was done
local function apply(o, ctx, plan, clients, order, status)
  local by_mode = { offboard = {}, onboard = {} }
  for _, p in ipairs(plan) do
    local vendors = {}
    for _, v in ipairs(p.vendors) do vendors[v] = true end
    local first, last = (p.name or ""):match("^%s*(%S+)%s+(.-)%s*$")
    local list = by_mode[p.action]
    list[#list + 1] = { email = p.email, vendors = vendors, first_name = first or p.name, last_name = last }
  end
  local journal = o.journal and people_journal.open(o.journal, "review", concat(order, ","))
  local rows = people.apply("offboard", by_mode.offboard, clients, order, o, ctx, journal, "offboard ")
  for _, r in ipairs(people.apply("onboard", by_mode.onboard, clients, order, o, ctx, journal, "onboard ")) do
    rows[#rows + 1] = r
  end
  if journal then journal:close() end
  local code = people.report(o, ctx, rows)
  -- a walk that failed wins: the plan came from part of the accounts
  return status == 1 and 1 or code
end

--- `userapi review`: see the module.
-- @tparam table o the parsed command line
-- @tparam table ctx the command's context
-- @treturn integer the exit status: 0, or 1 when a vendor's walk failed or the report could not be
-- written; with --apply as onboard and offboard: 0 unchanged, 1 failed, 3 changed
function _M.review_command(o, ctx)
  local out, err_out = ctx.streams.stdout, ctx.streams.stderr
  local roster
  if o.roster then
    local why
    roster, why = review.roster(read_file(o.roster, "--roster"))
    if not roster then usage("--roster %s: %s", o.roster, why) end
    -- a vendor name the review cannot know would never flag its missing accounts
    for _, p in ipairs(roster.people) do
      for _, v in ipairs(p.vendors or {}) do
        if not config.vendor_name(v) then
          usage("--roster %s: %s: unknown vendor '%s'%s", o.roster, p.email, v, did_you_mean(v, userapi.vendors))
        end
      end
    end
  end
  local clients, order = people.clients(o, ctx)
  local dir = userapi.directory(clients)
  local rv, why = review.run(dir, { stale_days = o["stale-days"], roster = roster })
  if not rv then
    err_out:write("userapi: ", why, "\n")
    return 1
  end
  local status = 0
  local ok, e = pcall(function()
    for v, err in pairs(rv.failed or {}) do
      err_out:write(fmt_.escape_terminal(("userapi: review: %s: %s (its accounts are missing from the review)")
        :format(v, tostring(err))), "\n")
      status = 1
    end
    if o.html then
      local f, ferr = io.open(o.html, "w")
      local written, werr = f and review_html.write(f, rv, { generated = os.date("!%Y-%m-%d %H:%M UTC") })
      if f then
        local closed, cerr = f:close()
        if written and not closed then written, werr = nil, cerr end
      end
      if not written then
        err_out:write("userapi: review: cannot write ", o.html, ": ", tostring(ferr or werr), "\n")
        status = 1
      end
    end
    local fmt = o.format or "json"
    local head = ('"summary": %s,\n  "people": %d'):format(fmt_.to_json(rv.summary), rv.people)
    if o.apply then
      status = apply(o, ctx, rv:plan(), clients, order, status)
    elseif o.plan then
      local items = rv:plan()
      local i = 0
      write_rows(out, fmt, function()
        i = i + 1
        local p = items[i]
        if p then return { action = p.action, email = p.email, name = p.name, vendors = concat(p.vendors, " ") } end
      end, PLAN_COLUMNS, head)
    elseif not o.html or o.format then
      write_rows(out, fmt, rv:rows(), COLUMNS, head)
    end
    err_out:write(summary_line(rv), "\n")
  end)
  rv:close()
  if not ok then error(e, 0) end
  return status
end

return _M
