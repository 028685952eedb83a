-- userapi rotate as operators run it: bin/userapi as a real subprocess
-- against the simulator; the wire, the secrets file (0600, exclusive), the
-- terminal refused, and a run killed during a rotation never rotating twice.
local h = require "spec.cli_helper"
local cjson, sim, proc = h.cjson, h.sim, h.proc
local base64 = require "spec.base64"

local SA = "00000000-0000-4000-8000-000000000004"      -- Arthur's service account "userapi automation"
local PERSON = "00000000-0000-4000-8000-000000000002"  -- Arthur's Ada: a person

setup(h.build_command)
before_each(function() sim.reset() end)

local CONFIG = h.config_file("rotate-config", ("[default.arthur]\nbase_url = %s\n[default.sigfox]\nbase_url = %s\n")
  :format(sim.base.arthur, sim.base.sigfox))

local function userapi(argv, env)
  local e = { USERAPI_CONFIG = CONFIG }
  for k, v in pairs(env or {}) do e[k] = v end
  return h.userapi(argv, e)
end

local function fresh(name)
  local path = proc.tmpdir() .. "/" .. name
  os.remove(path)
  return path
end

local function mode_of(path)
  local p = io.popen("stat -c %a " .. proc.quote(path))
  local m = p:read("*l")
  p:close()
  return m
end

local function sent(method, path)
  local n = 0
  for _, r in ipairs(sim.requests()) do if r.method == method and r.path == path then n = n + 1 end end
  return n
end

local RENEW = "/sigfox/v2/api-users/" .. h.SIGFOX_ADA .. "/renew-credential"
local CREDS = "/arthur/api/v1/users/" .. SA .. "/credentials"

