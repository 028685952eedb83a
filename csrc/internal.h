/* What the files of the Lua binding share, and nothing outside core.so
 * sees (core.h is the module's own header). The layers, each calling only
 * those below it:
 *   core.c      the module: luaopen, core.escape/url/sleep/now
 *   multi.c     userapi.multi: many transfers at once, streams
 *   session.c   userapi.session: options, auth, the blocking request
 *   request.c   a request table read into a ua_transfer, raising on bad input
 *   response.c  status, body and headers pushed as Lua values
 *   errors.c    the error tables returned as nil, err
 *   os.c        core.fsync, stat, geteuid, umask, isatty, die_of_sigpipe
 *   binding.c   a class's metatable, raw option reads, scratch buffers
 * and, free of lua_State: pool.c (curl share, fork), transfer.c (one HTTP
 * exchange), auth.c, url.c, buf.c. */
#ifndef USERAPI_INTERNAL_H
#define USERAPI_INTERNAL_H

#include <sys/types.h>
#include <curl/curl.h>

#include "core.h"
#include "compat.h"
#include "binding.h"
#include "buf.h"
#include "auth.h"
#include "pool.h"
#include "transfer.h"

#pragma GCC visibility push(hidden) /* only luaopen_* leaves core.so */

#define SESSION_MT "userapi.session"
#define MULTI_MT "userapi.multi"
#define ERROR_MT "userapi.core.error"

typedef struct session {
  ua_pool *pool;
  CURL *easy;
  ua_transfer xfer; /* owned here so a raised argument error cannot leak it */
  ua_opts opts;
  ua_auth_scheme scheme;
  ua_buf auth; /* the Authorization header line, or the apikey query pair */
  pid_t pid;    /* the process that made easy and pool */
  int closed;
  int busy; /* inside curl_easy_perform: a sink must not reuse or close us */
} session;

/* session.c */
int ua_session_new(lua_State *L);
/* The session at idx, open, not inside its own request, with handles of
 * this process; raises otherwise. */
session *ua_check_idle(lua_State *L, int idx);
void ua_session_open(lua_State *L);

/* multi.c: adds session:multi() to the session class (opened after it) */
void ua_multi_open(lua_State *L);

/* os.c: adds its functions to the module table on top of the stack */
void ua_os_open(lua_State *L);

/* request.c */
typedef struct ua_reqinfo {
  ua_req req;
  int raw_headers;
} ua_reqinfo;

/* Reads request table idx into t; raises on any bad input before a byte is sent. */
void ua_build_request(lua_State *L, int idx, session *s, ua_transfer *t, ua_reqinfo *ri);
/* Registers the field names of request tables. */
void ua_request_open(lua_State *L);
/* Appends query table idx to url, keys sorted, arrays as repeated keys. */
void ua_add_query(lua_State *L, int idx, ua_buf *url);

/* response.c */
void ua_push_headers(lua_State *L, const ua_buf *head);
int ua_push_response(lua_State *L, ua_transfer *t, int raw);
int ua_parse_headers(lua_State *L);

/* errors.c */
int ua_push_error(lua_State *L, const char *kind, int code, const char *message);
void ua_push_transfer_error(lua_State *L, ua_transfer *t, CURLcode rc);
/* core.set_error_mt(mt): the metatable the core's errors get from then on */
int ua_set_error_mt(lua_State *L);
void ua_errors_open(lua_State *L);

#pragma GCC visibility pop

#endif
