/* URL pieces: RFC 3986 percent-encoding and query strings. */
#ifndef USERAPI_URL_H
#define USERAPI_URL_H

#include <stddef.h>
#include "buf.h"

#pragma GCC visibility push(hidden) /* only luaopen_* leaves core.so */

/* Appends s percent-encoded: only unreserved characters (ALPHA DIGIT - . _ ~)
 * stay as they are, so the result is safe as a path segment or query value. */
int ua_escape(ua_buf *b, const char *s, size_t n);
/* 1 when s is not empty and holds unreserved characters only: ua_escape
 * would leave it as it is. */
int ua_is_unreserved(const char *s, size_t n);
/* Appends "?k=v" or "&k=v", depending on whether b already holds a '?'. */
int ua_query_add(ua_buf *b, const char *k, size_t kn, const char *v, size_t vn);
/* Writes v in the shortest form that reads back as the same double (0.1 as
 * "0.1", 1e300 as "1e+300"), '.' as the decimal point whatever the locale.
 * out holds UA_NUMBER_MAX bytes; returns the length, or -1 for NaN and the
 * infinities, which have no place in a query. */
#define UA_NUMBER_MAX 32
int ua_format_number(char *out, double v);
/* 1 when s holds CR, LF or NUL: bytes that would split a header or a request line. */
int ua_splits_line(const char *s, size_t n);
/* 1 when s holds a control byte (0x00-0x1F or DEL: CR, LF, NUL, TAB, VT,
 * ESC...): never valid in a credential (token, key, login, password). */
int ua_has_control(const char *s, size_t n);
/* 1 when s holds any control byte or space: never valid in a URL. */
int ua_has_ctl_or_space(const char *s, size_t n);

#pragma GCC visibility pop

#endif
