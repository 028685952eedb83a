--- `userapi find`, `onboard` and `offboard`: the people layer
-- (@{userapi.directory}, `ensure_user`, `ensure_absent`) from a shell, over
-- every configured vendor that declares a `people` part (a vendor added with
-- `userapi.register` included).
--
-- Exit codes of onboard and offboard: 0 nothing changed, 1 something failed
-- (wins over a change), 2 usage (nothing sent), 3 something changed (with
-- `--check`: would change). Of find: 0, 1 a lookup failed, 2.
-- @module userapi.cli.people
local userapi = require "userapi"
local config = require "userapi.config"
local fmt_ = require "userapi.format"
local input = require "userapi.cli.people_input"
local people_journal = require "userapi.cli.people_journal"
local usage_ = require "userapi.cli.usage"

local ipairs, pairs, tostring, type, pcall, error = ipairs, pairs, tostring, type, pcall, error
local format, concat, sort = string.format, table.concat, table.sort
local usage, is_usage = usage_.raise, usage_.is
local term = fmt_.escape_terminal

local _M = {}

-- ---- the vendors -------------------------------------------------------------------

-- the vendors with a people part, by name (the directory puts them in its order)
local function people_vendors()
  local names = {}
  for name, v in pairs(userapi.vendors) do
    if v.people then names[#names + 1] = name end
  end
  sort(names)
  return names
end

-- what to set for any vendor, when none is configured
local function none_configured(ctx, names)
  local what = {}
  for _, name in ipairs(names) do
    local vars = {}
    for _, pair in ipairs(config.env(name)) do vars[#vars + 1] = pair[2] end
    what[#what + 1] = name .. ": " .. concat(vars, ", ")
  end
  usage("no vendor is configured: set the credentials of one (%s), or put them in a [%s.VENDOR] section of %s",
    concat(what, "; "), ctx.getenv("USERAPI_PROFILE") or "default",
    config.path(ctx.getenv) or "~/.config/userapi/config")
end

--- The clients of the command: `--vendors`' (each must be configured, or a
-- usage error names what to set), else every vendor configured. Vendors the
-- people file names must be configured too.
-- @tparam table o the parsed command line
-- @tparam table ctx the subcommand's context
-- @tparam[opt] table needed vendor names the input asks for (name -> true)
-- @treturn table name -> client
-- @treturn {string,...} their names, in order
-- @raise a usage error
function _M.clients(o, ctx, needed)
  local clients, order = {}, {}
  local function add(name) clients[name], order[#order + 1] = ctx.client(name), name end
  if o.vendors then
    for _, typed in ipairs(input.names(o.vendors, "--vendors")) do
      local name = input.vendor(typed, "--vendors")
      if not clients[name] then add(name) end
    end
  else
    for _, name in ipairs(people_vendors()) do
      local ok, c = pcall(ctx.client, name)
      if ok then
        clients[name], order[#order + 1] = c, name
      elseif needed and needed[name] then
        error(c, 0)   -- named by the file: its missing credentials are the user's to fix
      elseif not is_usage(c) then
        error(c, 0)
      end
    end
    if #order == 0 then none_configured(ctx, people_vendors()) end
  end
  for name in pairs(needed or {}) do
    if not clients[name] then usage("the people file names %s, which --vendors leaves out", name) end
  end
  return clients, userapi.directory(clients).vendors
end

-- a failed vendor's line on stderr
local function failed_line(streams, who, vendor, err)
  streams.stderr:write(term(format("userapi: %s: %s: %s", who, vendor, tostring(err))), "\n")
end

-- the rows out in the chosen format; json: one array
local function write_rows(o, streams, rows, cols)
  local fmt = o.format or "json"
  if fmt == "json" then
    streams.stdout:write(#rows == 0 and "[]" or fmt_.to_json(rows, 2), "\n")
    return
  end
  local given = o.columns and input.names(o.columns, "--columns")
  local w = fmt_.writer(fmt, streams.stdout, given or cols)
  for _, r in ipairs(rows) do w.row(r) end
  local unknown = given and w.unknown() or {}
  if #unknown > 0 then usage("--columns: no row has '%s'", unknown[1]) end
  w.finish()
end

-- ---- find ------------------------------------------------------------------------------

local function state_of(r)
  if r.pending then return "pending" end
  if r.active == false then return "disabled" end
  return "active"
end

--- `userapi find EMAIL...`
-- @tparam table o the parsed command line
-- @tparam table ctx `{ streams, getenv, client }`
-- @treturn int 0, or 1 when a vendor's lookup failed
function _M.find_command(o, ctx)
  local emails = input.emails(o.positional, 2, "find")
  if #emails == 0 then usage("find: which person? userapi find EMAIL...") end
  local clients = _M.clients(o, ctx)
  local dir = userapi.directory(clients)
  local rows, code = {}, 0
  for _, email in ipairs(emails) do
    local found, failed = dir:find(email)
    for _, r in ipairs(found) do
      rows[#rows + 1] = { email = email, vendor = r.vendor, id = r.id, state = state_of(r), kind = r.kind,
                          name = r.name, last_seen_at = r.last_seen_at, created_at = r.created_at }
    end
    for _, v in ipairs(dir.vendors) do
      if failed and failed[v] then
        failed_line(ctx.streams, "find " .. email, v, failed[v])
        code = 1
      end
    end
    if #found == 0 and not failed then
      ctx.streams.stderr:write(term(format("userapi: find: %s has no account in %s", email,
        concat(dir.vendors, ", "))), "\n")
    end
  end
  write_rows(o, ctx.streams, rows, { "email", "vendor", "id", "state", "kind", "last_seen_at" })
  return code
end

-- ---- onboard and offboard -------------------------------------------------------------

-- a value as the diff shows it
local function shown(v)
  if v == nil then return "(none)" end
  return fmt_.to_json(v)
end

local function print_diff(streams, row)
  local fields = {}
  for k in pairs(row.diff or {}) do fields[#fields + 1] = k end
  sort(fields)
  for _, k in ipairs(fields) do
    local d = row.diff[k]
    streams.stderr:write(term(format("%s %s: %s: %s -> %s", row.email, row.vendor, k, shown(d.before),
      shown(d.after))), "\n")
  end
end

-- one vendor's result (or error) as a row of the report
local function row_of(email, vendor, res, err, client)
  local row = { email = email, vendor = vendor }
  if res then
    row.action, row.changed, row.diff, row.note = res.action, res.changed, res.diff, res.note
    local ids = {}
    for i, r in ipairs(res.removed or {}) do ids[i] = tostring(r.id) end
    local acct = res.after or res.before
    row.id = #ids > 0 and concat(ids, ",") or (acct and acct.id) or nil
    if type(res.warnings) == "table" and #res.warnings > 0 then row.warnings = res.warnings end
    return row
  end
  local p = client.vendor.people
  -- a vendor that cannot create accounts (Kandji: its directory sync does)
  -- is told, not failed: there is nothing the command could do
  if err.kind == "unsupported" and err.message == p.cannot_create then
    row.action, row.changed, row.warnings = "skipped", false, { err.message }
    return row
  end
  row.action, row.changed, row.error = "failed", false, tostring(err)
  -- what the vendor will not do, said with the refusal (the people layer's err.warnings)
  if type(err.warnings) == "table" and #err.warnings > 0 then row.warnings = err.warnings end
  return row
end

-- one person through the vendors they are to be in; the rows of the report
local function one_person(mode, person, clients, order, o)
  local subset = {}
  for _, v in ipairs(order) do
    if not person.vendors or person.vendors[v] then subset[v] = clients[v] end
  end
  local dir = userapi.directory(subset)
  local opts = { check = o.check == true }
  local results, failed
  if mode == "offboard" then
    results, failed = dir:offboard(person.email, opts)
  else
    local spec = { email = person.email, first_name = person.first_name, last_name = person.last_name }
    results, failed = dir:onboard(spec, opts)
  end
  local rows = {}
  for _, v in ipairs(dir.vendors) do
    rows[#rows + 1] = row_of(person.email, v, results[v], failed and failed[v], subset[v])
  end
  return rows
end

-- the summary line and the exit code: failures win over changes
local function outcome(rows, check)
  local n = { changed = 0, unchanged = 0, failed = 0, resumed = 0 }
  for _, r in ipairs(rows) do
    if r.resumed then
      n.resumed = n.resumed + 1
    elseif r.error then
      n.failed = n.failed + 1
    elseif r.changed then
      n.changed = n.changed + 1
    else
      n.unchanged = n.unchanged + 1
    end
  end
  local line = format("%d %s, %d unchanged, %d failed", n.changed, check and "would change" or "changed",
    n.unchanged, n.failed)
  if n.resumed > 0 then line = line .. format(", %d resumed (done by an earlier run)", n.resumed) end
  if check then line = line .. " (check: nothing sent)" end
  local code = n.failed > 0 and 1 or (n.changed > 0 and 3 or 0)
  return line, code
end

local function report_row(streams, row, o)
  if row.error then failed_line(streams, row.email, row.vendor, row.error) end
  for _, w in ipairs(row.warnings or {}) do
    streams.stderr:write(term(format("userapi: %s: %s: warning: %s", row.email, row.vendor, tostring(w))), "\n")
  end
  -- what a plan cannot know (check mode: an Arthur invitation already out)
  if row.note then streams.stderr:write(term(format("userapi: %s: %s: note: %s", row.email, row.vendor,
    tostring(row.note))), "\n") end
  if o.diff and row.changed then print_diff(streams, row) end
end

--- Runs `mode` (`"onboard"` or `"offboard"`) for each person, in the
-- vendors each may name (`person.vendors`, a set), with an open journal if
-- any (its keys: `prefix .. email`). Reports each row on stderr as it goes.
-- @tparam string mode
-- @tparam {table,...} people `{ email, first_name, last_name, vendors }`
-- @tparam table clients name -> client
-- @tparam {string,...} order their names, in order
-- @tparam table o the parsed command line (`check`, `diff`)
-- @tparam table ctx the subcommand's context
-- @tparam[opt] table journal a @{userapi.cli.people_journal}
-- @tparam[opt=""] string prefix of the journal's keys
-- @treturn {table,...} the rows: email, vendor, action, changed, id, error, warnings, resumed
function _M.apply(mode, people, clients, order, o, ctx, journal, prefix)
  prefix = prefix or ""
  local rows = {}
  for _, person in ipairs(people) do
    local key = prefix .. person.email
    local done = journal and journal.done[key]
    local these
    if done then
      these = type(done) == "table" and done or {}
      for _, r in ipairs(these) do r.resumed = true end
    else
      if journal and journal.begun[key] then
        -- idempotent: what the killed run did is found done, the rest is done now
        ctx.streams.stderr:write(term(format("userapi: %s: begun by a run that did not finish: done again",
          person.email)), "\n")
      end
      if journal then journal:begin(key) end
      these = one_person(mode, person, clients, order, o)
      for _, r in ipairs(these) do report_row(ctx.streams, r, o) end
      if journal then
        -- a person with a failure is not done: a rerun tries them again
        local failed = false
        for _, r in ipairs(these) do failed = failed or r.error ~= nil end
        if failed then journal:failed(key) else journal:finish(key, these) end
      end
    end
    for _, r in ipairs(these) do rows[#rows + 1] = r end
  end
  return rows
end

--- Writes the rows and the summary line; returns the exit status.
-- @tparam table o the parsed command line
-- @tparam table ctx the subcommand's context
-- @tparam {table,...} rows from @{apply}
-- @treturn int 0 unchanged, 1 failed, 3 changed
function _M.report(o, ctx, rows)
  write_rows(o, ctx.streams, rows, { "email", "vendor", "action", "id", "error" })
  local line, code = outcome(rows, o.check)
  ctx.streams.stderr:write(line, "\n")
  return code
end

local function people_command(mode, o, ctx)
  local people, needed = input.people(mode, o, ctx.streams.stdin)
  local clients, order = _M.clients(o, ctx, needed)
  local journal = o.journal and people_journal.open(o.journal, mode, concat(order, ","))
  local rows = _M.apply(mode, people, clients, order, o, ctx, journal)
  if journal then journal:close() end
  return _M.report(o, ctx, rows)
end

--- `userapi onboard EMAIL --first-name F --last-name L`, or `--file people.csv`
-- @treturn int 0 unchanged, 1 failed, 3 changed
function _M.onboard_command(o, ctx) return people_command("onboard", o, ctx) end

--- `userapi offboard EMAIL...`, or `--file people.csv`
-- @treturn int 0 unchanged, 1 failed, 3 changed
function _M.offboard_command(o, ctx) return people_command("offboard", o, ctx) end

return _M
