/* The error tables of the core: { kind, code, message }, returned as
 * nil, err (a transfer that failed, never a programmer error). */
#include <string.h>

#include "internal.h"

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
  lua_pushfstring(L, "%s (%s)", luaL_optstring(L, -2, "error"), luaL_optstring(L, -1, "?"));
  return 1;
}

void ua_push_transfer_error(lua_State *L, ua_transfer *t, CURLcode rc) {
  const char *kind = ua_transfer_kind(t, rc);
  const char *msg = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);
  if (t->idle_expired) msg = "no data received for idle_timeout_ms";
  if (strcmp(kind, "too_large") == 0)
    msg = t->too_large == UA_TOO_LARGE_HEAD || rc == CURLE_OUT_OF_MEMORY ? "response headers too large"
                                                                       : "response body larger than max_body_bytes";
  ua_push_error(L, kind, (int)rc, msg);
}

/* One error type for the whole library: the library hands the core the
 * metatable of userapi.errors (transport/curl.lua calls core.set_error_mt
 * with errors.mt), so is_error, tostring and the fields' meaning are the
 * same for the core's errors as for the client's. The core requires no Lua
 * module: alone, its errors get a metatable of its own whose tostring reads
 * the same, "timeout (message)". Stored as the registry's ERROR_MT. */
void ua_errors_open(lua_State *L) {
  if (luaL_newmetatable(L, ERROR_MT)) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
}

int ua_set_error_mt(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, ERROR_MT);
  return 0;
}