describe("userapi rotate", function()
  it("renews the Sigfox token and the Arthur secret, each tried, into a new 0600 file", function()
    local out = fresh("secrets.jsonl")
    local r = userapi({ "rotate", "sigfox:ada@example.com automation", "arthur:userapi automation", "--out", out })
    assert.equal(0, r.code, r.err)
    assert.equal("", r.out)
    assert.equal("600", mode_of(out))
    local lines = h.jsonl(proc.slurp(out))
    assert.equal(2, #lines)
    local sig, art = lines[1], lines[2]
    assert.same({ "sigfox", h.SIGFOX_ADA, h.SIGFOX_ADA, true }, { sig.vendor, sig.id, sig.login, sig.verified })
    assert.same({ "arthur", SA, "arthur-client", true }, { art.vendor, art.id, art.client_id, art.verified })
    assert.equal(48, #art.client_secret)
    -- the wire: one renewal each, then a read with the new credential alone
    assert.equal(1, sent("PUT", RENEW))
    assert.equal(1, sent("POST", CREDS))
    local checked
    for _, req in ipairs(sim.requests()) do
      if req.method == "GET" and req.path == "/sigfox/v2/api-users/" .. h.SIGFOX_ADA then
        checked = req.headers.authorization
      end
    end
    assert.equal("Basic " .. base64(h.SIGFOX_ADA .. ":" .. sig.password), checked)
    assert.truthy(r.err:find("sigfox:" .. h.SIGFOX_ADA .. ": rotated and verified (" .. out .. ")", 1, true), r.err)
    -- the new Arthur secret works, the old one no longer does
    local function arthur(secret)
      return require("userapi").arthur{ base_url = sim.base.arthur, retries = false, client_id = "arthur-client",
                                        client_secret = secret }
    end
    assert.equal(SA, arthur(art.client_secret):get_users_me().id)
    assert.is_nil((arthur("arthur-secret"):get_users_me()))
  end)

  it("to stdout when it is not a terminal; a terminal, an existing --out: exit 2, nothing sent", function()
    local r = userapi({ "rotate", "sigfox:" .. h.SIGFOX_ADA })
    assert.equal(0, r.code, r.err)
    assert.equal(h.SIGFOX_ADA, h.jsonl(r.out)[1].login)
    sim.reset()
    local code, out, err = h.run({ "rotate", "sigfox:" .. h.SIGFOX_ADA }, { tty = "stdout" })
    assert.equal(2, code)
    assert.equal("", out)
    assert.truthy(err:find("the new secrets would show on the terminal: give --out FILE", 1, true), err)
    local existing = proc.file("already.jsonl", "keep me\n")
    r = userapi({ "rotate", "sigfox:" .. h.SIGFOX_ADA, "--out", existing })
    assert.equal(2, r.code)
    assert.truthy(r.err:find("exists: secrets never overwrite a file", 1, true), r.err)
    assert.equal("keep me\n", proc.slurp(existing))
    local link = fresh("secrets-link")
    os.execute("ln -s " .. proc.quote(fresh("elsewhere")) .. " " .. proc.quote(link))
    assert.equal(2, userapi({ "rotate", "sigfox:" .. h.SIGFOX_ADA, "--out", link }).code)
    for _, argv in ipairs({ { "rotate", "kandji:" .. h.ADA }, { "rotate", "sigfox" }, { "rotate" },
                            { "rotate", "sigfx:x" } }) do
      assert.equal(2, userapi(argv).code, table.concat(argv, " "))
    end
    assert.equal(0, #sim.requests())
  end)

  it("a stdout that cannot be written (/dev/full): said with the account rotated, nothing more rotated, exit 1",
    function()
    local env = { USERAPI_CONFIG = CONFIG }
    for k, v in pairs(h.ENV) do env[k] = v end
    env.HOME = nil
    local r = proc.run(nil, env, nil, "sh -c " .. proc.quote("bin/userapi rotate sigfox:" .. h.SIGFOX_ADA
      .. " 'arthur:userapi automation' >/dev/full"))
    assert.equal(1, r.code, r.err)
    assert.truthy(r.err:find("userapi: rotate sigfox:" .. h.SIGFOX_ADA .. ": rotated (the old credential no "
      .. "longer works), but its new secret could not be written to stdout: No space left on device", 1, true), r.err)
    assert.equal(1, sent("PUT", RENEW))
    assert.equal(0, sent("POST", CREDS))   -- the next account is left as it was
  end)

  it("a name the vendor refuses as an id (422) is looked up by name", function()
    sim.fault{ match = { vendor = "arthur", query = "user_ids=userapi" }, status = 422 }
    local r = userapi({ "rotate", "arthur:userapi automation" })
    assert.equal(0, r.code, r.err)
    assert.equal(SA, h.jsonl(r.out)[1].id)
    assert.equal(1, sent("POST", CREDS))
  end)

  it("never a person's credentials; an unknown account: exit 1, no renewal sent", function()
    local r = userapi({ "rotate", "arthur:" .. PERSON, "sigfox:nobody automation" })
    assert.equal(1, r.code)
    assert.truthy(r.err:find(PERSON .. " is a user, not a service_account", 1, true), r.err)
    assert.truthy(r.err:find("no api_user with id or name 'nobody automation'", 1, true), r.err)
    for _, req in ipairs(sim.requests()) do assert.equal("GET", req.method) end
  end)

  it("--journal: a run killed during a rotation is in doubt on the rerun (exit 1, not rotated again); "
    .. "--force rotates it", function()
    local journal = fresh("rotate.journal")
    -- by name: the lookup does not read the API user the way the check does
    local argv = { "rotate", "arthur:userapi automation", "sigfox:ada@example.com automation", "--journal", journal }
    -- the check of Sigfox's new token is answered slowly: the run is killed once it is sent
    local check = "/sigfox/v2/api-users/" .. h.SIGFOX_ADA
    sim.fault{ match = { method = "GET", path = check, vendor = "sigfox" }, delay_ms = 10000 }
    local dir = proc.tmpdir()
    local vars = { "PATH=" .. proc.quote(os.getenv("PATH")), "HOME=/nonexistent", "USERAPI_CONFIG=" .. CONFIG }
    for k, v in pairs(h.ENV) do if k ~= "HOME" then vars[#vars + 1] = k .. "=" .. proc.quote(v) end end
    local words = {}
    for i, a in ipairs(argv) do words[i] = proc.quote(a) end
    words[#words + 1] = "--out " .. proc.quote(fresh("first.jsonl"))
    local p = io.popen(("cd %s && exec env -i %s bin/userapi %s >%s/rot.out 2>%s/rot.err </dev/null & echo $!"):format(
      proc.quote(proc.root), table.concat(vars, " "), table.concat(words, " "), dir, dir))
    local pid = p:read("*l")
    p:close()
    local seen = false
    for _ = 1, 400 do
      if sent("PUT", RENEW) == 1 and sent("GET", check) >= 1 then seen = true break end
      require("userapi.core").sleep(25)
    end
    assert.is_true(seen)
    os.execute("kill -9 " .. pid)
    sim.control("DELETE", "faults")
    -- the Arthur one was done and its secret kept
    assert.equal(1, #h.jsonl(proc.slurp(dir .. "/first.jsonl")))
    argv[#argv + 1], argv[#argv + 2] = "--out", fresh("second.jsonl")
    local r = userapi(argv)
    assert.equal(1, r.code)
    assert.truthy(r.err:find("arthur:" .. SA .. ": rotated by an earlier run (resumed)", 1, true), r.err)
    assert.truthy(r.err:find("sigfox:" .. h.SIGFOX_ADA .. ": in doubt", 1, true), r.err)
    assert.truthy(r.err:find("userapi rotate sigfox:" .. h.SIGFOX_ADA .. " --journal " .. journal .. " --force", 1,
      true), r.err)
    assert.equal(1, sent("PUT", RENEW))
    assert.equal(1, sent("POST", CREDS))
    assert.equal("", proc.slurp(argv[#argv]))
    argv[#argv] = fresh("third.jsonl")
    argv[#argv + 1] = "--force"
    r = userapi(argv)
    assert.equal(0, r.code, r.err)
    assert.equal(2, sent("PUT", RENEW))
    assert.equal(1, sent("POST", CREDS))
    local rec = cjson.decode(proc.slurp(argv[#argv - 1]))
    assert.same({ "sigfox", true }, { rec.vendor, rec.verified })
    -- the journal holds no secret
    local text = proc.slurp(journal)
    assert.falsy(text:find(rec.password, 1, true))
    assert.equal("600", mode_of(journal))
  end)
end)
