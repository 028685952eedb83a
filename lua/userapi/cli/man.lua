--- The `userapi` command's manual page (`userapi man`, `make docs` writes
-- it to `doc/userapi.1`) and completion scripts (`userapi completion bash|zsh`),
-- generated from the same tables as the help: the operation tables, the
-- vendors' `cli` fields and the flags of `userapi.cli.flags`.
-- @module userapi.cli.man
local userapi = require "userapi"
local config = require "userapi.config"
local help = require "userapi.cli.help"
local args = require "userapi.cli.args"
local flags = require "userapi.cli.flags"
local usage = require("userapi.cli.usage").raise
local term = require("userapi.format").escape_terminal

local ipairs, pairs, type, tostring = ipairs, pairs, type, tostring
local concat, sort = table.concat, table.sort

local _M = {}

-- text as roff reads it: backslashes escaped, dashes as minus signs, no
-- line taken for a request
local function roff(s)
  s = s:gsub("\\", "\\e"):gsub("%-", "\\-")
  return (s:gsub("\n([%.'])", "\n\\&%1"):gsub("^([%.'])", "\\&%1"))
end

local function section(out, title) out[#out + 1] = ".SH " .. title end

local function tagged(out, list)
  for _, item in ipairs(list) do
    out[#out + 1] = ".TP"
    out[#out + 1] = ".B " .. roff(item[1])
    out[#out + 1] = roff(item[2])
  end
end

-- the vendor's credentials: { ENV_NAME, "the option" }
local function credentials(name)
  local list = {}
  for _, pair in ipairs(config.env(name)) do
    list[#list + 1] = { pair[2], name .. ": the " .. pair[1] .. " option" }
  end
  return list
end

-- each subcommand with flags or exit codes of its own: its usage, flags and exit statuses
local function commands_section(out)
  section(out, "COMMANDS")
  for _, c in ipairs(flags.COMMANDS) do
    if c.flags or c.exits then
      out[#out + 1] = ".SS " .. roff("userapi " .. c[1] .. (c.args and (" " .. c.args) or ""))
      out[#out + 1] = roff(c.help .. (c.globals and (". Global options taken: --" .. concat(c.globals, ", --"))
        or "") .. ".")
      local own = {}
      for i, f in ipairs(c.flags or {}) do own[i] = { flags.label(f), f.help } end
      tagged(out, own)
      if c.exits then
        out[#out + 1] = ".PP"
        out[#out + 1] = roff("Exit status:")
        tagged(out, c.exits)
      end
    end
  end
end

--- The manual page, in roff.
-- @treturn string
function _M.page()
  local out = { '.TH USERAPI 1 "" "userapi ' .. userapi._VERSION .. '" "User Commands"' }
  section(out, "NAME")
  out[#out + 1] = "userapi \\- the users operations of " .. concat(help.vendor_names(), ", ") .. " from a shell"
  section(out, "SYNOPSIS")
  out[#out + 1] = ".nf"
  out[#out + 1] = roff("userapi VENDOR OPERATION [ARGS] [--param value ...] [--body JSON|@file|@-]")
  out[#out + 1] = roff("userapi VENDOR [OPERATION] --help")
  for _, c in ipairs(help.commands()) do out[#out + 1] = roff("userapi " .. c[1]) end
  out[#out + 1] = ".fi"
  section(out, "DESCRIPTION")
  out[#out + 1] = roff("Every operation of each vendor, with its path parameters as ARGS and its query "
    .. "parameters and body fields as options (--name value; dashes or underscores). The answer goes "
    .. "to standard output, the vendor's error to standard error.")
  section(out, "OPTIONS")
  tagged(out, help.options())
  commands_section(out)
  for _, name in ipairs(help.vendor_names()) do
    section(out, "VENDOR " .. name:upper())
    out[#out + 1] = ".nf"
    out[#out + 1] = roff(help.vendor(name))
    out[#out + 1] = ".fi"
  end
  section(out, "ENVIRONMENT")
  local env = {}
  for _, e in ipairs(help.ENVIRONMENT) do env[#env + 1] = e end
  for _, name in ipairs(help.vendor_names()) do
    for _, e in ipairs(credentials(name)) do env[#env + 1] = e end
  end
  tagged(out, env)
  section(out, "FILES")
  local keys = {}
  for k in pairs(config.KEYS) do keys[#keys + 1] = k end
  sort(keys)
  tagged(out, { { "~/.config/userapi/config", "sections [PROFILE.VENDOR] of key = value lines: the vendor's "
    .. "credentials (the options above) and " .. concat(keys, ", ") .. ". It must be private to you "
    .. "(chmod 600), as ssh asks of keys." } })
  section(out, "EXIT STATUS")
  tagged(out, help.EXIT)
  section(out, "EXAMPLES")
  out[#out + 1] = ".nf"
  for _, e in ipairs(help.examples()) do out[#out + 1] = roff(e) end
  out[#out + 1] = ".fi"
  return concat(out, "\n") .. "\n"
end

-- ---- completion --------------------------------------------------------------------

-- Names from vendor tables go into the script, where bash expands them (in a
-- case pattern, and again in compgen -W's word list, quoted or not): only
-- names of letters, digits, _ and - go in; the others are left out, and said.
local function shell_safe(name)
  return type(name) == "string" and name:find("^[A-Za-z0-9_][A-Za-z0-9_%-]*$") ~= nil
end

-- the names that may go in; the others noted in `left` ("kandji parameter 'x'")
local function safe_names(list, what, left)
  local ok = {}
  for _, name in ipairs(list) do
    if shell_safe(name) then
      ok[#ok + 1] = name
    else
      left[#left + 1] = what .. " '" .. tostring(name) .. "'"
    end
  end
  return ok
end

-- 'a b c': words for a shell string (each shell-safe)
local function words(list) return "'" .. concat(list, " ") .. "'" end

-- every flag as typed: the long forms sorted, then the short ones
local function typed_flags(list, with_value)
  local long, short = {}, {}
  for _, f in ipairs(list) do
    if with_value == nil or (f.value ~= nil) == with_value then
      long[#long + 1] = "--" .. f[1]
      if f.short then short[#short + 1] = "-" .. f.short end
    end
  end
  sort(long)
  sort(short)
  for _, s in ipairs(short) do long[#long + 1] = s end
  return long
end

-- the case arms of the word after a flag: its choices, or file names
local function value_arms(list)
  local arms, files = {}, {}
  for _, f in ipairs(list) do
    local pattern = "--" .. f[1] .. (f.short and ("|-" .. f.short) or "")
    if f.choices then
      arms[#arms + 1] = ("    %s) COMPREPLY=($(compgen -W %s -- \"$cur\")); return ;;"):format(pattern,
        words(f.choices))
    elseif f.file then
      files[#files + 1] = pattern
    end
  end
  if #files > 0 then
    arms[#arms + 1] = ("    %s) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;"):format(concat(files, "|"))
  end
  return concat(arms, "\n")
end

-- the case arms: vendor (and alias) -> its operations, "vendor op" -> its
-- parameters; a subcommand -> its argument's choices and its own flags
local function vendor_arms(left)
  local ops_arms, param_arms = {}, {}
  for _, c in ipairs(flags.COMMANDS) do
    if c.choices then ops_arms[#ops_arms + 1] = ("    '%s') words=%s ;;"):format(c[1], words(c.choices)) end
    if c.flags then
      param_arms[#param_arms + 1] = ("    '%s '*) words=%s ;;"):format(c[1], words(typed_flags(c.flags)))
    end
  end
  for _, name in ipairs(safe_names(help.vendor_names(), "vendor", left)) do
    local vendor = userapi.vendors[name]
    local alias = safe_names({ (vendor.cli or {}).alias }, name .. " alias", left)[1]
    local pattern = "'" .. name .. "'" .. (alias and ("|'" .. alias .. "'") or "")
    local ops = safe_names(help.operation_names(vendor), name .. " operation", left)
    ops_arms[#ops_arms + 1] = ("    %s) words=%s ;;"):format(pattern, words(ops))
    for _, opname in ipairs(ops) do
      local params = {}
      for k in pairs(args.op_params(vendor.ops[opname])) do params[#params + 1] = k end
      sort(params)
      params = safe_names(params, name .. " " .. opname .. " parameter", left)
      for i, k in ipairs(params) do params[i] = "--" .. k end
      local pat = ("'%s %s'"):format(name, opname)
      if alias then pat = pat .. ("|'%s %s'"):format(alias, opname) end
      param_arms[#param_arms + 1] = ("    %s) words=%s ;;"):format(pat, words(params))
    end
  end
  return concat(ops_arms, "\n"), concat(param_arms, "\n")
end

local BASH = [==[
# userapi completion for bash, generated from the operation tables and the
# command's flags:
#   source <(userapi completion bash)
_userapi() {
  local cur prev vendor="" op="" i w skip="" words=""
  cur="${COMP_WORDS[COMP_CWORD]}"
  prev="${COMP_WORDS[COMP_CWORD-1]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="${COMP_WORDS[i]}"
    if [[ -n $skip ]]; then skip=""; continue; fi
    case "$w" in
      @BARE@) ;;
      -*) [[ $w == *=* ]] || skip=1 ;;
      *) if [[ -z $vendor ]]; then vendor=$w; elif [[ -z $op ]]; then op=$w; fi ;;
    esac
  done
  case "$prev" in
@VALUES@
  esac
  op=${op//-/_}
  if [[ $cur == -* ]]; then
    case "$vendor $op" in
@PARAMS@
    esac
    COMPREPLY=($(compgen -W "$words "@GLOBAL@ -- "$cur"))
    return
  fi
  if [[ -z $vendor ]]; then
    COMPREPLY=($(compgen -W @FIRST@ -- "$cur"))
  elif [[ -z $op ]]; then
    case "$vendor" in
@OPS@
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  fi
}
complete -F _userapi userapi
]==]

--- A completion script. Names of the vendor tables that are not made of
-- letters, digits, `_` and `-` are left out of it (bash would expand them).
-- @tparam string shell `bash` or `zsh` (bash's function, through zsh's bashcompinit)
-- @treturn ?string the script, nil for another shell
-- @treturn {string,...} the names left out, as "kandji parameter 'x'"
function _M.completion(shell)
  if shell ~= "bash" and shell ~= "zsh" then return nil end
  local left = {}
  local first = {}
  for _, name in ipairs(safe_names(help.vendor_names(), "vendor", {})) do
    first[#first + 1] = name
    local alias = (userapi.vendors[name].cli or {}).alias
    if shell_safe(alias) then first[#first + 1] = alias end
  end
  for _, c in ipairs(flags.COMMANDS) do first[#first + 1] = c[1] end
  local ops, params = vendor_arms(left)
  local script = BASH:gsub("@(%u+)@", {
    BARE = concat(typed_flags(flags.FLAGS, false), "|"), GLOBAL = words(typed_flags(flags.FLAGS)),
    VALUES = value_arms(flags.FLAGS), FIRST = words(first), OPS = ops, PARAMS = params,
  })
  if shell == "zsh" then
    script = "#compdef userapi\n# userapi completion for zsh: source <(userapi completion zsh)\n"
      .. "autoload -U +X bashcompinit && bashcompinit\n" .. script
  end
  return script, left
end

--- `userapi completion bash|zsh`: the script on stdout, the names left out on stderr.
-- @tparam table o the parsed command line
-- @tparam table ctx `streams`
-- @treturn int 0
function _M.completion_command(o, ctx)
  local script, left = _M.completion(o.positional[2])
  if not script then usage("completion: bash or zsh expected, got '%s'", tostring(o.positional[2])) end
  ctx.streams.stdout:write(script)
  for _, what in ipairs(left) do
    ctx.streams.stderr:write(term(("userapi: completion: left out the %s: only letters, digits, _ and - "
      .. "are completed"):format(what)), "\n")
  end
  return 0
end

--- `userapi man`: the manual page on stdout.
-- @tparam table o the parsed command line
-- @tparam table ctx `streams`
-- @treturn int 0
function _M.man_command(o, ctx)
  ctx.streams.stdout:write(_M.page())
  return 0
end

return _M
