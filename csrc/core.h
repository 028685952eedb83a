/* What the files of the Lua binding share: the session type, and the
 * helpers that read request tables and push answers. Internal to the module.
 *   core.c      the module: luaopen, core.escape/url/sleep/now
 *   session.c   userapi.session: options, auth, the blocking request
 *   multi.c     userapi.multi: many transfers at once, streams
 *   request.c   a request table read into a ua_transfer, raising on bad input
 *   response.c  status, body and headers pushed as Lua values
 *   errors.c    the error tables returned as nil, err
 *   os.c        core.fsync, stat, geteuid, umask, isatty, die_of_sigpipe, create_private
 * and, free of lua_State: pool.c (curl share, fork), transfer.c (one HTTP
 * exchange), auth.c, url.c, buf.c. */
#ifndef USERAPI_CORE_H
#define USERAPI_CORE_H

#include <sys/types.h>
#include <curl/curl.h>

#include "compat.h"
#include "buf.h"
#include "auth.h"
#include "pool.h"
#include "transfer.h"

#define USERAPI_VERSION "0.1.0"
#define SESSION_MT "userapi.session"
#define MULTI_MT "userapi.multi"
#define ERROR_MT "userapi.core.error"
#define SCRATCH_MT "userapi.scratch"

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

/* core.c: a userdata class with methods, __gc and __close (both close), __tostring */
void ua_new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                  lua_CFunction close, lua_CFunction tostring);

/* session.c */
int ua_session_new(lua_State *L);
/* The session at idx, open, not inside its own request, with handles of
 * this process; raises otherwise. */
session *ua_check_idle(lua_State *L, int idx);
void ua_session_open(lua_State *L);

/* os.c: adds its functions to the module table on top of the stack */
void ua_os_open(lua_State *L);

/* multi.c */
int ua_session_multi(lua_State *L);
void ua_multi_open(lua_State *L);

/* request.c */
typedef struct ua_reqinfo {
  ua_req req;
  int raw_headers;
} ua_reqinfo;

/* Reads request table idx into t; raises on any bad input before a byte is sent. */
void ua_build_request(lua_State *L, int idx, session *s, ua_transfer *t, ua_reqinfo *ri);
/* Appends query table idx to url, keys sorted, arrays as repeated keys. */
void ua_add_query(lua_State *L, int idx, ua_buf *url);
/* Pushes field k of table idx, read raw; returns its type. */
int ua_rawfield(lua_State *L, int idx, const char *k);
/* String field, or NULL when absent; raises on another type. */
const char *ua_opt_string(lua_State *L, int idx, const char *field, size_t *n);
/* Non-negative integer field (milliseconds, bytes), or dflt when absent. */
long ua_opt_ms(lua_State *L, int idx, const char *field, long dflt);
/* A buffer owned by the Lua stack (pushed): freed by __gc even when a later
 * call raises. */
ua_buf *ua_scratch(lua_State *L);
void ua_oom(lua_State *L);
void ua_request_open(lua_State *L);

/* response.c */
void ua_push_headers(lua_State *L, const ua_buf *head);
int ua_push_response(lua_State *L, ua_transfer *t, int raw);
int ua_parse_headers(lua_State *L);

/* errors.c */
int ua_push_error(lua_State *L, const char *kind, int code, const char *message);
void ua_push_transfer_error(lua_State *L, ua_transfer *t, CURLcode rc);
void ua_errors_open(lua_State *L);

#endif
