/* The helpers of binding.h. */
#include "binding.h"

#define SCRATCH_MT "userapi.scratch"

void ua_new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                  lua_CFunction close, lua_CFunction tostring) {
  luaL_newmetatable(L, name);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, close);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, close);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}

void ua_oom(lua_State *L) { luaL_error(L, "userapi: out of memory"); }

static int scratch_gc(lua_State *L) {
  ua_buf_free(luaL_checkudata(L, 1, SCRATCH_MT));
  return 0;
}

ua_buf *ua_scratch(lua_State *L) {
  ua_buf *b = lua_newuserdata(L, sizeof *b);
  ua_buf_init(b, 0);
  luaL_getmetatable(L, SCRATCH_MT);
  lua_setmetatable(L, -2);
  return b;
}

int ua_rawfield(lua_State *L, int idx, const char *k) {
  idx = lua_absindex(L, idx);
  lua_pushstring(L, k);
  lua_rawget(L, idx);
  return lua_type(L, -1);
}

const char *ua_opt_string(lua_State *L, int idx, const char *field, size_t *n) {
  ua_rawfield(L, idx, field);
  return ua_check_string(L, field, n);
}

const char *ua_check_string(lua_State *L, const char *field, size_t *n) {
  const char *s;
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return NULL;
  }
  if (lua_type(L, -1) != LUA_TSTRING)
    luaL_error(L, "bad field '%s' (string expected, got %s)", field, luaL_typename(L, -1));
  s = lua_tolstring(L, -1, n);
  lua_pop(L, 1); /* still anchored by the table: read raw, it cannot be a temporary */
  return s;
}

long ua_opt_nonneg(lua_State *L, int idx, const char *field, long dflt) {
  ua_rawfield(L, idx, field);
  return ua_check_nonneg(L, field, dflt);
}

long ua_check_nonneg(lua_State *L, const char *field, long dflt) {
  lua_Number v;
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return dflt;
  }
  v = lua_tonumber(L, -1);
  /* an integral float (5e3, 2^20) is as good as an integer; at most 2^53,
   * checked first: converting a larger float to long may overflow */
  if (lua_type(L, -1) != LUA_TNUMBER || !(v >= 0 && v <= 9007199254740992.0) || (lua_Number)(long)v != v)
    luaL_error(L, "bad field '%s' (non-negative integer expected)", field);
  lua_pop(L, 1);
  return (long)v;
}

void ua_binding_open(lua_State *L) {
  luaL_newmetatable(L, SCRATCH_MT);
  lua_pushcfunction(L, scratch_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
}
