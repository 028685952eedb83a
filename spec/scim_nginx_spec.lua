-- The bridge does not block its worker: with one nginx worker, a SCIM request
-- waiting on a slow vendor leaves the worker free to answer others.
local core = require "userapi.core"
local sim = require "spec.helper"
local bridge = require "spec.scim.bridge"

describe("the SCIM bridge in one nginx worker #nginx", function()
  it("answers 10 requests while one waits 1 s on its vendor", function()
    bridge.empty()
    local b = bridge.start(1)
    local ok, err = pcall(function()
      sim.fault{ match = { vendor = "ods", op = "get_users" }, delay_ms = 1000 }
      local m = b.session:multi()
      local t0 = core.now()
      local slow = m:add{ method = "GET", url = b.url .. "/scim/v2/opendatasoft/Users",
                          headers = { Authorization = "Bearer " .. bridge.TOKEN } }
      assert.same({}, m:wait(100)) -- sent, and waiting inside the worker
      for _ = 1, 10 do assert.equal(200, (b.request("GET", "kandji/Users?count=0"))) end
      local fast_done = core.now() - t0
      local slow_status
      while not slow_status do
        for _, r in ipairs(m:wait(3000)) do if r.id == slow then slow_status = r.status end end
      end
      local slow_done = core.now() - t0
      m:close()
      assert.equal(200, slow_status)
      assert.is_true(slow_done >= 1000, "the slow request took " .. slow_done .. " ms")
      assert.is_true(fast_done < slow_done, "the 10 requests waited for the slow one")
    end)
    b.stop()
    assert(ok, err)
  end)
end)
