/* Authorization values of the four vendors, built once per session. */
#ifndef USERAPI_AUTH_H
#define USERAPI_AUTH_H

#include <stddef.h>
#include "buf.h"

#pragma GCC visibility push(hidden) /* only luaopen_* leaves core.so */

typedef enum { UA_AUTH_NONE, UA_AUTH_BASIC, UA_AUTH_BEARER, UA_AUTH_APIKEY_HEADER,
               UA_AUTH_APIKEY_QUERY } ua_auth_scheme;

/* Basic: "Authorization: Basic base64(user:pass)". */
int ua_auth_basic(ua_buf *b, const char *user, size_t un, const char *pass, size_t pn);
/* Bearer and Apikey: "Authorization: <scheme> <secret>". */
int ua_auth_token(ua_buf *b, const char *scheme, const char *secret, size_t n);

#pragma GCC visibility pop

#endif
