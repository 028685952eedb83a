/* Reading a request table into a ua_transfer: every check is made, and
 * raises, before a byte is sent. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "url.h"

static int is_token(const char *s, size_t n) {
  size_t i;
  if (n == 0) return 0;
  for (i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && !strchr("!#$&'*+-.^_`|~", s[i])) return 0;
  return 1;
}

/* Scalar query value as text: integers without a fraction, booleans as words. */
static const char *query_scalar(lua_State *L, int idx, size_t *n, char *tmp, const char *key) {
  switch (lua_type(L, idx)) {
  case LUA_TSTRING: {
    const char *s = lua_tolstring(L, idx, n);
    if (ua_splits_line(s, *n)) luaL_error(L, "query value for '%s' contains CR, LF or NUL", key);
    return s;
  }
  case LUA_TBOOLEAN:
    *n = lua_toboolean(L, idx) ? 4 : 5;
    return lua_toboolean(L, idx) ? "true" : "false";
  case LUA_TNUMBER: {
    int len;
    if (lua_isinteger(L, idx)) {
      *n = (size_t)snprintf(tmp, UA_NUMBER_MAX, "%lld", (long long)lua_tointeger(L, idx));
      return tmp;
    }
    len = ua_format_number(tmp, (double)lua_tonumber(L, idx));
    if (len < 0) luaL_error(L, "bad query value for '%s' (a finite number expected)", key);
    *n = (size_t)len;
    return tmp;
  }
  default:
    luaL_error(L, "bad query value for '%s' (string, number or boolean expected, got %s)", key,
               luaL_typename(L, idx));
    return NULL;
  }
}

typedef struct qkey {
  const char *s;
  size_t n;
} qkey;

static int qkey_cmp(const void *a, const void *b) {
  const qkey *x = a, *y = b;
  int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
  return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* Appends the query table, keys sorted so the same call gives the same URL;
 * an array value becomes repeated keys (?a=1&a=2). */
void ua_add_query(lua_State *L, int idx, ua_buf *url) {
  size_t count = 0, i;
  qkey *keys;
  char tmp[UA_NUMBER_MAX];
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    count++;
    lua_pop(L, 1);
  }
  if (count == 0) return;
  /* a userdata, so a raised error below frees it with everything else */
  keys = lua_newuserdata(L, count * sizeof *keys);
  i = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "bad query key (string expected)");
    keys[i].s = lua_tolstring(L, -2, &keys[i].n);
    i++;
    lua_pop(L, 1);
  }
  qsort(keys, count, sizeof *keys, qkey_cmp);
  for (i = 0; i < count; i++) {
    size_t vn;
    const char *v;
    if (ua_splits_line(keys[i].s, keys[i].n)) luaL_error(L, "query key contains CR, LF or NUL");
    lua_pushlstring(L, keys[i].s, keys[i].n);
    lua_rawget(L, idx);
    if (lua_type(L, -1) == LUA_TTABLE) {
      int j, len = (int)lua_rawlen(L, -1);
      for (j = 1; j <= len; j++) {
        lua_rawgeti(L, -1, j);
        v = query_scalar(L, -1, &vn, tmp, keys[i].s);
        if (ua_query_add(url, keys[i].s, keys[i].n, v, vn)) ua_oom(L);
        lua_pop(L, 1);
      }
    } else {
      v = query_scalar(L, -1, &vn, tmp, keys[i].s);
      if (ua_query_add(url, keys[i].s, keys[i].n, v, vn)) ua_oom(L);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1); /* keys */
}

static void header_add(lua_State *L, ua_transfer *t, const char *name, size_t nn, const char *sep, const char *v,
                       size_t vn) {
  if (ua_header_add(t, name, nn, sep, v, vn)) ua_oom(L);
}

/* a whole line ("Expect:", the session's User-Agent and Authorization lines) */
static void line_add(lua_State *L, ua_transfer *t, const char *line) {
  header_add(L, t, line, strlen(line), "", "", 0);
}

/* Adds the caller's header lines for curl (the transfer owns the list as it
 * grows, so a raised error part-way leaves nothing behind); returns the
 * HAS_CTYPE and HAS_UA flags for the ones the core would otherwise add. */
#define HAS_CTYPE 1
#define HAS_UA 2
static int add_headers(lua_State *L, int idx, ua_transfer *t) {
  int present = 0;
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    size_t kn = 0, vn;
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &kn) : NULL, *v;
    if (!k || !is_token(k, kn))
      luaL_error(L, "bad header name (a token of letters, digits and -_. expected)");
    if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "bad value for header '%s' (string expected, got %s)", k, luaL_typename(L, -1));
    v = lua_tolstring(L, -1, &vn);
    if (ua_splits_line(v, vn)) luaL_error(L, "header '%s' contains CR, LF or NUL", k);
    if (kn == 12 && strncasecmp(k, "content-type", 12) == 0) present |= HAS_CTYPE;
    if (kn == 10 && strncasecmp(k, "user-agent", 10) == 0) present |= HAS_UA;
    /* "Name;" is curl's way to send a header with an empty value */
    header_add(L, t, k, kn, vn ? ": " : ";", v, vn);
    lua_pop(L, 1);
  }
  return present;
}

/* The fields of a request table. Their names are made Lua strings once
 * (ua_request_open), not hashed and looked up again on every call. */
