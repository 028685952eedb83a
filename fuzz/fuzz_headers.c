/* libFuzzer target: ua_header_next (csrc/transfer.c), the parser of raw
 * response header blocks as servers send them.
 *   every name and value span lies inside the input;
 *   a name is non-empty and holds no ':' or LF; a value holds no LF, starts
 *   with no space or tab and ends with no CR, space or tab;
 *   the position only moves forward, the walk ends, and it yields exactly the
 *   lines after the first that have a ':' past their first byte, in order. */
#include <stdint.h>
#include <string.h>

#include "transfer.h"
#include "check.h"

/* The reference: the start of each line after the first with a ':' past its first byte. */
static size_t expected_lines(const char *h, size_t len, size_t *starts, size_t max) {
  const char *nl = memchr(h, '\n', len);
  size_t pos, count = 0;
  if (!nl) return 0;
  pos = (size_t)(nl - h) + 1;
  while (pos < len) {
    const char *eol = memchr(h + pos, '\n', len - pos);
    size_t end = eol ? (size_t)(eol - h) : len;
    const char *colon = memchr(h + pos, ':', end - pos);
    if (colon && colon != h + pos && count < max) starts[count++] = pos;
    pos = end + 1;
  }
  return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *h = (const char *)data;
  size_t pos = 0, last = 0, n = 0, want;
  size_t *starts = malloc((size + 1) * sizeof *starts);
  ua_span name, value;
  CHECK(starts != NULL);
  want = expected_lines(h, size, starts, size + 1);
  while (ua_header_next(h, size, &pos, &name, &value)) {
    CHECK(n < want);
    CHECK(pos > last && pos <= size);
    last = pos;
    CHECK(name.p == h + starts[n]);
    CHECK(name.n > 0);
    CHECK(name.p >= h && name.p + name.n <= h + size);
    CHECK(value.p >= h && value.p + value.n <= h + size);
    CHECK(value.p > name.p + name.n); /* past the colon */
    CHECK(name.p[name.n] == ':');
    CHECK(!memchr(name.p, ':', name.n) && !memchr(name.p, '\n', name.n));
    CHECK(!memchr(value.p, '\n', value.n));
    if (value.n) {
      CHECK(value.p[0] != ' ' && value.p[0] != '\t');
      CHECK(value.p[value.n - 1] != '\r' && value.p[value.n - 1] != ' ' && value.p[value.n - 1] != '\t');
    }
    n++;
  }
  CHECK(n == want);
  /* at the end it stays at the end */
  CHECK(ua_header_next(h, size, &pos, &name, &value) == 0);
  free(starts);
  return 0;
}
