-- userapi.json: which decoded {} was [] survives a round trip, wherever and
-- however the empty array is written (the quick "may hold one" test of
-- decode must never miss one, nor turn a string's "[]" into an array).
local json = require "userapi.json"

describe("json.decode", function()
  -- text, then each field (or the whole value) encoded again
  local cases = {
    { '[]', { '[]' } },
    { '[ ]', { '[]' } },
    { '[1,[2,[]]]', { '[1,[2,[]]]' } },
    { '{"a":[\n\t ],"b":{}}', { a = '[]', b = '{}' } },
    { '{"a":"[]","b":[ "[ ]" ]}', { a = '"[]"', b = '["[ ]"]' } },
    { '{"a":"\\"[","b":[]}', { a = '"\\"["', b = '[]' } },
    { '{"a":[1],"b":[{}]}', { a = '[1]', b = '[{}]' } },
    { '{"a":[\r],"b":["["]}', { a = '[]', b = '["["]' } },
  }
  for _, c in ipairs(cases) do
    it("keeps the arrays of " .. c[1], function()
      local v = assert(json.decode(c[1]))
      if c[2][1] then assert.equal(c[2][1], json.encode(v)) end
      for k, want in pairs(c[2]) do
        if k ~= 1 then assert.equal(want, json.encode(v[k])) end
      end
    end)
  end

  it("sends integers back as integers (42 reads as 42.0 on Lua 5.4 with Debian's cjson)", function()
    local v = assert(json.decode('{"a":42,"b":-7,"c":1.5,"d":0.1,"e":1700000000123}'))
    assert.equal(42, v.a)
    assert.equal('{"a":42,"b":-7,"c":1.5,"d":0.1,"e":1700000000123}',
      require("userapi.format").to_json(json.decode(assert(json.encode(v)))))
    for _, k in ipairs({ '"a":42', '"b":-7', '"c":1.5', '"d":0.1', '"e":1700000000123' }) do
      assert.truthy(json.encode(v):find(k, 1, true), k)
    end
    assert.equal("http://x/?a=42&e=1700000000123", require("userapi.core").url("http://x/", { a = v.a, e = v.e }))
  end)

  it("says why a text is not JSON, empty arrays or not", function()
    local v, err = json.decode('{"a":[],')
    assert.is_nil(v)
    assert.matches("Expected", err)
  end)
end)
