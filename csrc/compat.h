/* The few differences between Lua 5.4 and LuaJIT 2.1 (Lua 5.1 API), mapped
 * once so the rest of the C code is written for 5.4 only. */
#ifndef USERAPI_COMPAT_H
#define USERAPI_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502
#define lua_rawlen(L, i) lua_objlen(L, (i))
#define LUA_OK 0
static inline int lua_absindex(lua_State *L, int i) {
  return (i > 0 || i <= LUA_REGISTRYINDEX) ? i : lua_gettop(L) + i + 1;
}
static inline int lua_isinteger(lua_State *L, int i) {
  lua_Number n;
  if (lua_type(L, i) != LUA_TNUMBER) return 0;
  n = lua_tonumber(L, i);
  /* the range test first: casting a float outside long long is undefined */
  return n >= -9223372036854775808.0 && n < 9223372036854775808.0 && n == (lua_Number)(long long)n;
}
#endif

#if LUA_VERSION_NUM < 504
#define luaL_pushfail(L) lua_pushnil(L)
#endif

#endif
