-- The check of the reference: fails when a public function of the Lua modules
-- has no LDoc comment, and, given the HTML LDoc made, when something is missing
-- from it or garbled.
--
--   lua5.4 tools/doccheck.lua [--skip PATH]... [--html DIR | --ldoc] [PATH...]   (default: lua/userapi)
--
-- Public: a function assigned to `_M.x`, `M.x` or `Client.x` (`function
-- _M.x(`, `function Client:x(`, `_M.x = function`, `_M.x = a_local_function`,
-- `_M.x = module.function`), and the constructors a module makes in a loop
-- (`_M[name] = function` for the names of the loop's `ipairs{ ... }`). Its
-- doc comment is the block of `--` lines right above it, opened by `---` on
-- its first line (LDoc drops a block that a plain `--` comment runs into),
-- with some text besides the tags.
-- Every operation of a vendor table (a file returning `{ ..., ops = { ... } }`,
-- in vendors/ or given by its path, wherever it is) needs a block with
-- `@function <op>`, a `@tparam` for each path parameter and each query
-- parameter (`params.<name>`), one for the body of an operation that takes
-- one, and a `@treturn`.
-- `--html DIR` also reads LDoc's pages in DIR: every operation has its entry
-- on its module's page, and no identifier is cut by Markdown emphasis
-- (`profile<em>id`). `--ldoc` runs LDoc on the PATHs into a scratch directory
-- first, for a vendor file that the project's config.ld does not cover.
-- Prints each miss as `file:line: what` and exits 1; exits 0 when none.
--
-- Also a module (`require "tools.doccheck"`), for a vendor table that a spec
-- defines in its own file: `doccheck.vendor(vendor, path)` returns the misses
-- of its doc comments in `path` (see spec/doccheck_spec.lua).

local OWNERS = { _M = true, M = true, Client = true }
local HERE = debug.getinfo(1, "S").source:match("^@(.*)/tools/[^/]*$") or "."

local doccheck = {}

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function read_lines(path)
  local lines = {}
  for l in io.lines(path) do lines[#lines + 1] = l end
  return lines
end

local function find(path, pattern)
  local files = {}
  local p = assert(io.popen("find " .. q(path) .. " -name " .. q(pattern) .. " 2>/dev/null | sort"))
  for f in p:lines() do files[#files + 1] = f end
  p:close()
  return files
end

local function is_comment(l) return l and l:match("^%s*%-%-") ~= nil end
local function opens_doc(l) return l:match("^%s*%-%-%-") ~= nil and not l:match("^%s*%-%-%-%-") end

-- the comment run around line i (first, last): what LDoc reads as one comment
local function comment_run(lines, i)
  local first, last = i, i
  while first > 1 and is_comment(lines[first - 1]) do first = first - 1 end
  while is_comment(lines[last + 1]) do last = last + 1 end
  return first, last
end

-- the doc block above line i: its lines, or nil, and what is wrong with it
local function doc_block(lines, i)
  if not is_comment(lines[i - 1]) then return nil end
  local first = comment_run(lines, i - 1)
  local block, opened = {}, false
  for k = first, i - 1 do
    if opens_doc(lines[k]) then opened = true end
    if opened then block[#block + 1] = lines[k] end
  end
  if not opened then return nil end
  if not opens_doc(lines[first]) then
    return block, "a plain comment runs into its doc block (line " .. first .. "): LDoc drops the block;"
      .. " leave a blank line between them"
  end
  return block
end
doccheck.doc_block = doc_block

local function has_text(block)
  for _, l in ipairs(block) do
    local text = l:gsub("^%s*%-+%s*", "")
    if text ~= "" and not text:match("^@") then return true end
  end
  return false
end

-- the definitions of a module file that are functions: name -> true
local function local_functions(lines)
  local fns = {}
  for _, l in ipairs(lines) do
    local name = l:match("^%s*local%s+function%s+([%w_]+)") or l:match("^%s*local%s+([%w_]+)%s*=%s*function")
    if name then fns[name] = true end
  end
  return fns
end

-- the name of the function a line makes public (`_M.x`, `Client:x`), or nil
local function public_name(l, locals, exported)
  local owner, sep, name = l:match("^%s*function%s+([%w_]+)([.:])([%w_]+)%s*%(")
  if owner and OWNERS[owner] then return owner .. sep .. name end
  owner, name = l:match("^%s*([%w_]+)%.([%w_]+)%s*=%s*function")
  if owner and OWNERS[owner] then return owner .. "." .. name end
  local rhs
  owner, name, rhs = l:match("^%s*([%w_]+)%.([%w_]+)%s*=%s*([%w_]+)%s*$")
  if owner and OWNERS[owner] and locals[rhs] then return owner .. "." .. name end
  local mod, field
  owner, name, mod, field = l:match("^%s*([%w_]+)%.([%w_]+)%s*=%s*([%w_]+)%.([%w_]+)%s*$")
  if owner and OWNERS[owner] and exported and exported(mod, field) then return owner .. "." .. name end
end

-- A run over some files: misses and counts, the module cache, the vendors seen.
local Run = {}
Run.__index = Run

local function new_run()
  return setmetatable({ misses = {}, checked = 0, ops_checked = 0, modules = {}, vendors = {} }, Run)
end

function Run:miss(path, line, what) self.misses[#self.misses + 1] = ("%s:%d: %s"):format(path, line, what) end

-- the functions a required module exports (by its own definitions)
function Run:exported_functions(root, modname)
  if self.modules[modname] then return self.modules[modname] end
  local rel = modname:gsub("%.", "/")
  local fns = {}
  for _, path in ipairs({ root .. "/" .. rel .. ".lua", root .. "/" .. rel .. "/init.lua" }) do
    local f = io.open(path)
    if f then
      f:close()
      local lines = read_lines(path)
      local locals = local_functions(lines)
      for _, l in ipairs(lines) do
        local name = public_name(l, locals)
        if name then fns[name:match("[.:]([%w_]+)$")] = true end
      end
      break
    end
  end
  self.modules[modname] = fns
  return fns
end

-- The operations of a vendor table against the doc blocks of its source.
function Run:check_vendor(path, lines, vendor)
  local blocks = {}
  for i, l in ipairs(lines) do
    local name = is_comment(l) and l:match("@function%s+([%w_]+)")
    if name then
      local first, last = comment_run(lines, i)
      local text = {}
      for k = first, last do text[#text + 1] = lines[k] end
      blocks[name] = { text = table.concat(text, "\n"), line = i, lines = text, opened = opens_doc(lines[first]),
                       first = first }
    end
  end
  local names = {}
  for opname in pairs(vendor.ops) do names[#names + 1] = opname end
  table.sort(names)
  for _, opname in ipairs(names) do
    self.ops_checked = self.ops_checked + 1
    local op, b = vendor.ops[opname], blocks[opname]
    local at = 1
    for i, l in ipairs(lines) do if l:match("^%s*" .. opname .. "%s*=") then at = i break end end
    if not b then
      self:miss(path, at, "operation " .. opname .. " has no doc comment with @function " .. opname)
    else
      self:check_op(path, opname, op, b)
    end
  end
end

function Run:check_op(path, opname, op, b)
  if not b.opened then
    self:miss(path, b.line, "operation " .. opname .. ": a plain comment runs into its doc block (line "
      .. b.first .. "): LDoc drops the block; leave a blank line between them")
  end
  if not has_text(b.lines) then self:miss(path, b.line, "operation " .. opname .. " has no summary") end
  local function tparam(name)
    local n = name:gsub("%p", "%%%0")
    return b.text:find("@tparam[^\n]-%s" .. n .. "%s") ~= nil or b.text:find("@tparam[^\n]-%s" .. n .. "\n") ~= nil
  end
  for pname in (op.path or ""):gmatch("{([%w_]+)}") do
    if not tparam(pname) then self:miss(path, b.line, opname .. ": no @tparam for path parameter " .. pname) end
  end
  for qname in pairs(op.query or {}) do
    if not tparam("params." .. qname) then self:miss(path, b.line, opname .. ": no @tparam for params." .. qname) end
  end
  if op.body then
    -- the body is the parameter after the path parameters
    local n, seen = 0, 0
    for _ in (op.path or ""):gmatch("{[%w_]+}") do n = n + 1 end
    for l in b.text:gmatch("@tparam[^\n]*") do
      if not l:match("@tparam[^%s]*%s+[^%s]+%s+[%w_]+%.") then seen = seen + 1 end
    end
    if seen < n + 1 then self:miss(path, b.line, opname .. ": no @tparam for its body") end
  end
  if not b.text:find("@treturn") and not b.text:find("@return") then
    self:miss(path, b.line, opname .. ": no @treturn")
  end
end

-- the module name LDoc gives a file: its @module tag, else its path under root
local function module_name(path, lines, root)
  for _, l in ipairs(lines) do
    local name = l:match("^%s*%-%-+%s*@module%s+([%w_%.]+)")
    if name then return name end
  end
  local rel = path:sub(1, #root + 1) == root .. "/" and path:sub(#root + 2) or path:match("[^/]+$")
  return (rel:gsub("/init%.lua$", ""):gsub("%.lua$", ""):gsub("/", "."))
end

-- A vendor table: a file that returns a table with ops. Loaded when it lives in
-- vendors/ or was named (a load failure is then a miss), or looks like one.
function Run:load_vendor(path, lines, named)
  local text = "\n" .. table.concat(lines, "\n")
  if not text:find("\n%s*ops%s*=%s*{") then return nil end
  local wanted = named or path:find("/vendors/[^/]+%.lua$")
  if not wanted and not text:find("\nreturn%s*{") then return nil end
  local chunk, err = loadfile(path)
  local ok, vendor = false, err
  if chunk then ok, vendor = pcall(chunk) end
  if ok and type(vendor) == "table" and type(vendor.ops) == "table" then return vendor end
  if wanted then self:miss(path, 1, "cannot load the vendor table: " .. tostring(vendor)) end
end

function Run:check_file(path, root, named)
  local lines = read_lines(path)
  local locals = local_functions(lines)
  local requires = {}
  for _, l in ipairs(lines) do
    local var, mod = l:match("^%s*local%s+([%w_]+)%s*=%s*require%s*%(?%s*[\"']([%w_%.]+)[\"']")
    if var then requires[var] = mod end
  end
  local function exported(var, field)
    return requires[var] and self:exported_functions(root, requires[var])[field]
  end
  for i, l in ipairs(lines) do
    local what = public_name(l, locals, exported)
    if what then
      self.checked = self.checked + 1
      local block, wrong = doc_block(lines, i)
      if not block then
        self:miss(path, i, what .. " has no doc comment")
      elseif wrong then
        self:miss(path, i, what .. ": " .. wrong)
      elseif not has_text(block) then
        self:miss(path, i, what .. ": the doc comment has no summary")
      end
    end
    if l:match("^%s*_M%[[%w_]+%]%s*=%s*function") then self:check_loop(path, lines, i) end
  end
  local vendor = self:load_vendor(path, lines, named)
  if vendor then
    self:check_vendor(path, lines, vendor)
    self.vendors[#self.vendors + 1] = { path = path, module = module_name(path, lines, root), vendor = vendor }
  end
end

-- constructors made in a loop: every name of the loop needs @function
function Run:check_loop(path, lines, i)
  local names
  for k = i, 1, -1 do
    names = lines[k]:match("ipairs%s*%(?%s*{(.-)}")
    if names then break end
  end
  local text = table.concat(lines, "\n")
  for n in (names or ""):gmatch("[\"']([%w_]+)[\"']") do
    self.checked = self.checked + 1
    if not text:find("@function%s+" .. n .. "%f[^%w_]") then
      self:miss(path, i, "_M." .. n .. " (made in a loop) has no doc comment with @function " .. n)
    end
  end
end

-- the page LDoc wrote for a module: modules/NAME.html, or index.html when the
-- run had one module
local function page_of(docdir, name)
  for _, p in ipairs({ docdir .. "/modules/" .. name .. ".html", docdir .. "/index.html" }) do
    local f = io.open(p)
    if f then
      local html = f:read("*a")
      f:close()
      if p:find("/modules/", 1, true) or html:find("<h1>Module <code>" .. name .. "</code></h1>", 1, true) then
        return p, html
      end
    end
  end
end

-- Every operation of a vendor table has its entry on its module's page.
function Run:check_html_vendor(docdir, v)
  local page, html = page_of(docdir, v.module)
  if not page then
    return self:miss(v.path, 1, "no page for module " .. v.module .. " in " .. docdir)
  end
  for opname in pairs(v.vendor.ops) do
    if not html:find('<a name%s*=%s*"' .. opname .. '"%s*>') then
      self:miss(page, 1, "operation " .. opname .. " of " .. v.path .. " is not in the reference")
    end
  end
end

-- No identifier cut by Markdown emphasis: a letter, digit or _ right next to
-- an <em>/<strong> tag (`profile<em>id`), on any page.
function Run:check_html_text(docdir)
  local pages = find(docdir, "*.html")
  if #pages == 0 then self:miss(docdir, 0, "no HTML pages") end
  for _, page in ipairs(pages) do
    local n = 0
    for l in io.lines(page) do
      n = n + 1
      for _, pat in ipairs({ "[%w_]<em>", "</em>[%w_]", "[%w_]<strong>", "</strong>[%w_]" }) do
        local s = l:find(pat)
        if s then
          self:miss(page, n, "an identifier cut by emphasis: " .. l:sub(math.max(1, s - 30), s + 40))
          break
        end
      end
    end
  end
end

function Run:check_html(docdir)
  for _, v in ipairs(self.vendors) do self:check_html_vendor(docdir, v) end
  self:check_html_text(docdir)
end

-- LDoc with the project's Markdown on each path into a scratch directory, then
-- the HTML check there
function Run:check_ldoc(paths)
  local t = assert(io.popen("mktemp -d /tmp/doccheck.XXXXXX"))
  local docdir = t:read("*l")
  t:close()
  for _, path in ipairs(paths) do
    local p = assert(io.popen(("ldoc -q -f discount -d %s %s 2>&1"):format(q(docdir), q(path))))
    local out = p:read("*a")
    if not p:close() then self:miss(path, 1, "LDoc failed: " .. out) end
  end
  self:check_html(docdir)
  os.execute("rm -rf " .. q(docdir))
end

--- The misses of a vendor table's doc comments in `path`, the file that
-- defines it (a spec, for example): an array of `file:line: what`.
-- With `opts.ldoc`, LDoc also renders `path` and its HTML is checked.
function doccheck.vendor(vendor, path, opts)
  local run = new_run()
  local lines = read_lines(path)
  run:check_vendor(path, lines, vendor)
  if opts and opts.ldoc then
    run.vendors[1] = { path = path, module = module_name(path, lines, path:match("^(.*)/") or "."), vendor = vendor }
    run:check_ldoc({ path })
  end
  return run.misses
end

--- Checks paths (files or directories) as the command does; opts: `skip`
-- (paths to leave out), `html` (LDoc's output directory), `ldoc` (make it).
-- Returns the run: `misses`, `checked`, `ops_checked`, `skipped`.
function doccheck.check(paths, opts)
  opts = opts or {}
  local run = new_run()
  run.skipped = 0
  for _, p in ipairs(paths) do
    local single = p:match("%.lua$") ~= nil
    -- where the module tree starts: the lua/ of a path in one, else the parent
    local root = p:match("^(.*/?lua)/") or p:match("^(.*)/[^/]+/?$") or "."
    -- a vendor table may require the library: from root, or from this checkout
    package.path = ("%s/?.lua;%s/?/init.lua;%s/lua/?.lua;%s/lua/?/init.lua;"):format(root, root, HERE, HERE)
      .. package.path
    -- and its C core, built for this Lua (make), as bin/userapi finds it
    package.cpath = ("%s/build/%s/?.so;"):format(HERE, jit and "luajit" or "lua" .. _VERSION:match("%d+%.%d+"))
      .. package.cpath
    for _, f in ipairs(single and { p } or find(p, "*.lua")) do
      local drop = false
      for _, s in ipairs(opts.skip or {}) do drop = drop or f == s or f:sub(1, #s + 1) == s .. "/" end
      if drop then run.skipped = run.skipped + 1 else run:check_file(f, root, single) end
    end
  end
  if opts.ldoc then run:check_ldoc(paths) elseif opts.html then run:check_html(opts.html) end
  return run
end

local function main(args)
  local opts, paths, i = { skip = {} }, {}, 1
  while i <= #args do
    local a, v = args[i], args[i + 1]
    if a == "--skip" or a == "--html" then
      assert(v, a .. " needs a path")
      if a == "--skip" then opts.skip[#opts.skip + 1] = v else opts.html = v end
      i = i + 1
    elseif a == "--ldoc" then opts.ldoc = true
    else paths[#paths + 1] = a end
    i = i + 1
  end
  if #paths == 0 then paths = { "lua/userapi" } end
  local run = doccheck.check(paths, opts)
  for _, m in ipairs(run.misses) do io.stderr:write(m, "\n") end
  print(("doccheck: %d public functions, %d operations%s, %d undocumented%s"):format(
    run.checked, run.ops_checked, (opts.html or opts.ldoc) and " (and the HTML)" or "", #run.misses,
    run.skipped > 0 and (", " .. run.skipped .. " file(s) skipped") or ""))
  os.exit(#run.misses == 0 and 0 or 1)
end

-- required as a module (`require "tools.doccheck"`), or run as the command
if ... == "tools.doccheck" then return doccheck end
main(arg)
