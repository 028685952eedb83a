-- What the Lua property fuzzers share (fuzz/csv.lua, fuzz/redact.lua): the
-- command line `[seconds=20] [seed=os.time()]`, the seeded generator, the
-- case count, a failure that names the seed, and the loop that runs cases
-- until the time is up.
local harness = {}

--- A fuzzer named `name`, its generator seeded from the command line.
-- Fields: `seconds`, `seed`, `cases` (the cases passed so far).
function harness.new(name)
  local self = { name = name, seconds = tonumber(arg[1]) or 20, seed = tonumber(arg[2]) or os.time(), cases = 0 }
  math.randomseed(self.seed)

  --- Prints the failure, the seed that replays it and `lines` (indented); exits 1.
  function self.fail(what, lines)
    print(("fuzz %s: FAILED (%s) seed %d after %d cases"):format(name, what, self.seed, self.cases))
    for _, l in ipairs(lines) do print("  " .. l) end
    os.exit(1)
  end

  --- Runs `check_case` in batches of `batch` until the time is up, counting
  -- each one that returns; prints the total.
  function self.run(check_case, batch)
    local deadline = os.clock() + self.seconds
    repeat
      for _ = 1, batch do
        check_case()
        self.cases = self.cases + 1
      end
    until os.clock() >= deadline
    print(("fuzz %s: %d cases in %d s, seed %d: ok"):format(name, self.cases, self.seconds, self.seed))
  end

  return self
end

return harness
