-- RFC 4180 parsing, whole and chunk by chunk.
local csv = require "userapi.csv"

local function rows_of(text, delimiter, step)
  local rows = {}
  local p = csv.parser(delimiter, function(f) rows[#rows + 1] = f end)
  if step then
    for i = 1, #text, step do p.feed(text:sub(i, i + step - 1)) end
  else
    p.feed(text)
  end
  p.finish()
  return rows
end

describe("csv", function()
  local text = 'a,b,c\r\n"x, y","say ""hi""","line1\nline2"\r\nplain,,"" \r\nlast,row,"q"'
  local expected = { { "a", "b", "c" }, { "x, y", 'say "hi"', "line1\nline2" }, { "plain", "", " " },
                     { "last", "row", "q" } }

  it("parses quotes, doubled quotes, embedded delimiters and newlines, CRLF and a last line without newline", function()
    -- the third row's last field is `"" ` : an empty quoted field then a space is not RFC; we read it leniently
    assert.same(expected, rows_of(text))
  end)

  it("reads text after a closing quote, a field left open at the end, and a last empty field", function()
    assert.same({ { "ab c", "d" } }, rows_of('"ab" c,d\n'))
    assert.same({ { "a", "open\nfield" } }, rows_of('a,"open\nfield'))
    assert.same({ { "a", "" } }, rows_of("a,"))
    assert.same({ { "a" }, { "b" } }, rows_of("a\n\n\r\nb\n"))
  end)

  it("gives the same rows whatever the chunk boundaries", function()
    local whole = rows_of(text)
    for step = 1, #text do assert.same(whole, rows_of(text, nil, step)) end
  end)

  it("uses a one-character delimiter, including regex-special ones", function()
    assert.same({ { "a", "b;c" }, { "1", "2" } }, rows_of('a|"b;c"\n1|2\n', "|"))
    assert.same({ { "a", "b" } }, rows_of("a.b\n", "."))
    assert.same({ { "a", "b" } }, rows_of("a%b\n", "%"))
  end)

  it("keys records by the header and splits groups and permissions on ';'", function()
    local rows = csv.parse("username,groups,permissions,email\r\nada,A;B,,ada@x\r\n")
    assert.same({ { username = "ada", groups = { "A", "B" }, permissions = {}, email = "ada@x" } }, rows)
  end)

  describe("max_row_bytes", function()
    local function parser(limit)
      local rows = {}
      return csv.parser(",", function(f) rows[#rows + 1] = f end, limit), rows
    end

    it("takes a row of exactly max_row_bytes, line end included, and refuses one byte more", function()
      local p, rows = parser(10)
      assert.is_true(p.feed("abcd,efg\r\n"))
      assert.same({ { "abcd", "efg" } }, rows)
      assert.same({ nil, "a CSV row is longer than max_row_bytes (10)" }, { p.feed("abcd,efgh\r\n") })
      assert.equal(1, #rows)
    end)

    it("counts a row across chunks, unquoted or inside an open quote", function()
      for _, start in ipairs{ "a,", 'a,"' } do
        local p = parser(64)
        assert.is_true(p.feed(start))
        local ok, err
        for _ = 1, 100 do
          ok, err = p.feed("xxxxxxxx")
          if not ok then break end
        end
        assert.is_nil(ok)
        assert.matches("max_row_bytes %(64%)", err)
        -- and stays failed
        assert.is_nil((p.feed("\n")))
        assert.is_nil((p.finish()))
      end
    end)

    it("gives the rows before the long one in the same chunk", function()
      local p, rows = parser(8)
      assert.is_nil((p.feed("a,b\nc,d\n0123456789\ne\n")))
      assert.same({ { "a", "b" }, { "c", "d" } }, rows)
    end)
  end)
end)
