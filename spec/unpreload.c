/* `make memcheck` runs busted as `lua5.4 -l unpreload`, with the sanitizer
 * runtime in LD_PRELOAD: that is needed by this process only. Its children
 * (the simulator, nginx, Redis, ldoc, sed, the userapi command) are not what
 * is being checked, and LeakSanitizer in them fails the spec that started
 * them, so they get neither the preload nor the sanitized core: LUA_CPATH
 * becomes USERAPI_CHILD_CPATH (the plain build). */
#include <stdlib.h>
#include <lua.h>

int luaopen_unpreload(lua_State *L) {
  const char *child_cpath = getenv("USERAPI_CHILD_CPATH");
  (void)L;
  unsetenv("LD_PRELOAD");
  if (child_cpath) setenv("LUA_CPATH", child_cpath, 1);
  return 0;
}
