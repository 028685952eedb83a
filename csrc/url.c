#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

int ua_is_unreserved(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (!unreserved((unsigned char)s[i])) return 0;
  return n > 0;
}

int ua_escape(ua_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (unreserved(c)) {
      if (ua_buf_addc(b, (char)c)) return -1;
    } else {
      char e[3];
      e[0] = '%';
      e[1] = hex[c >> 4];
      e[2] = hex[c & 15];
      if (ua_buf_add(b, e, 3)) return -1;
    }
  }
  return 0;
}

int ua_query_add(ua_buf *b, const char *k, size_t kn, const char *v, size_t vn) {
  char sep = (b->len && memchr(b->data, '?', b->len)) ? '&' : '?';
  if (ua_buf_addc(b, sep) || ua_escape(b, k, kn) || ua_buf_addc(b, '=')) return -1;
  return ua_escape(b, v, vn);
}

int ua_format_number(char *out, double v) {
  int prec, n = 0;
  size_t i;
  if (!isfinite(v)) return -1;
  /* 17 significant digits always round-trip; most numbers need fewer */
  for (prec = 1; prec <= 17; prec++) {
    n = snprintf(out, UA_NUMBER_MAX, "%.*g", prec, v);
    if (strtod(out, NULL) == v) break;
  }
  for (i = 0; i < (size_t)n; i++) /* a locale's decimal comma */
    if (out[i] != '-' && out[i] != '+' && out[i] != 'e' && (out[i] < '0' || out[i] > '9')) out[i] = '.';
  return n;
}

int ua_splits_line(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 1;
  return 0;
}

int ua_has_control(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 1;
  return 0;
}

int ua_has_ctl_or_space(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f) return 1;
  return 0;
}
