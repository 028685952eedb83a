/* A growable byte buffer with a hard limit checked at growth: the one place
 * where response bodies, headers and URLs accumulate. */
#ifndef USERAPI_BUF_H
#define USERAPI_BUF_H

#include <stddef.h>

#pragma GCC visibility push(hidden) /* only luaopen_* leaves core.so */

typedef struct ua_buf {
  char *data;
  size_t len, cap, limit; /* limit 0 means unlimited */
  int secret;             /* wipe the bytes before every free and realloc */
} ua_buf;

void ua_buf_init(ua_buf *b, size_t limit);
/* Marks b as holding secrets (a credential, a URL with an API key): its
 * memory is wiped before it is freed, or moved when it grows. */
void ua_buf_secret(ua_buf *b);
/* Frees the memory; b stays usable, empty, with its limit and secrecy. */
void ua_buf_free(ua_buf *b);
/* Wipes the bytes before freeing, secret or not. */
void ua_buf_free_secret(ua_buf *b);
void ua_buf_reset(ua_buf *b);
/* Returns 0 on success, -1 when the limit would be passed or memory ran out;
 * the buffer is left unchanged on failure. */
int ua_buf_add(ua_buf *b, const void *p, size_t n);
int ua_buf_addstr(ua_buf *b, const char *s);
int ua_buf_addc(ua_buf *b, char c);
/* NUL-terminates without counting the NUL in len; -1 on failure. */
int ua_buf_cstr(ua_buf *b);
void ua_wipe(void *p, size_t n);

#pragma GCC visibility pop

#endif
