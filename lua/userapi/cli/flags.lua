--- The `userapi` command's options and subcommands, each declared once,
-- here. The parser (`userapi.cli.args`), the checks before anything is read
-- or sent (`check`), the help (`userapi.cli.help`), the manual page and the
-- completion scripts (`userapi.cli.man`) are all derived from these tables.
--
-- A flag is `{ name, help = text, ... }` with, as it needs:
--
-- - `short`: a one-letter alias (`-o`);
-- - `value`: its metavar; a flag with one takes a value, one without is a switch;
-- - `choices`: the values it takes (completed by the shell too);
-- - `min`, `max`: an integer, checked and converted;
-- - `goes_with`: the flag it needs (`--journal` goes with `--each`);
-- - `conflicts`: a flag it does not go with;
-- - `stdin`: the value that reads standard input (`"-"`, `"@-"`), or true;
-- - `file`: the shell completes file names for its value;
-- - `dash_only`: spelt with `_` it is an operation's own parameter (Arthur's `page_size`).
--
-- A subcommand is `{ name, args = synopsis, help = text, module = name, fn = function name,
-- choices = its one argument's values, flags = its own flags }`. To add one
-- (`userapi find EMAIL --vendor NAME`): a row in `COMMANDS`, and a module
-- whose function `fn(o, ctx)` runs it: `o` the parsed command line (`o.positional`,
-- `o[flag]`, its flags checked and converted), `ctx` `{ streams, getenv, client }`
-- (`ctx.client(vname)`: the vendor's client as `VENDOR OPERATION` makes it, from
-- the config and the environment, proxy included); it returns the exit status
-- and raises usage errors (`userapi.cli.usage`). The help, the man page and the
-- completion list it and its flags from the row.
--
-- Why not lua-argparse: an operation's parameters are data of the vendor
-- tables, registered at run time (USERAPI_VENDORS), taken in three spellings
-- (Lua name, dashes, wire name), typed per table (integer, flag, JSON,
-- repeated arrays kept in order); a global option spelt with dashes wins over
-- the parameter spelt with `_`. argparse would need a command per vendor and
-- operation and an alias per spelling, built on each run. Its `parse` ends
-- the process on a usage error with status 1 (the command's is 2, which
-- scripts and the specs check) and its `-h` with `os.exit(0)`, which the
-- in-process `cli.main` cannot have; `pparse` hands back only the message's
-- text (`option '--email' must be used at most 1 time`, `unknown command
-- 'nope'`), which the command would have to match to keep its own messages.
-- Its completion generator fails on a name that is not shell-safe with a bare
-- `assertion failed!`, and has no arms per vendor alias. (0.7.1, checked.)
-- The parser over these tables is about 60 lines (`userapi.cli.args`).
-- @module userapi.cli.flags
local usage = require("userapi.cli.usage").raise

local ipairs, tonumber, type = ipairs, tonumber, type
local concat = table.concat

local _M = {}

--- The global options, in the order the help lists them.
_M.FLAGS = {
  { "format", short = "o", value = "json|jsonl|csv|table", choices = { "json", "jsonl", "csv", "table" },
    help = "json (default): the answer as sent, indented; jsonl: one record a line; "
      .. "csv: a header from the union of the keys; table: aligned columns" },
  { "columns", value = "a,b.c", help = "the columns of csv and table; a.b reaches into nested objects" },
  { "all", conflicts = "each", help = "walk every page of the list operation" },
  { "max-items", value = "N", min = 0, goes_with = "all", dash_only = true, help = "with --all: stop after N records" },
  { "page-size", value = "N", min = 1, dash_only = true, help = "records a page, where the vendor lets you choose" },
  { "each", value = "FILE|-", stdin = "-", file = true,
    help = "one call per line of FILE (- for stdin): the line gives the path parameter(s)" },
  { "concurrency", value = "N", min = 1, max = 64, goes_with = "each",
    help = "calls at once with --each (1..64, default 8)" },
  { "journal", value = "FILE", goes_with = "each", file = true,
    help = "with --each: record each finished item; a second run skips the items done" },
  { "body", value = "JSON|@FILE|@-", stdin = "@-", file = true,
    help = "the request body of operations that take one (or its fields as options)" },
  { "missing-ok", help = "a delete of an account that is not there succeeds (exit 0, a line on stderr)" },
  { "show-secrets", help = "print the secrets of records (Sigfox's accessToken), masked by default" },
  { "dry-run", help = "print the requests, send nothing" },
  { "base-url", value = "URL", help = "a self-hosted install, a proxy, the simulator" },
  { "profile", value = "NAME", help = "the config section [NAME.VENDOR] (default: USERAPI_PROFILE, else default)" },
  { "token-from-stdin", stdin = true, help = "read the vendor's secret from the first line of stdin" },
  { "verbose", short = "v", help = "log each exchange on stderr, and the proxy used" },
  { "help", short = "h", help = "this help" },
  { "version", help = "the version" },
}

