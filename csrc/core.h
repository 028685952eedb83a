/* userapi.core, the C half of userapi: its one exported symbol. The files
 * that make it share csrc/internal.h, which core.so never exports. */
#ifndef USERAPI_CORE_H
#define USERAPI_CORE_H

#include <lua.h>

#define USERAPI_VERSION "0.2.0"

/* Exported whatever the build's flags (-fvisibility=hidden or not): the
 * headers of the other files hide everything they declare. */
#if defined(__GNUC__)
#define USERAPI_EXPORT __attribute__((visibility("default")))
#else
#define USERAPI_EXPORT
#endif

USERAPI_EXPORT int luaopen_userapi_core(lua_State *L);

#endif
