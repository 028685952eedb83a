/* userapi.core: the Lua binding of sessions, multis and the few helpers the
 * Lua layer needs (internal.h lists the files). This file is the module itself. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "url.h"

/* core.escape(s): percent-encode everything but RFC 3986 unreserved bytes. */
static int l_escape(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  ua_buf b;
  ua_buf_init(&b, 0);
  if (ua_escape(&b, s, n)) {
    ua_buf_free(&b);
    ua_oom(L);
  }
  lua_pushlstring(L, b.data ? b.data : "", b.len);
  ua_buf_free(&b);
  return 1;
}

/* core.is_unreserved(v): true when v is a non-empty string of unreserved
 * bytes only (the usual id); false for anything else, strings or not. One
 * pass in C: the Lua pattern it replaces cost a call about 2k instructions. */
static int l_is_unreserved(lua_State *L) {
  size_t n;
  const char *s;
  if (lua_type(L, 1) != LUA_TSTRING) {
    lua_pushboolean(L, 0);
    return 1;
  }
  s = lua_tolstring(L, 1, &n);
  lua_pushboolean(L, ua_is_unreserved(s, n));
  return 1;
}

/* core.url(base, query): base with the encoded, sorted query appended. */
static int l_url(lua_State *L) {
  size_t n;
  const char *base = luaL_checklstring(L, 1, &n);
  ua_buf *b;
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  b = ua_scratch(L);
  if (ua_buf_add(b, base, n)) ua_oom(L);
  if (!lua_isnoneornil(L, 2)) ua_add_query(L, 2, b);
  lua_pushlstring(L, b->data, b->len);
  return 1;
}

/* core.sleep(ms): a blocking sleep for plain Lua (nginx uses ngx.sleep).
 * NaN and infinity raise: converting them to time_t is undefined, and a
 * nanosleep refused with EINVAL must not be retried forever. */
static int l_sleep(lua_State *L) {
  lua_Number ms = luaL_checknumber(L, 1);
  struct timespec ts;
  luaL_argcheck(L, ms == ms && ms <= 1e15, 1, "milliseconds expected (a finite number)");
  if (ms <= 0) return 0;
  ts.tv_sec = (time_t)(ms / 1000);
  ts.tv_nsec = (long)((ms - (lua_Number)ts.tv_sec * 1000) * 1e6);
  if (ts.tv_nsec < 0) ts.tv_nsec = 0;
  if (ts.tv_nsec > 999999999L) ts.tv_nsec = 999999999L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
  return 0;
}

/* core.now(): monotonic milliseconds, for backoff and rate limits. */
static int l_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec * 1000 + (lua_Number)ts.tv_nsec / 1e6);
  return 1;
}

/* core.may_hold_empty_array(json): whether the text has a "[" followed by
 * blanks (any of Lua's %s) and "]" anywhere, strings included: the cheap
 * test before userapi.json marks the empty arrays Debian's lua-cjson cannot
 * tell from empty objects. One pass in C; in Lua it took five plain finds. */
static int l_may_hold_empty_array(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n), *end = s + n, *p = s;
  while ((p = memchr(p, '[', (size_t)(end - p))) != NULL) {
    for (p++; p < end && (*p == ' ' || (*p >= '\t' && *p <= '\r')); p++) {}
    if (p < end && *p == ']') {
      lua_pushboolean(L, 1);
      return 1;
    }
  }
  lua_pushboolean(L, 0);
  return 1;
}

static const luaL_Reg functions[] = {
  { "session", ua_session_new }, { "escape", l_escape },
  { "is_unreserved", l_is_unreserved }, { "url", l_url },
  { "sleep", l_sleep }, { "now", l_now }, { "parse_headers", ua_parse_headers },
  { "set_error_mt", ua_set_error_mt }, { "may_hold_empty_array", l_may_hold_empty_array }, { NULL, NULL } };

int luaopen_userapi_core(lua_State *L) {
  static int initialized;
  if (!initialized) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      return luaL_error(L, "userapi: curl_global_init failed");
    /* SIGPIPE is left as the host has it: see ua_curl_guards_sigpipe */
    initialized = 1;
  }
  ua_binding_open(L);
  ua_request_open(L);
  ua_errors_open(L);
  ua_session_open(L);
  ua_multi_open(L);
  luaL_newlib(L, functions);
  ua_os_open(L);
  lua_pushliteral(L, USERAPI_VERSION);
  lua_setfield(L, -2, "_VERSION");
  lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
  lua_setfield(L, -2, "curl_version");
  lua_pushliteral(L, LIBCURL_VERSION); /* the headers it was compiled with */
  lua_setfield(L, -2, "curl_build_version");
  return 1;
}