-- flags the people commands share (userapi.cli.people)
local VENDORS = { "vendors", value = "a,b", help = "only these vendors (each must be configured); "
  .. "by default every vendor whose credentials the environment or the config file gives" }
local PEOPLE_FILE = { "file", value = "FILE|-", stdin = "-", file = true,
  help = "the people from a CSV file (- for stdin) with a header: email, first_name, last_name, optional vendors "
    .. "(names separated by ; or spaces)" }
local CHECK = { "check", help = "plan only: read, send no write, say what would change (exit 3 if something would)" }
local DIFF = { "diff", help = "print each changed field, before -> after, on stderr" }
local PEOPLE_JOURNAL = { "journal", value = "FILE", file = true, conflicts = "check",
  help = "record each person done (JSON lines, created 0600): a rerun after a crash skips them (reported "
    .. "as resumed) and redoes the one begun" }
local CHANGE_EXITS = {
  { "0", "nothing changed (or, with --check, nothing would)" },
  { "1", "something failed: a vendor refused, a lookup failed (wins over a change)" },
  { "2", "usage error: nothing sent" },
  { "3", "something changed (with --check: would change)" },
}

--- The subcommands besides `VENDOR OPERATION`, in the order the help lists them.
-- `globals` lists the global flags a subcommand takes (all of them when absent);
-- `exits` its exit statuses, when they are its own: `{ { status, text }, ... }`.
_M.COMMANDS = {
  { "completion", args = "bash|zsh", choices = { "bash", "zsh" }, help = "a completion script",
    module = "userapi.cli.man", fn = "completion_command" },
  { "man", help = "the manual page (roff)", module = "userapi.cli.man", fn = "man_command" },
  { "find", args = "EMAIL...", help = "every account of each person in every configured vendor: vendor, id, state "
      .. "(active, pending, disabled), last login where the vendor records it",
    module = "userapi.cli.people", fn = "find_command", globals = { "format", "columns", "profile", "verbose" },
    flags = { VENDORS },
    exits = { { "0", "every lookup answered (a person without accounts included)" },
              { "1", "a vendor's lookup failed (the others are still shown)" }, { "2", "usage error" } } },
  { "onboard", args = "EMAIL [--first-name F --last-name L] | --file people.csv",
    help = "makes each person present in every configured vendor (or the file's vendors column): "
      .. "invited or created when missing, updated when a name differs",
    module = "userapi.cli.people", fn = "onboard_command", globals = { "format", "columns", "profile", "verbose" },
    flags = { VENDORS, PEOPLE_FILE, CHECK, DIFF, PEOPLE_JOURNAL,
      { "first-name", value = "F", conflicts = "file", help = "the person's first name (one EMAIL)" },
      { "last-name", value = "L", conflicts = "file", help = "the person's last name (one EMAIL)" } },
    exits = CHANGE_EXITS },
  { "offboard", args = "EMAIL... | --file people.csv",
    help = "removes each person's accounts from every configured vendor (or the file's vendors column)",
    module = "userapi.cli.people", fn = "offboard_command", globals = { "format", "columns", "profile", "verbose" },
    flags = { VENDORS, PEOPLE_FILE, CHECK, DIFF, PEOPLE_JOURNAL }, exits = CHANGE_EXITS },
  { "rotate", args = "VENDOR:ID|NAME...",
    help = "renews service-account credentials (Sigfox API users, Arthur service accounts; any vendor whose "
      .. "people part declares rotate), each new one tried before it is written out",
    module = "userapi.cli.rotate", fn = "rotate_command", globals = { "profile", "verbose" },
    flags = {
      { "out", value = "FILE", file = true, help = "write the new secrets (JSON lines) to FILE, created 0600; "
          .. "an existing FILE is refused. Without it they go to stdout, which must not be a terminal" },
      { "journal", value = "FILE", file = true, help = "record each rotation: a rerun skips the done ones and "
          .. "never rotates twice an account begun but not finished (it is reported in doubt)" },
      { "force", goes_with = "journal", help = "rotate again the accounts the journal has in doubt" } },
    exits = { { "0", "every account rotated and its new credential verified" },
              { "1", "an account failed, could not be verified (its new secret is still written) or is in doubt "
                .. "(a run killed during its rotation: check it, then rerun with --force)" },
              { "2", "usage error (nothing sent): unknown account form, a terminal as stdout, an existing --out" } } },
  { "review", help = "an access review: every account of every configured vendor, grouped by person (email) and "
      .. "flagged stale, pending, orphan, missing or service",
    module = "userapi.cli.review", fn = "review_command", globals = { "format", "profile", "verbose" },
    flags = { VENDORS,
      { "stale-days", value = "N", min = 0,
        help = "flag accounts without a login for N days, where the vendor records logins" },
      { "roster", value = "FILE", file = true,
        help = "a CSV of the people who should have accounts (email, name, optional vendors): flags orphan "
          .. "accounts and missing ones" },
      { "html", value = "FILE", file = true,
        help = "write a self-contained HTML report: a summary per vendor and a sortable, filterable table" },
      { "plan", help = "print the offboard and onboard plan that would fix the review" },
      { "apply", conflicts = "plan", help = "carry the plan out: offboard the orphans, onboard the missing" },
      { "journal", value = "FILE", file = true, goes_with = "apply",
        help = "with --apply: record each person done (created 0600); a rerun after a crash skips them" } },
    exits = { { "0", "the review is complete (with --apply: nothing changed)" },
              { "1", "a vendor could not be walked, the report could not be written, or a change failed" },
              { "2", "usage error: nothing sent" },
              { "3", "with --apply: something changed" } } },
}

