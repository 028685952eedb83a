/* libFuzzer target: the Authorization values of csrc/auth.c.
 *   basic: "Authorization: Basic " then base64 of user ":" password, which
 *          decodes back to exactly that, in canonical padded form;
 *   token: "Authorization: <scheme> <secret>" byte for byte;
 *   both are NUL-terminated after len, and fail cleanly (-1, no overrun)
 *   when the buffer's limit is too small. */
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "auth.h"
#include "check.h"

static int b64val(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Decodes padded base64, checking the alphabet and the padding; returns the length. */
static size_t unbase64(const char *s, size_t n, unsigned char *out) {
  size_t i, o = 0;
  CHECK(n % 4 == 0);
  for (i = 0; i < n; i += 4) {
    int last = i + 4 == n;
    int a = b64val(s[i]), b = b64val(s[i + 1]), c, d;
    CHECK(a >= 0 && b >= 0);
    out[o++] = (unsigned char)(a << 2 | b >> 4);
    if (last && s[i + 2] == '=') {
      CHECK(s[i + 3] == '=');
      CHECK((b & 15) == 0); /* canonical: unused bits are zero */
      break;
    }
    c = b64val(s[i + 2]);
    CHECK(c >= 0);
    out[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
    if (last && s[i + 3] == '=') {
      CHECK((c & 3) == 0);
      break;
    }
    d = b64val(s[i + 3]);
    CHECK(d >= 0);
    out[o++] = (unsigned char)((c & 3) << 6 | d);
  }
  return o;
}

static void check_basic(const uint8_t *data, size_t size) {
  static const char head[] = "Authorization: Basic ";
  size_t hn = sizeof head - 1, un, pn, n;
  const char *user, *pass;
  unsigned char *back;
  ua_buf b;
  if (size < 1) return;
  un = data[0] % size;
  user = (const char *)data + 1;
  if (un > size - 1) un = size - 1;
  pass = user + un;
  pn = size - 1 - un;
  ua_buf_init(&b, 0);
  CHECK(ua_auth_basic(&b, user, un, pass, pn) == 0);
  n = un + 1 + pn;
  CHECK(b.len == hn + (n + 2) / 3 * 4);
  CHECK(memcmp(b.data, head, hn) == 0);
  CHECK(b.data[b.len] == '\0');
  back = malloc(n + 3);
  CHECK(back != NULL);
  CHECK(unbase64(b.data + hn, b.len - hn, back) == n);
  CHECK(un == 0 || memcmp(back, user, un) == 0);
  CHECK(back[un] == ':');
  CHECK(pn == 0 || memcmp(back + un + 1, pass, pn) == 0);
  free(back);
  ua_buf_free(&b);
  /* too small a buffer: refused, within its limit */
  ua_buf_init(&b, hn + (n + 2) / 3 * 4 - 1);
  CHECK(ua_auth_basic(&b, user, un, pass, pn) == -1);
  CHECK(b.len <= b.limit);
  ua_buf_free(&b);
}

static void check_token(const uint8_t *data, size_t size) {
  const char *scheme = size && (data[0] & 1) ? "Apikey" : "Bearer";
  const char *secret = size ? (const char *)data + 1 : "";
  size_t sn = size ? size - 1 : 0, want = strlen("Authorization: ") + strlen(scheme) + 1 + sn;
  ua_buf b;
  ua_buf_init(&b, 0);
  CHECK(ua_auth_token(&b, scheme, secret, sn) == 0);
  CHECK(b.len == want);
  CHECK(memcmp(b.data, "Authorization: ", 15) == 0);
  CHECK(memcmp(b.data + 15, scheme, 6) == 0 && b.data[21] == ' ');
  CHECK(sn == 0 || memcmp(b.data + 22, secret, sn) == 0);
  CHECK(b.data[b.len] == '\0');
  ua_buf_free_secret(&b);
  CHECK(b.data == NULL && b.len == 0);
  ua_buf_init(&b, want - 1);
  CHECK(ua_auth_token(&b, scheme, secret, sn) == -1);
  CHECK(b.len <= b.limit);
  ua_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_basic(data, size);
  check_token(data, size);
  return 0;
}
