/* The connection, DNS and TLS caches of a session and its multis (a curl
 * share handle), and what keeps them from crossing a fork. */
#ifndef USERAPI_POOL_H
#define USERAPI_POOL_H

#include <sys/types.h>
#include <curl/curl.h>

#pragma GCC visibility push(hidden) /* only luaopen_* leaves core.so */

typedef struct ua_pool {
  CURLSH *share;
  int refs; /* the session and each of its multis; freed when the last lets go */
} ua_pool;

/* A pool with one reference, or NULL when curl cannot make one. */
ua_pool *ua_pool_new(void);
/* Drops one reference; NULL is ignored. */
void ua_pool_release(ua_pool *p);

/* 1 when the calling process is not made_by: it is a child, forked after
 * the curl handles recorded with that pid were made (see pool.c). */
int ua_inherited(pid_t made_by);

#pragma GCC visibility pop

#endif
