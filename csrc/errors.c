/* The error tables of the core: { kind, code, message }, returned as
 * nil, err (a transfer that failed, never a programmer error). */
#include <string.h>

#include "core.h"

int ua_push_error(lua_State *L, const char *kind, int code, const char *message) {
  luaL_pushfail(L);
  lua_createtable(L, 0, 3);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushinteger(L, code);
  lua_setfield(L, -2, "code");
  lua_pushstring(L, message);
  lua_setfield(L, -2, "message");
  luaL_getmetatable(L, ERROR_MT);
  lua_setmetatable(L, -2);
  return 2;
}

static int error_tostring(lua_State *L) {
  lua_getfield(L, 1, "kind");
  lua_getfield(L, 1, "message");
  lua_pushfstring(L, "%s: %s", luaL_optstring(L, -2, "error"), luaL_optstring(L, -1, "?"));
  return 1;
}

void ua_push_transfer_error(lua_State *L, ua_transfer *t, CURLcode rc) {
  const char *kind = ua_transfer_kind(t, rc);
  const char *msg = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);
  if (strcmp(kind, "too_large") == 0) msg = "response body larger than max_body_bytes";
  ua_push_error(L, kind, (int)rc, msg);
}

void ua_errors_open(lua_State *L) {
  luaL_newmetatable(L, ERROR_MT);
  lua_pushcfunction(L, error_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}
