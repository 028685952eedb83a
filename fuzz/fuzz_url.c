/* libFuzzer target: percent-encoding, query building and the CR/LF/NUL and
 * control-byte checks of csrc/url.c.
 *   escape: only unreserved bytes and %XX (upper-case hex) come out, each
 *           input byte gives 1 or 3 bytes, and decoding gives the input back;
 *   query:  "?k=v" or "&k=v" is appended after an untouched prefix, '&'
 *           exactly when the prefix holds a '?', and both halves decode back;
 *   limit:  a bounded buffer never grows past its limit, and a failed append
 *           leaves what was there;
 *   checks: ua_splits_line, ua_has_control and ua_has_ctl_or_space agree with a
 *           byte-by-byte reading, each refusing all the previous one does;
 *   number: ua_format_number refuses NaN and the infinities, and writes any
 *           other double in at most 24 bytes of [0-9.e+-] that read back as
 *           the same double (the first 8 input bytes, as a double);
 *   secret: a buffer marked secret (grown by copy and wipe, not realloc)
 *           holds exactly what was appended. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "url.h"
#include "check.h"

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

/* Decodes the escaped s[0..n) into out, checking its alphabet; returns the
 * decoded length. */
static size_t decode(const char *s, size_t n, unsigned char *out) {
  size_t i = 0, o = 0;
  while (i < n) {
    if (s[i] == '%') {
      int hi, lo;
      CHECK(i + 2 < n);
      hi = hexval(s[i + 1]);
      lo = hexval(s[i + 2]);
      CHECK(hi >= 0 && lo >= 0);
      /* an unreserved byte is never escaped */
      CHECK(!unreserved((unsigned char)(hi * 16 + lo)));
      out[o++] = (unsigned char)(hi * 16 + lo);
      i += 3;
    } else {
      CHECK(unreserved((unsigned char)s[i]));
      out[o++] = (unsigned char)s[i++];
    }
  }
  return o;
}

static void check_escape(const uint8_t *data, size_t size) {
  ua_buf b;
  unsigned char *back = malloc(size + 1);
  size_t i, expect = 0;
  CHECK(back != NULL);
  ua_buf_init(&b, 0);
  CHECK(ua_escape(&b, (const char *)data, size) == 0);
  for (i = 0; i < size; i++) expect += unreserved(data[i]) ? 1 : 3;
  CHECK(b.len == expect);
  CHECK(decode(b.data, b.len, back) == size);
  CHECK(size == 0 || memcmp(back, data, size) == 0);
  free(back);
  ua_buf_free(&b);
}

static void check_query(const uint8_t *data, size_t size) {
  static const char *prefixes[] = { "", "http://h/p", "http://h/p?a=1", "?" };
  const char *prefix;
  size_t kn, vn, plen, i;
  const char *k, *v, *eq;
  unsigned char *back;
  ua_buf b;
  if (size < 2) return;
  prefix = prefixes[data[0] & 3];
  kn = data[1] % (size - 1);
  k = (const char *)data + 2;
  if (kn > size - 2) kn = size - 2;
  v = k + kn;
  vn = size - 2 - kn;
  plen = strlen(prefix);
  ua_buf_init(&b, 0);
  CHECK(ua_buf_addstr(&b, prefix) == 0);
  CHECK(ua_query_add(&b, k, kn, v, vn) == 0);
  CHECK(b.len > plen);
  CHECK(memcmp(b.data, prefix, plen) == 0);
  CHECK(b.data[plen] == (strchr(prefix, '?') ? '&' : '?'));
  /* the escaped key holds no '=', so the first '=' after the separator splits */
  eq = memchr(b.data + plen + 1, '=', b.len - plen - 1);
  CHECK(eq != NULL);
  back = malloc(size + 1);
  CHECK(back != NULL);
  CHECK(decode(b.data + plen + 1, (size_t)(eq - (b.data + plen + 1)), back) == kn);
  CHECK(kn == 0 || memcmp(back, k, kn) == 0);
  CHECK(decode(eq + 1, (size_t)(b.data + b.len - (eq + 1)), back) == vn);
  CHECK(vn == 0 || memcmp(back, v, vn) == 0);
  for (i = plen + 1; i < b.len; i++) CHECK(b.data[i] != '&' && b.data[i] != '?' && b.data[i] != '#');
  free(back);
  ua_buf_free(&b);
}

static void check_limit(const uint8_t *data, size_t size) {
  ua_buf b;
  size_t limit, before;
  if (size < 1) return;
  limit = (size_t)data[0] * 2;
  ua_buf_init(&b, limit);
  CHECK(ua_buf_add(&b, "x", 1) == 0); /* limit 0 is unlimited; 2 and up fit one byte */
  before = b.len;
  if (ua_escape(&b, (const char *)data + 1, size - 1) != 0) {
    /* failed: never past the limit, the first byte still there */
    CHECK(limit != 0);
    CHECK(b.len <= limit);
    CHECK(b.len >= before && b.data[0] == 'x');
  }
  if (limit) CHECK(b.len <= limit);
  CHECK(b.cap == 0 || b.len < b.cap); /* room for the NUL of ua_buf_cstr */
  CHECK(ua_buf_cstr(&b) == 0 && b.data[b.len] == '\0');
  ua_buf_free(&b);
}

static void check_scans(const uint8_t *data, size_t size) {
  int crlf = 0, control = 0, ctl = 0;
  size_t i;
  for (i = 0; i < size; i++) {
    if (data[i] == '\r' || data[i] == '\n' || data[i] == '\0') crlf = 1;
    if (data[i] < 0x20 || data[i] == 0x7f) control = 1;
    if (data[i] <= 0x20 || data[i] == 0x7f) ctl = 1;
  }
  CHECK(ua_splits_line((const char *)data, size) == crlf);
  CHECK(ua_has_control((const char *)data, size) == control);
  CHECK(ua_has_ctl_or_space((const char *)data, size) == ctl);
  /* each check refuses all that the narrower one does */
  CHECK(!crlf || control);
  CHECK(!control || ctl);
}

static void check_number(const uint8_t *data, size_t size) {
  char out[UA_NUMBER_MAX];
  double v;
  int n, i;
  if (size < sizeof v) return;
  memcpy(&v, data, sizeof v);
  n = ua_format_number(out, v);
  if (!isfinite(v)) {
    CHECK(n == -1);
    return;
  }
  CHECK(n > 0 && n <= 24);
  for (i = 0; i < n; i++) CHECK(strchr("0123456789.e+-", out[i]) != NULL);
  CHECK(out[n] == '\0');
  CHECK(strtod(out, NULL) == v);
}

static void check_secret(const uint8_t *data, size_t size) {
  ua_buf b;
  size_t i, step = size ? (size_t)data[0] % 7 + 1 : 1;
  ua_buf_init(&b, 0);
  ua_buf_secret(&b);
  for (i = 0; i < size; i += step)
    CHECK(ua_buf_add(&b, data + i, i + step <= size ? step : size - i) == 0);
  CHECK(b.len == size);
  CHECK(size == 0 || memcmp(b.data, data, size) == 0);
  ua_buf_free(&b);
  CHECK(b.data == NULL && b.len == 0 && b.secret);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_escape(data, size);
  check_query(data, size);
  check_limit(data, size);
  check_scans(data, size);
  check_number(data, size);
  check_secret(data, size);
  return 0;
}
