-- Fails when a public function of the Lua modules has no LDoc comment.
--
--   lua5.4 tools/doccheck.lua [--skip PATH]... [PATH...]     (default: lua/userapi)
--
-- Public: a function assigned to `_M.x`, `M.x` or `Client.x` (`function
-- _M.x(`, `function Client:x(`, `_M.x = function`, `_M.x = a_local_function`,
-- `_M.x = module.function`), and the constructors a module makes in a loop
-- (`_M[name] = function` for the names of the loop's `ipairs{ ... }`). Its
-- doc comment is the block of `--` lines right above it, opened by `---`,
-- with some text besides the tags.
-- Every operation of a vendor table (a file returning `{ ..., ops = { ... } }`)
-- needs a block with `@function <op>`, a `@tparam` for each path parameter and
-- each query parameter (`params.<name>`), one for the body of an operation
-- that takes one, and a `@treturn`.
-- Prints each miss as `file:line: what` and exits 1; exits 0 when none.

local OWNERS = { _M = true, M = true, Client = true }

local function read_lines(path)
  local lines = {}
  for l in io.lines(path) do lines[#lines + 1] = l end
  return lines
end

local function lua_files(path)
  local files = {}
  local p = assert(io.popen("find " .. ("'" .. path:gsub("'", "'\\''") .. "'") .. " -name '*.lua' | sort"))
  for f in p:lines() do files[#files + 1] = f end
  p:close()
  return files
end

-- the doc block above line i: its lines, or nil
local function doc_block(lines, i)
  local first = i
  while first > 1 and lines[first - 1]:match("^%s*%-%-") do first = first - 1 end
  if first == i then return nil end
  local block, opened = {}, false
  for k = first, i - 1 do
    local l = lines[k]
    if l:match("^%s*%-%-%-") and not l:match("^%s*%-%-%-%-") then opened = true end
    if opened then block[#block + 1] = l end
  end
  return opened and block or nil
end

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

local module_cache = {}

-- the functions a required module exports (by its own definitions)
local function exported_functions(root, modname)
  if module_cache[modname] then return module_cache[modname] end
  local rel = modname:gsub("%.", "/")
  local candidates = { root .. "/" .. rel .. ".lua", root .. "/" .. rel .. "/init.lua" }
  local fns = {}
  for _, path in ipairs(candidates) do
    local f = io.open(path)
    if f then
      f:close()
      local lines = read_lines(path)
      local locals = local_functions(lines)
      for _, l in ipairs(lines) do
        local owner, name = l:match("^%s*function%s+([%w_]+)[.:]([%w_]+)%s*%(")
        if owner and OWNERS[owner] then fns[name] = true end
        owner, name = l:match("^%s*([%w_]+)%.([%w_]+)%s*=%s*function")
        if owner and OWNERS[owner] then fns[name] = true end
        local rhs
        owner, name, rhs = l:match("^%s*([%w_]+)%.([%w_]+)%s*=%s*([%w_]+)%s*$")
        if owner and OWNERS[owner] and locals[rhs] then fns[name] = true end
      end
      break
    end
  end
  module_cache[modname] = fns
  return fns
end

local misses, checked, ops_checked = {}, 0, 0

local function miss(path, line, what) misses[#misses + 1] = ("%s:%d: %s"):format(path, line, what) end

local function check_vendor(path, lines, vendor)
  local blocks = {}
  for i, l in ipairs(lines) do
    local name = l:match("@function%s+([%w_]+)")
    if name then
      -- the whole block this tag belongs to, and the line after it
      local last = i
      while lines[last + 1] and lines[last + 1]:match("^%s*%-%-") do last = last + 1 end
      local first = i
      while first > 1 and lines[first - 1]:match("^%s*%-%-") do first = first - 1 end
      local text = {}
      for k = first, last do text[#text + 1] = lines[k] end
      blocks[name] = { text = table.concat(text, "\n"), line = i, lines = text }
    end
  end
  local names = {}
  for opname in pairs(vendor.ops) do names[#names + 1] = opname end
  table.sort(names)
  for _, opname in ipairs(names) do
    ops_checked = ops_checked + 1
    local op, b = vendor.ops[opname], blocks[opname]
    local at = 1
    for i, l in ipairs(lines) do if l:match("^%s*" .. opname .. "%s*=") then at = i break end end
    if not b then
      miss(path, at, "operation " .. opname .. " has no doc comment with @function " .. opname)
    else
      if not has_text(b.lines) then miss(path, b.line, "operation " .. opname .. " has no summary") end
      local function tparam(name)
        return b.text:find("@tparam[^\n]-%s" .. name:gsub("%p", "%%%0") .. "%s") ~= nil
          or b.text:find("@tparam[^\n]-%s" .. name:gsub("%p", "%%%0") .. "\n") ~= nil
      end
      for pname in op.path:gmatch("{([%w_]+)}") do
        if not tparam(pname) then miss(path, b.line, opname .. ": no @tparam for path parameter " .. pname) end
      end
      for q in pairs(op.query or {}) do
        if not tparam("params." .. q) then miss(path, b.line, opname .. ": no @tparam for params." .. q) end
      end
      if op.body then
        -- the body is the parameter after the path parameters
        local n, seen = 0, 0
        for _ in op.path:gmatch("{[%w_]+}") do n = n + 1 end
        for l in b.text:gmatch("@tparam[^\n]*") do
          if not l:match("@tparam[^%s]*%s+[^%s]+%s+[%w_]+%.") then seen = seen + 1 end
        end
        if seen < n + 1 then miss(path, b.line, opname .. ": no @tparam for its body") end
      end
      if not b.text:find("@treturn") and not b.text:find("@return") then
        miss(path, b.line, opname .. ": no @treturn")
      end
    end
  end
end

local function check_file(path, root)
  local lines = read_lines(path)
  local locals = local_functions(lines)
  local requires = {}
  for _, l in ipairs(lines) do
    local var, mod = l:match("^%s*local%s+([%w_]+)%s*=%s*require%s*%(?%s*[\"']([%w_%.]+)[\"']")
    if var then requires[var] = mod end
  end
  for i, l in ipairs(lines) do
    local owner, sep, name = l:match("^%s*function%s+([%w_]+)([.:])([%w_]+)%s*%(")
    local what
    if owner and OWNERS[owner] then what = owner .. sep .. name end
    if not what then
      owner, name = l:match("^%s*([%w_]+)%.([%w_]+)%s*=%s*function")
      if owner and OWNERS[owner] then what = owner .. "." .. name end
    end
    if not what then
      local rhs
      owner, name, rhs = l:match("^%s*([%w_]+)%.([%w_]+)%s*=%s*([%w_]+)%s*$")
      if owner and OWNERS[owner] and locals[rhs] then what = owner .. "." .. name end
    end
    if not what then
      local mod, field
      owner, name, mod, field = l:match("^%s*([%w_]+)%.([%w_]+)%s*=%s*([%w_]+)%.([%w_]+)%s*$")
      if owner and OWNERS[owner] and requires[mod] and exported_functions(root, requires[mod])[field] then
        what = owner .. "." .. name
      end
    end
    if what then
      checked = checked + 1
      local block = doc_block(lines, i)
      if not block then
        miss(path, i, what .. " has no doc comment")
      elseif not has_text(block) then
        miss(path, i, what .. ": the doc comment has no summary")
      end
    end
    -- constructors made in a loop: every name of the loop needs @function
    if l:match("^%s*_M%[[%w_]+%]%s*=%s*function") then
      local names
      for k = i, 1, -1 do
        names = lines[k]:match("ipairs%s*%(?%s*{(.-)}")
        if names then break end
      end
      local text = table.concat(lines, "\n")
      for n in (names or ""):gmatch("[\"']([%w_]+)[\"']") do
        checked = checked + 1
        if not text:find("@function%s+" .. n .. "%f[^%w_]") then
          miss(path, i, "_M." .. n .. " (made in a loop) has no doc comment with @function " .. n)
        end
      end
    end
  end
  -- a vendor table: data with operations
  local text = "\n" .. table.concat(lines, "\n")
  if text:find("\n%s*ops%s*=%s*{") and text:find("\nreturn%s*{") then
    local chunk = assert(loadfile(path))
    local ok, vendor = pcall(chunk)
    if ok and type(vendor) == "table" and type(vendor.ops) == "table" then check_vendor(path, lines, vendor) end
  end
end

local skip, paths = {}, {}
local i = 1
while i <= #arg do
  if arg[i] == "--skip" then
    skip[#skip + 1] = assert(arg[i + 1], "--skip needs a path")
    i = i + 1
  else
    paths[#paths + 1] = arg[i]
  end
  i = i + 1
end
if #paths == 0 then paths = { "lua/userapi" } end

local skipped = 0
for _, p in ipairs(paths) do
  local root = p:match("^(.*)/[^/]+/?$") or "."
  for _, f in ipairs(lua_files(p)) do
    local drop = false
    for _, s in ipairs(skip) do
      if f == s or f:sub(1, #s + 1) == s .. "/" then drop = true end
    end
    if drop then skipped = skipped + 1 else check_file(f, root) end
  end
end

for _, m in ipairs(misses) do io.stderr:write(m, "\n") end
print(("doccheck: %d public functions, %d operations, %d undocumented%s"):format(
  checked, ops_checked, #misses, skipped > 0 and (", " .. skipped .. " file(s) skipped") or ""))
os.exit(#misses == 0 and 0 or 1)
