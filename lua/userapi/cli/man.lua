--- The `userapi` command's manual page (`userapi man`, `make docs` writes
-- it to `doc/userapi.1`) and completion scripts (`userapi completion bash|zsh`),
-- generated from the same tables as the help: the operation tables, the
-- vendors' `cli` fields and the global options.
-- @module userapi.cli.man
local userapi = require "userapi"
local config = require "userapi.config"
local help = require "userapi.cli.help"
local args = require "userapi.cli.args"

local ipairs, pairs = ipairs, pairs
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
  out[#out + 1] = roff("userapi completion bash|zsh")
  out[#out + 1] = ".fi"
  section(out, "DESCRIPTION")
  out[#out + 1] = roff("Every operation of each vendor, with its path parameters as ARGS and its query "
    .. "parameters and body fields as options (--name value; dashes or underscores). The answer goes "
    .. "to standard output, the vendor's error to standard error.")
  section(out, "OPTIONS")
  tagged(out, help.OPTIONS)
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

-- "a b c": words for a shell string (names are identifiers: nothing to quote)
local function words(list) return concat(list, " ") end

-- the global options, as typed
local function global_flags()
  local flags = {}
  for name in pairs(args.GLOBAL) do flags[#flags + 1] = "--" .. name end
  sort(flags)
  flags[#flags + 1] = "-o"
  return flags
end

-- the options that take no value: the word after them is not theirs
local function bare_flags()
  local flags = {}
  for name, takes in pairs(args.GLOBAL) do
    if not takes then flags[#flags + 1] = "--" .. name end
  end
  sort(flags)
  flags[#flags + 1] = "-h"
  flags[#flags + 1] = "-v"
  return flags
end

-- the case arms: vendor (and alias) -> its operations, "vendor op" -> its parameters
local function vendor_arms()
  local ops_arms, param_arms = {}, {}
  for _, name in ipairs(help.vendor_names()) do
    local vendor = userapi.vendors[name]
    local alias = (vendor.cli or {}).alias
    local pattern = alias and (name .. "|" .. alias) or name
    local ops = help.operation_names(vendor)
    ops_arms[#ops_arms + 1] = ("    %s) words=%q ;;"):format(pattern, words(ops))
    for _, opname in ipairs(ops) do
      local params = {}
      for k in pairs(args.op_params(vendor.ops[opname])) do params[#params + 1] = "--" .. k end
      sort(params)
      local pat = ('"%s %s"'):format(name, opname)
      if alias then pat = pat .. ('|"%s %s"'):format(alias, opname) end
      param_arms[#param_arms + 1] = ("    %s) words=%q ;;"):format(pat, words(params))
    end
  end
  return concat(ops_arms, "\n"), concat(param_arms, "\n")
end

local BASH = [==[
# userapi completion for bash, generated from the operation tables:
#   source <(userapi completion bash)
_userapi() {
  local cur prev vendor="" op="" i w skip="" words
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
    --format|-o) COMPREPLY=($(compgen -W "json jsonl csv table" -- "$cur")); return ;;
    --each|--body|--journal) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  op=${op//-/_}
  if [[ $cur == -* ]]; then
    words="@GLOBAL@"
    case "$vendor $op" in
@PARAMS@
    esac
    COMPREPLY=($(compgen -W "$words @GLOBAL@" -- "$cur"))
    return
  fi
  if [[ -z $vendor ]]; then
    COMPREPLY=($(compgen -W "@VENDORS@ completion man" -- "$cur"))
  elif [[ $vendor == completion ]]; then
    COMPREPLY=($(compgen -W "bash zsh" -- "$cur"))
  elif [[ -z $op ]]; then
    words=""
    case "$vendor" in
@OPS@
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  fi
}
complete -F _userapi userapi
]==]

--- A completion script.
-- @tparam string shell `bash` or `zsh` (bash's function, through zsh's bashcompinit)
-- @treturn ?string the script, nil for another shell
function _M.completion(shell)
  if shell ~= "bash" and shell ~= "zsh" then return nil end
  local vendors = help.vendor_names()
  for _, name in ipairs(help.vendor_names()) do
    local alias = (userapi.vendors[name].cli or {}).alias
    if alias then vendors[#vendors + 1] = alias end
  end
  local ops, params = vendor_arms()
  local script = BASH:gsub("@(%u+)@", {
    BARE = concat(bare_flags(), "|"), GLOBAL = words(global_flags()), VENDORS = words(vendors),
    OPS = ops, PARAMS = params,
  })
  if shell == "zsh" then
    script = "#compdef userapi\n# userapi completion for zsh: source <(userapi completion zsh)\n"
      .. "autoload -U +X bashcompinit && bashcompinit\n" .. script
  end
  return script
end

return _M
