/* The bottom of the Lua binding: helpers every userdata class of the core
 * uses (a class's metatable, raw reads of option tables, a scratch buffer
 * owned by the stack), knowing nothing of sessions or transfers. */
#ifndef USERAPI_BINDING_H
#define USERAPI_BINDING_H

#include "compat.h"
#include "buf.h"

#pragma GCC visibility push(hidden) /* only luaopen_* leaves core.so */

/* A userdata class: its methods in __index, close as __gc and __close,
 * tostring as __tostring; the metatable stays in the registry under name. */
void ua_new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                  lua_CFunction close, lua_CFunction tostring);
/* Pushes field k of table idx, read raw; returns its type. Options are read
 * raw: an __index function could run Lua code between a read and its use. */
int ua_rawfield(lua_State *L, int idx, const char *k);
/* String field, or NULL when absent; raises on another type. */
const char *ua_opt_string(lua_State *L, int idx, const char *field, size_t *n);
/* Non-negative integer field (milliseconds, a byte count), or dflt when
 * absent; raises on anything else. */
long ua_opt_nonneg(lua_State *L, int idx, const char *field, long dflt);
/* The same two checks of a field's value already pushed (popped), for
 * callers that read fields by their own keys; field names it in errors. */
const char *ua_check_string(lua_State *L, const char *field, size_t *n);
long ua_check_nonneg(lua_State *L, const char *field, long dflt);
/* A buffer owned by the Lua stack (pushed): freed by __gc even when a later
 * call raises. */
ua_buf *ua_scratch(lua_State *L);
/* Raises "userapi: out of memory". */
void ua_oom(lua_State *L);
/* Registers what the helpers need (the scratch buffer's metatable). */
void ua_binding_open(lua_State *L);

#pragma GCC visibility pop

#endif
