/* The differences between the Lua APIs the rockspec admits (5.1, LuaJIT 2.1,
 * 5.2, 5.3, 5.4), mapped once so the rest of the C code is written for 5.4.
 *
 * What a newer API adds is defined here as a static function under our own
 * name (userapi_*), and the 5.4 name is a macro for it. The module then
 * references no symbol that only some interpreters export: one built against
 * Lua 5.1's headers also loads in LuaJIT (they share lib/lua/5.1 in a
 * luarocks tree), and LuaJIT's own extras (luaL_setfuncs, luaL_testudata)
 * are never needed from the host. */
#ifndef USERAPI_COMPAT_H
#define USERAPI_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#ifndef LUA_OK
#define LUA_OK 0
#endif

#if LUA_VERSION_NUM < 502 /* Lua 5.1 and LuaJIT */

#define lua_rawlen(L, i) lua_objlen(L, (i))

#define lua_absindex(L, i) userapi_absindex(L, (i))
static inline int userapi_absindex(lua_State *L, int i) {
  return (i > 0 || i <= LUA_REGISTRYINDEX) ? i : lua_gettop(L) + i + 1;
}

#define luaL_setfuncs(L, l, nup) userapi_setfuncs(L, (l), (nup))
static inline void userapi_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
  int i;
  luaL_checkstack(L, nup + 1, "too many upvalues");
  for (; l->name != NULL; l++) {
    for (i = 0; i < nup; i++) lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}

#undef luaL_newlibtable
#undef luaL_newlib
#define luaL_newlibtable(L, l) lua_createtable(L, 0, (int)(sizeof(l) / sizeof((l)[0]) - 1))
#define luaL_newlib(L, l) (luaL_newlibtable(L, l), luaL_setfuncs(L, (l), 0))

#define luaL_testudata(L, i, tname) userapi_testudata(L, (i), (tname))
static inline void *userapi_testudata(lua_State *L, int i, const char *tname) {
  void *p = lua_touserdata(L, i);
  int same;
  if (p == NULL || !lua_getmetatable(L, i)) return NULL;
  luaL_getmetatable(L, tname);
  same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same ? p : NULL;
}

#define luaL_setmetatable(L, tname) userapi_setmetatable(L, (tname))
static inline void userapi_setmetatable(lua_State *L, const char *tname) {
  luaL_getmetatable(L, tname);
  lua_setmetatable(L, -2);
}

#endif /* < 5.2 */

#if LUA_VERSION_NUM < 503 /* 5.1, LuaJIT, 5.2: numbers are doubles */

#define lua_isinteger(L, i) userapi_isinteger(L, (i))
static inline int userapi_isinteger(lua_State *L, int i) {
  lua_Number n;
  if (lua_type(L, i) != LUA_TNUMBER) return 0;
  n = lua_tonumber(L, i);
  /* the range test first: casting a float outside long long is undefined */
  return n >= -9223372036854775808.0 && n < 9223372036854775808.0 && n == (lua_Number)(long long)n;
}

/* 5.3 made these return the type of the value they push */
#define lua_getfield(L, i, k) (lua_getfield(L, (i), (k)), lua_type(L, -1))
#define lua_rawgeti(L, i, n) (lua_rawgeti(L, (i), (n)), lua_type(L, -1))
#define lua_rawget(L, i) (lua_rawget(L, (i)), lua_type(L, -1))
#define lua_gettable(L, i) (lua_gettable(L, (i)), lua_type(L, -1))

#endif /* < 5.3 */

#if LUA_VERSION_NUM < 504
#define luaL_pushfail(L) lua_pushnil(L)
/* no user values before 5.4 beyond the one (5.1: environment) table: none asked */
#define lua_newuserdatauv(L, size, nuv) lua_newuserdata(L, (size))
#endif
/* __close: a metamethod only 5.4 calls; setting it elsewhere is harmless, and
 * the handles' __gc frees them on every version. */

#endif
