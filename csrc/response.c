/* Answers as Lua values: status, body, and headers as a table. */
#include <ctype.h>

#include "internal.h"

/* Header names lower-cased; a repeated header becomes an array of its values. */
void ua_push_headers(lua_State *L, const ua_buf *head) {
  size_t pos = 0, i, lines = 0;
  ua_span name, value;
  luaL_Buffer lower;
  char small[64];
  /* sized up front: growing a table rehashes it at every power of two */
  for (i = 0; i < head->len; i++) lines += head->data[i] == '\n';
  lua_createtable(L, 0, lines > 1 ? (int)lines - 1 : 0);
  while (ua_header_next(head->data, head->len, &pos, &name, &value)) {
    if (name.n <= sizeof small) {
      for (i = 0; i < name.n; i++) small[i] = (char)tolower((unsigned char)name.p[i]);
      lua_pushlstring(L, small, name.n);
    } else {
      luaL_buffinit(L, &lower);
      for (i = 0; i < name.n; i++) luaL_addchar(&lower, (char)tolower((unsigned char)name.p[i]));
      luaL_pushresult(&lower);
    }
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_pushlstring(L, value.p, value.n);
    } else {
      if (lua_type(L, -1) == LUA_TSTRING) {
        lua_createtable(L, 2, 0);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
      }
      lua_pushlstring(L, value.p, value.n);
      lua_rawseti(L, -2, (int)lua_rawlen(L, -2) + 1);
    }
    lua_rawset(L, -3);
  }
}

/* status, body, headers (a table, or with raw_headers the header block as
 * received, for callers that seldom look: core.parse_headers reads it), and
 * whether a rate-limit header came (see names_rate_limit in transfer.c). */
int ua_push_response(lua_State *L, ua_transfer *t, int raw) {
  long status = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  lua_pushinteger(L, status);
  lua_pushlstring(L, t->body.data ? t->body.data : "", t->body.len);
  if (raw)
    lua_pushlstring(L, t->head.data ? t->head.data : "", t->head.len);
  else
    ua_push_headers(L, &t->head);
  lua_pushboolean(L, t->rate_headers);
  return 4;
}

/* core.parse_headers(block): the header table of a raw header block. */
int ua_parse_headers(lua_State *L) {
  ua_buf b;
  ua_buf_init(&b, 0);
  b.data = (char *)luaL_checklstring(L, 1, &b.len);
  ua_push_headers(L, &b);
  return 1;
}
