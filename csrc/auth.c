#include <string.h>

#include "auth.h"

static int base64(ua_buf *b, const unsigned char *s, size_t n) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i;
  for (i = 0; i + 2 < n; i += 3) {
    char o[4] = { tab[s[i] >> 2], tab[((s[i] & 3) << 4) | (s[i + 1] >> 4)],
                  tab[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)], tab[s[i + 2] & 63] };
    if (ua_buf_add(b, o, 4)) return -1;
  }
  if (n - i == 1) {
    char o[4] = { tab[s[i] >> 2], tab[(s[i] & 3) << 4], '=', '=' };
    return ua_buf_add(b, o, 4);
  }
  if (n - i == 2) {
    char o[4] = { tab[s[i] >> 2], tab[((s[i] & 3) << 4) | (s[i + 1] >> 4)],
                  tab[(s[i + 1] & 15) << 2], '=' };
    return ua_buf_add(b, o, 4);
  }
  return 0;
}

int ua_auth_basic(ua_buf *b, const char *user, size_t un, const char *pass, size_t pn) {
  ua_buf pair;
  int rc;
  ua_buf_init(&pair, 0);
  ua_buf_secret(&pair);
  rc = ua_buf_add(&pair, user, un) || ua_buf_addc(&pair, ':') || ua_buf_add(&pair, pass, pn) ||
       ua_buf_addstr(b, "Authorization: Basic ") ||
       base64(b, (const unsigned char *)pair.data, pair.len) || ua_buf_cstr(b);
  ua_buf_free_secret(&pair);
  return rc ? -1 : 0;
}

int ua_auth_token(ua_buf *b, const char *scheme, const char *secret, size_t n) {
  if (ua_buf_addstr(b, "Authorization: ") || ua_buf_addstr(b, scheme) || ua_buf_addc(b, ' ') ||
      ua_buf_add(b, secret, n) || ua_buf_cstr(b))
    return -1;
  return 0;
}