--- The flags a command line may give, by name (`format`) and by short form
-- with its dash (`-o`): the command's own, then the global ones. Built per
-- parse, so that a row added to the tables counts at once.
-- @tparam[opt] table command a `COMMANDS` row
-- @treturn table name -> flag
function _M.index(command)
  local by_name = {}
  for _, f in ipairs(_M.all(command)) do
    by_name[f[1]] = f
    if f.short then by_name["-" .. f.short] = f end
  end
  return by_name
end

--- A subcommand by name.
-- @tparam string name
-- @treturn ?table its `COMMANDS` row
function _M.command(name)
  for _, c in ipairs(_M.COMMANDS) do
    if c[1] == name then return c end
  end
end

--- Every flag a command line may give (the global ones, then the command's own).
-- @tparam[opt] table command
-- @treturn {table,...}
function _M.all(command)
  local list, own = {}, {}
  for _, f in ipairs(command and command.flags or {}) do own[f[1]] = true end
  for _, f in ipairs(_M.FLAGS) do
    if not own[f[1]] and _M.takes(command, f[1]) then list[#list + 1] = f end
  end
  for _, f in ipairs(command and command.flags or {}) do list[#list + 1] = f end
  return list
end

--- Whether a subcommand takes a global flag (its `globals`; help and version always).
-- @tparam ?table command
-- @tparam string name
-- @treturn boolean
function _M.takes(command, name)
  if not (command and command.globals) or name == "help" or name == "version" then return true end
  for _, g in ipairs(command.globals) do if g == name then return true end end
  return false
end

--- How a flag reads in the help: `-o, --format json|jsonl|csv|table`.
-- @tparam table f a flag
-- @treturn string
function _M.label(f)
  local s = "--" .. f[1] .. (f.value and (" " .. f.value) or "")
  return f.short and ("-" .. f.short .. ", " .. s) or s
end

-- "a, b or c"
local function one_of(list)
  if #list == 1 then return list[1] end
  return concat(list, ", ", 1, #list - 1) .. " or " .. list[#list]
end

-- a flag's value, checked against its declaration and converted
local function checked_value(f, v)
  local flag = "--" .. f[1]
  if f.choices then
    for _, c in ipairs(f.choices) do
      if c == v then return v end
    end
    usage("%s: %s expected, got '%s'", flag, one_of(f.choices), v)
  end
  if f.min then
    local n = v:match("^%d+$") and tonumber(v)
    if not n or n < f.min or (f.max and n > f.max) then
      if f.max then usage("%s: an integer %d..%d expected, got '%s'", flag, f.min, f.max, v) end
      usage("%s: an integer from %d expected, got '%s'", flag, f.min, v)
    end
    return n
  end
  return v
end

--- Checks the flags given against their declarations (`goes_with`,
-- `conflicts`, one reader of standard input, values) and converts the
-- integers, in place.
-- @tparam table o the parsed command line
-- @tparam[opt] table command its subcommand
-- @raise a usage error
function _M.check(o, command)
  local stdin_users = {}
  for _, f in ipairs(_M.FLAGS) do
    -- given before the subcommand's name, a global flag it does not take
    if o[f[1]] ~= nil and command and not _M.index(command)[f[1]] then
      usage("--%s does not go with %s", f[1], command[1])
    end
  end
  for _, f in ipairs(_M.all(command)) do
    local v = o[f[1]]
    if v ~= nil then
      if f.goes_with and o[f.goes_with] == nil then usage("--%s goes with --%s", f[1], f.goes_with) end
      if f.conflicts and o[f.conflicts] ~= nil then
        usage("--%s and --%s do not go together", f[1], f.conflicts)
      end
      if f.stdin == true or f.stdin == v then stdin_users[#stdin_users + 1] = f end
      if type(v) == "string" then o[f[1]] = checked_value(f, v) end
    end
  end
  if #stdin_users > 1 then
    local names = {}
    for _, f in ipairs(_M.all(command)) do
      if f.stdin then names[#names + 1] = "--" .. f[1] .. (f.stdin == true and "" or (" " .. f.stdin)) end
    end
    usage("standard input can feed only one of %s", concat(names, ", "))
  end
end

return _M