enum { F_METHOD = 1, F_URL, F_QUERY, F_AUTH, F_HEADERS, F_BODY, F_TIMEOUT_MS, F_IDLE_TIMEOUT_MS, F_RAW_HEADERS };
static const char *const FIELD[] = { NULL, "method", "url", "query", "auth", "headers", "body", "timeout_ms",
                                     "idle_timeout_ms", "raw_headers" };
static const char names_key = 0; /* the registry's array of those strings */

/* Pushes field f of request table req, read raw (names: the array's slot). */
static int field(lua_State *L, int req, int names, int f) {
  lua_rawgeti(L, names, f);
  return lua_rawget(L, req);
}

void ua_request_open(lua_State *L) {
  int f;
  lua_pushlightuserdata(L, (void *)&names_key);
  lua_createtable(L, F_RAW_HEADERS, 0);
  for (f = F_METHOD; f <= F_RAW_HEADERS; f++) {
    lua_pushstring(L, FIELD[f]);
    lua_rawseti(L, -2, f);
  }
  lua_rawset(L, LUA_REGISTRYINDEX);
}

/* Reads request table idx into t; raises on any bad input before a byte is sent. */
void ua_build_request(lua_State *L, int idx, session *s, ua_transfer *t, ua_reqinfo *ri) {
  size_t n, i;
  const char *m, *url, *body;
  int use_auth, present = 0, names;
  luaL_checktype(L, idx, LUA_TTABLE);
  idx = lua_absindex(L, idx);
  lua_pushlightuserdata(L, (void *)&names_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  names = lua_gettop(L);
  field(L, idx, names, F_METHOD);
  m = ua_check_string(L, FIELD[F_METHOD], &n);
  if (!m || n == 0 || n >= sizeof ri->req.method) luaL_error(L, "bad field 'method' (HTTP method expected)");
  for (i = 0; i < n; i++) {
    if (!isupper((unsigned char)m[i])) luaL_error(L, "bad field 'method' (upper-case token expected)");
    ri->req.method[i] = m[i];
  }
  ri->req.method[n] = '\0';
  field(L, idx, names, F_URL);
  url = ua_check_string(L, FIELD[F_URL], &n);
  if (!url) luaL_error(L, "bad field 'url' (string expected, got nil)");
  if (ua_has_ctl_or_space(url, n)) luaL_error(L, "bad field 'url' (contains a space, CR, LF, NUL or control byte)");
  if (ua_buf_add(&t->url, url, n)) ua_oom(L);
  field(L, idx, names, F_QUERY);
  if (lua_type(L, -1) == LUA_TTABLE)
    ua_add_query(L, -1, &t->url);
  else if (!lua_isnil(L, -1))
    luaL_error(L, "bad field 'query' (table expected, got %s)", luaL_typename(L, -1));
  lua_pop(L, 1);
  field(L, idx, names, F_AUTH);
  use_auth = lua_isnil(L, -1) || lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (use_auth && s->scheme == UA_AUTH_APIKEY_QUERY) {
    char sep = memchr(t->url.data, '?', t->url.len) ? '&' : '?';
    if (ua_buf_addc(&t->url, sep) || ua_buf_add(&t->url, s->auth.data, s->auth.len)) ua_oom(L);
  }
  if (ua_buf_cstr(&t->url)) ua_oom(L);
  field(L, idx, names, F_HEADERS);
  if (lua_type(L, -1) == LUA_TTABLE)
    present = add_headers(L, -1, t);
  else if (!lua_isnil(L, -1))
    luaL_error(L, "bad field 'headers' (table expected, got %s)", luaL_typename(L, -1));
  lua_pop(L, 1);
  if (use_auth && s->scheme != UA_AUTH_NONE && s->scheme != UA_AUTH_APIKEY_QUERY)
    line_add(L, t, s->auth.data);
  field(L, idx, names, F_BODY);
  body = ua_check_string(L, FIELD[F_BODY], &n);
  ri->req.has_body = body != NULL;
  if (body && (strcmp(ri->req.method, "GET") == 0 || strcmp(ri->req.method, "HEAD") == 0))
    luaL_error(L, "bad field 'body' (a %s request has no body)", ri->req.method);
  /* curl would otherwise wait for a 100 Continue on larger bodies */
  if (body) line_add(L, t, "Expect:");
  /* and would label a bodiless POST, PUT or PATCH (sent with Content-Length: 0) as a form */
  if (!body && !(present & HAS_CTYPE) && ua_sends_length(ri->req.method))
    line_add(L, t, "Content-Type:");
  if (!(present & HAS_UA)) line_add(L, t, s->opts.user_agent_line);
  if (body && ua_buf_add(&t->reqbody, body, n)) ua_oom(L);
  field(L, idx, names, F_TIMEOUT_MS);
  ri->req.timeout_ms = ua_check_nonneg(L, FIELD[F_TIMEOUT_MS], 0);
  field(L, idx, names, F_IDLE_TIMEOUT_MS);
  ri->req.idle_timeout_ms = ua_check_nonneg(L, FIELD[F_IDLE_TIMEOUT_MS], 0);
  field(L, idx, names, F_RAW_HEADERS);
  ri->raw_headers = lua_toboolean(L, -1);
  lua_pop(L, 2); /* and the names */
}
