/* userapi.core: the Lua binding of sessions, requests, auth and the multi
 * interface. Plain-C concerns live beside it (buf, url, auth, transfer). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "compat.h"
#include "buf.h"
#include "url.h"
#include "auth.h"
#include "transfer.h"

#define USERAPI_VERSION "0.1.0"
#define SESSION_MT "userapi.session"
#define MULTI_MT "userapi.multi"
#define ERROR_MT "userapi.core.error"
#define SCRATCH_MT "userapi.scratch"

/* The connection, DNS and TLS caches, shared by a session and its multis;
 * freed when the last of them lets go. */
typedef struct pool {
  CURLSH *share;
  int refs;
} pool;

/* After a fork (nginx master -> workers) the child holds copies of the
 * parent's curl handles, and the connections in them are sockets the parent
 * still reads and writes. The child must never use them, and must not clean
 * them up through curl either: curl_easy_cleanup / curl_share_cleanup /
 * curl_multi_cleanup would shut down TLS (a close_notify written on the
 * parent's socket) and close connections the parent is using. Closing only
 * their file descriptors would be tidier, but curl offers no way to reach
 * the sockets of a share's connection cache. So the child abandons them: the
 * handles are leaked (a few kB of copy-on-write memory and a few fds per
 * object made before the fork, once per process) and fresh ones are built.
 * Each object records the pid that made its handles and checks it on use. */
static int inherited(pid_t made_by) { return made_by != getpid(); }

typedef struct session {
  pool *pool;
  CURL *easy;
  ua_transfer xfer; /* owned here so a raised argument error cannot leak it */
  ua_opts opts;
  ua_auth_scheme scheme;
  ua_buf auth; /* the Authorization header line, or the apikey query pair */
  pid_t pid;    /* the process that made easy and pool */
  int closed;
  int busy; /* inside curl_easy_perform: a sink must not reuse or close us */
} session;

typedef struct slot {
  ua_transfer xfer;
  lua_Integer id;
  int active, raw_headers;
} slot;

typedef struct multi {
  CURLM *handle;
  pool *pool;
  int session_ref;
  slot **slots;
  int nslots, pending;
  lua_Integer next_id;
  pid_t pid; /* the process that made handle and the slots' easy handles */
  int closed;
} multi;

/* ---- the shared pool -------------------------------------------------- */

static pool *pool_new(void) {
  pool *p = malloc(sizeof *p);
  if (!p) return NULL;
  p->share = curl_share_init();
  if (!p->share) {
    free(p);
    return NULL;
  }
  curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  p->refs = 1;
  return p;
}

static void pool_release(pool *p) {
  if (p && --p->refs == 0) {
    curl_share_cleanup(p->share);
    free(p);
  }
}

/* ---- errors ----------------------------------------------------------- */

static int push_error(lua_State *L, const char *kind, int code, const char *message) {
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

static void push_transfer_error(lua_State *L, ua_transfer *t, CURLcode rc) {
  const char *kind = ua_transfer_kind(t, rc);
  const char *msg = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);
  if (strcmp(kind, "too_large") == 0) msg = "response body larger than max_body_bytes";
  push_error(L, kind, (int)rc, msg);
}

/* ---- building a request from its Lua table ---------------------------- */

static int is_token(const char *s, size_t n) {
  size_t i;
  if (n == 0) return 0;
  for (i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && !strchr("!#$&'*+-.^_`|~", s[i])) return 0;
  return 1;
}

static void oom(lua_State *L) { luaL_error(L, "userapi: out of memory"); }

static int scratch_gc(lua_State *L) {
  ua_buf_free(luaL_checkudata(L, 1, SCRATCH_MT));
  return 0;
}

/* A buffer owned by the Lua stack: freed by __gc even when a later call raises. */
static ua_buf *scratch(lua_State *L) {
  ua_buf *b = lua_newuserdata(L, sizeof *b);
  ua_buf_init(b, 0);
  luaL_getmetatable(L, SCRATCH_MT);
  lua_setmetatable(L, -2);
  return b;
}

/* Scalar query value as text: integers without a fraction, booleans as words. */
static const char *query_scalar(lua_State *L, int idx, size_t *n, char *tmp, const char *key) {
  switch (lua_type(L, idx)) {
  case LUA_TSTRING: {
    const char *s = lua_tolstring(L, idx, n);
    if (ua_has_crlf(s, *n)) luaL_error(L, "query value for '%s' contains CR, LF or NUL", key);
    return s;
  }
  case LUA_TBOOLEAN:
    *n = lua_toboolean(L, idx) ? 4 : 5;
    return lua_toboolean(L, idx) ? "true" : "false";
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx))
      *n = (size_t)snprintf(tmp, 32, "%lld", (long long)lua_tointeger(L, idx));
    else
      *n = (size_t)snprintf(tmp, 32, "%.17g", (double)lua_tonumber(L, idx));
    return tmp;
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
static void add_query(lua_State *L, int idx, ua_buf *url) {
  size_t count = 0, i;
  qkey *keys;
  char tmp[32];
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
    if (ua_has_crlf(keys[i].s, keys[i].n)) luaL_error(L, "query key contains CR, LF or NUL");
    lua_pushlstring(L, keys[i].s, keys[i].n);
    lua_rawget(L, idx);
    if (lua_type(L, -1) == LUA_TTABLE) {
      int j, len = (int)lua_rawlen(L, -1);
      for (j = 1; j <= len; j++) {
        lua_rawgeti(L, -1, j);
        v = query_scalar(L, -1, &vn, tmp, keys[i].s);
        if (ua_query_add(url, keys[i].s, keys[i].n, v, vn)) oom(L);
        lua_pop(L, 1);
      }
    } else {
      v = query_scalar(L, -1, &vn, tmp, keys[i].s);
      if (ua_query_add(url, keys[i].s, keys[i].n, v, vn)) oom(L);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1); /* keys */
}

static struct curl_slist *slist_add(lua_State *L, struct curl_slist *list, const char *line) {
  struct curl_slist *n = curl_slist_append(list, line);
  if (!n) oom(L);
  return n;
}

/* Header lines for curl; the transfer owns the list as it grows, so a raised
 * error part-way leaves nothing behind. */
/* Returns 1 when the caller gave a Content-Type. */
/* Adds the caller's headers; returns HAS_CTYPE and HAS_UA flags for the
 * ones the core would otherwise add itself. */
#define HAS_CTYPE 1
#define HAS_UA 2
static int add_headers(lua_State *L, int idx, ua_transfer *t) {
  ua_buf *line = NULL;
  char small[256];
  int has_ctype = 0;
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    size_t kn, vn;
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &kn) : NULL, *v;
    if (!k || !is_token(k, kn))
      luaL_error(L, "bad header name (a token of letters, digits and -_. expected)");
    if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "bad value for header '%s' (string expected, got %s)", k, luaL_typename(L, -1));
    v = lua_tolstring(L, -1, &vn);
    if (ua_has_crlf(v, vn)) luaL_error(L, "header '%s' contains CR, LF or NUL", k);
    if (kn == 12 && strncasecmp(k, "content-type", 12) == 0) has_ctype |= HAS_CTYPE;
    if (kn == 10 && strncasecmp(k, "user-agent", 10) == 0) has_ctype |= HAS_UA;
    /* "Name;" is curl's way to send a header with an empty value */
    if (kn + vn + 3 <= sizeof small) {
      memcpy(small, k, kn);
      memcpy(small + kn, vn ? ": " : ";", vn ? 2 : 1);
      memcpy(small + kn + (vn ? 2 : 1), v, vn);
      small[kn + (vn ? 2 : 1) + vn] = '\0';
      t->headers = slist_add(L, t->headers, small);
    } else {
      if (!line) {
        line = scratch(L);
        lua_insert(L, -3); /* below the key and value */
      }
      ua_buf_reset(line);
      if (ua_buf_add(line, k, kn) || ua_buf_add(line, vn ? ": " : ";", vn ? 2 : 1) ||
          ua_buf_add(line, v, vn) || ua_buf_cstr(line))
        oom(L);
      t->headers = slist_add(L, t->headers, line->data);
    }
    lua_pop(L, 1);
  }
  if (line) lua_pop(L, 1);
  return has_ctype;
}

/* Options are read raw: an __index function could run Lua code, and the
 * garbage collector, between reading a string and using it. */
static int rawfield(lua_State *L, int idx, const char *k) {
  idx = lua_absindex(L, idx);
  lua_pushstring(L, k);
  lua_rawget(L, idx);
  return lua_type(L, -1);
}

static const char *opt_string(lua_State *L, int idx, const char *field, size_t *n) {
  const char *s;
  rawfield(L, idx, field);
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

static long opt_ms(lua_State *L, int idx, const char *field, long dflt) {
  long v;
  rawfield(L, idx, field);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return dflt;
  }
  /* at most 2^53: converting a larger float to long may overflow */
  if (!lua_isinteger(L, -1) || lua_tonumber(L, -1) < 0 || lua_tonumber(L, -1) > 9007199254740992.0)
    luaL_error(L, "bad field '%s' (non-negative integer expected)", field);
  v = (long)lua_tonumber(L, -1);
  lua_pop(L, 1);
  return v;
}

typedef struct reqinfo {
  char method[16];
  int has_body, raw_headers;
  long timeout_ms;
} reqinfo;

/* Reads request table idx into t; raises on any bad input before a byte is sent. */
static void build_request(lua_State *L, int idx, session *s, ua_transfer *t, reqinfo *ri) {
  size_t n, i;
  const char *m, *url, *body;
  int use_auth, has_ctype = 0;
  luaL_checktype(L, idx, LUA_TTABLE);
  m = opt_string(L, idx, "method", &n);
  if (!m || n == 0 || n >= sizeof ri->method) luaL_error(L, "bad field 'method' (HTTP method expected)");
  for (i = 0; i < n; i++) {
    if (!isupper((unsigned char)m[i])) luaL_error(L, "bad field 'method' (upper-case token expected)");
    ri->method[i] = m[i];
  }
  ri->method[n] = '\0';
  url = opt_string(L, idx, "url", &n);
  if (!url) luaL_error(L, "bad field 'url' (string expected, got nil)");
  if (ua_has_ctl(url, n)) luaL_error(L, "bad field 'url' (contains a space, CR, LF, NUL or control byte)");
  if (ua_buf_add(&t->url, url, n)) oom(L);
  rawfield(L, idx, "query");
  if (lua_type(L, -1) == LUA_TTABLE)
    add_query(L, -1, &t->url);
  else if (!lua_isnil(L, -1))
    luaL_error(L, "bad field 'query' (table expected, got %s)", luaL_typename(L, -1));
  lua_pop(L, 1);
  rawfield(L, idx, "auth");
  use_auth = lua_isnil(L, -1) || lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (use_auth && s->scheme == UA_AUTH_APIKEY_QUERY) {
    char sep = memchr(t->url.data, '?', t->url.len) ? '&' : '?';
    if (ua_buf_addc(&t->url, sep) || ua_buf_add(&t->url, s->auth.data, s->auth.len)) oom(L);
  }
  if (ua_buf_cstr(&t->url)) oom(L);
  rawfield(L, idx, "headers");
  if (lua_type(L, -1) == LUA_TTABLE)
    has_ctype = add_headers(L, -1, t);
  else if (!lua_isnil(L, -1))
    luaL_error(L, "bad field 'headers' (table expected, got %s)", luaL_typename(L, -1));
  lua_pop(L, 1);
  if (use_auth && s->scheme != UA_AUTH_NONE && s->scheme != UA_AUTH_APIKEY_QUERY)
    t->headers = slist_add(L, t->headers, s->auth.data);
  body = opt_string(L, idx, "body", &n);
  ri->has_body = body != NULL;
  if (body && (strcmp(ri->method, "GET") == 0 || strcmp(ri->method, "HEAD") == 0))
    luaL_error(L, "bad field 'body' (a %s request has no body)", ri->method);
  /* curl would otherwise wait for a 100 Continue on larger bodies */
  if (body) t->headers = slist_add(L, t->headers, "Expect:");
  /* and would label a bodiless POST, PUT or PATCH (sent with Content-Length: 0) as a form */
  if (!body && !(has_ctype & HAS_CTYPE) && ua_sends_length(ri->method))
    t->headers = slist_add(L, t->headers, "Content-Type:");
  if (!(has_ctype & HAS_UA)) t->headers = slist_add(L, t->headers, s->opts.user_agent);
  if (body && ua_buf_add(&t->reqbody, body, n)) oom(L);
  ri->timeout_ms = opt_ms(L, idx, "timeout_ms", 0);
  rawfield(L, idx, "raw_headers");
  ri->raw_headers = lua_toboolean(L, -1);
  lua_pop(L, 1);
}

/* ---- responses -------------------------------------------------------- */

/* Header names lower-cased; a repeated header becomes an array of its values. */
static void push_headers(lua_State *L, const ua_buf *head) {
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

/* status, body, headers: a table, or with raw_headers the header block as
 * received, for callers that seldom look (core.parse_headers reads it). */
static int push_response(lua_State *L, ua_transfer *t, int raw) {
  long status = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  lua_pushinteger(L, status);
  lua_pushlstring(L, t->body.data ? t->body.data : "", t->body.len);
  if (raw)
    lua_pushlstring(L, t->head.data ? t->head.data : "", t->head.len);
  else
    push_headers(L, &t->head);
  return 3;
}

/* core.parse_headers(block): the header table of a raw header block. */
static int l_parse_headers(lua_State *L) {
  ua_buf b;
  ua_buf_init(&b, 0);
  b.data = (char *)luaL_checklstring(L, 1, &b.len);
  push_headers(L, &b);
  return 1;
}

/* ---- sessions --------------------------------------------------------- */

/* In a child of the process that made s: abandons its curl handles (see
 * inherited()) and gives it fresh ones. */
static void session_adopt(lua_State *L, session *s) {
  if (!inherited(s->pid)) return;
  ua_transfer_clear(&s->xfer);
  s->easy = s->xfer.easy = NULL;
  s->pool = NULL;
  s->xfer.configured = 0;
  s->pid = getpid();
  s->pool = pool_new();
  s->easy = s->xfer.easy = curl_easy_init();
  if (!s->pool || !s->easy) luaL_error(L, "userapi: cannot create a curl handle");
}

static session *check_session(lua_State *L, int idx) {
  session *s = luaL_checkudata(L, idx, SESSION_MT);
  if (s->closed) luaL_error(L, "userapi.session: attempt to use a closed session");
  session_adopt(L, s);
  return s;
}

/* A session whose handle is free: not in the middle of its own transfer. */
static session *check_idle(lua_State *L, int idx) {
  session *s = check_session(L, idx);
  if (s->busy) luaL_error(L, "userapi.session: in use by a running request (called from its sink?)");
  return s;
}

static char *dup_opt(lua_State *L, int idx, const char *field) {
  size_t n;
  const char *v = opt_string(L, idx, field, &n);
  char *c;
  if (!v) return NULL;
  if (ua_has_crlf(v, n)) luaL_error(L, "bad field '%s' (contains CR, LF or NUL)", field);
  c = malloc(n + 1);
  if (!c) oom(L);
  memcpy(c, v, n + 1);
  return c;
}

/* Checks auth table idx and builds its header line (or query pair) into a
 * scratch buffer; only a complete, valid auth replaces the session's. */
static void set_auth(lua_State *L, int idx, session *s) {
  const char *scheme, *a, *b, *in = NULL;
  size_t sn, an, bn;
  ua_auth_scheme kind;
  ua_buf *next;
  int rc;
  if (lua_isnoneornil(L, idx)) {
    ua_buf_free_secret(&s->auth);
    s->scheme = UA_AUTH_NONE;
    return;
  }
  luaL_checktype(L, idx, LUA_TTABLE);
  scheme = opt_string(L, idx, "scheme", &sn);
  if (!scheme) luaL_error(L, "bad auth (field 'scheme' expected)");
  if (strcmp(scheme, "basic") == 0) {
    kind = UA_AUTH_BASIC;
    a = opt_string(L, idx, "user", &an);
    b = opt_string(L, idx, "password", &bn);
    if (!a || !b) luaL_error(L, "bad auth (basic needs 'user' and 'password' strings)");
    if (memchr(a, ':', an)) luaL_error(L, "bad auth (basic user must not contain ':')");
    if (ua_has_crlf(b, bn)) luaL_error(L, "bad auth (contains CR, LF or NUL)");
  } else if (strcmp(scheme, "bearer") == 0 || strcmp(scheme, "apikey") == 0) {
    int bearer = strcmp(scheme, "bearer") == 0;
    a = opt_string(L, idx, bearer ? "token" : "key", &an);
    b = NULL;
    bn = 0;
    if (!a || an == 0) luaL_error(L, "bad auth (%s needs a non-empty %s)", scheme, bearer ? "token" : "key");
    in = opt_string(L, idx, "in", &sn);
    if (bearer)
      kind = UA_AUTH_BEARER;
    else if (!in || strcmp(in, "header") == 0)
      kind = UA_AUTH_APIKEY_HEADER;
    else if (strcmp(in, "query") == 0)
      kind = UA_AUTH_APIKEY_QUERY;
    else
      return (void)luaL_error(L, "bad auth (field 'in' must be \"header\" or \"query\")");
  } else {
    luaL_error(L, "bad auth scheme '%s' (\"basic\", \"bearer\" or \"apikey\" expected)", scheme);
    return;
  }
  if (ua_has_crlf(a, an)) luaL_error(L, "bad auth (contains CR, LF or NUL)");
  next = scratch(L);
  switch (kind) {
  case UA_AUTH_BASIC: rc = ua_auth_basic(next, a, an, b, bn); break;
  case UA_AUTH_BEARER: rc = ua_auth_token(next, "Bearer", a, an); break;
  case UA_AUTH_APIKEY_HEADER: rc = ua_auth_token(next, "Apikey", a, an); break;
  default: rc = ua_buf_addstr(next, "apikey=") || ua_escape(next, a, an) || ua_buf_cstr(next); break;
  }
  if (rc) {
    ua_wipe(next->data, next->len);
    oom(L);
  }
  ua_buf_free_secret(&s->auth);
  s->auth = *next;  /* the session takes the bytes over */
  ua_buf_init(next, 0);
  s->scheme = kind;
  lua_pop(L, 1);
}

static void free_opts(ua_opts *o) {
  free(o->ca_file);
  free(o->proxy);
  free(o->user_agent);
  o->ca_file = o->proxy = o->user_agent = NULL;
}

static int l_session(lua_State *L) {
  session *s;
  int has_opts = !lua_isnoneornil(L, 1);
  if (has_opts) luaL_checktype(L, 1, LUA_TTABLE);
  s = lua_newuserdata(L, sizeof *s);
  memset(s, 0, sizeof *s);
  s->closed = 1; /* until fully built: __gc then frees only what exists */
  ua_transfer_init(&s->xfer);
  ua_buf_init(&s->auth, 0);
  luaL_getmetatable(L, SESSION_MT);
  lua_setmetatable(L, -2);
  s->pid = getpid();
  s->pool = pool_new();
  s->easy = curl_easy_init();
  if (!s->pool || !s->easy) return luaL_error(L, "userapi: cannot create a curl handle");
  s->xfer.easy = s->easy;
  s->opts.timeout_ms = 30000;
  s->opts.connect_timeout_ms = 10000;
  s->opts.verify_tls = 1;
  s->opts.max_body = 64u << 20;
  if (has_opts) {
    lua_Integer max;
    s->opts.timeout_ms = opt_ms(L, 1, "timeout_ms", s->opts.timeout_ms);
    s->opts.connect_timeout_ms = opt_ms(L, 1, "connect_timeout_ms", s->opts.connect_timeout_ms);
    rawfield(L, 1, "verify_tls");
    if (!lua_isnil(L, -1)) s->opts.verify_tls = lua_toboolean(L, -1);
    lua_pop(L, 1);
    max = opt_ms(L, 1, "max_body_bytes", (long)s->opts.max_body);
    s->opts.max_body = (size_t)max;
    s->opts.ca_file = dup_opt(L, 1, "ca_file");
    s->opts.proxy = dup_opt(L, 1, "proxy");
    s->opts.user_agent = dup_opt(L, 1, "user_agent");
    rawfield(L, 1, "auth");
    set_auth(L, lua_gettop(L), s);
    lua_pop(L, 1);
  }
  {
    /* sent as our own header line: curl would format its User-Agent with
     * its printf on every request, a tenth of a small call's cost */
    int top = lua_gettop(L);
    const char *ua = s->opts.user_agent ? s->opts.user_agent
                   : lua_pushfstring(L, "userapi/%s libcurl/%s", USERAPI_VERSION,
                                     curl_version_info(CURLVERSION_NOW)->version);
    ua = lua_pushfstring(L, "User-Agent: %s", ua);
    free(s->opts.user_agent);
    s->opts.user_agent = strdup(ua);
    lua_settop(L, top);
    if (!s->opts.user_agent) oom(L);
  }
  s->closed = 0;
  return 1;
}

static void session_free(session *s) {
  ua_transfer_free(&s->xfer);
  if (inherited(s->pid)) s->easy = NULL, s->pool = NULL; /* abandoned, see inherited() */
  if (s->easy) curl_easy_cleanup(s->easy);
  s->easy = NULL;
  pool_release(s->pool);
  s->pool = NULL;
  ua_buf_free_secret(&s->auth);
  free_opts(&s->opts);
  s->closed = 1;
}

static int l_session_close(lua_State *L) {
  session *s = luaL_checkudata(L, 1, SESSION_MT);
  if (s->busy) return luaL_error(L, "userapi.session: cannot close during its own request");
  if (s->easy || s->pool) session_free(s);
  return 0;
}

static int l_session_tostring(lua_State *L) {
  session *s = luaL_checkudata(L, 1, SESSION_MT);
  lua_pushfstring(L, SESSION_MT ": %p%s", (void *)s, s->closed ? " (closed)" : "");
  return 1;
}

static int l_session_set_auth(lua_State *L) {
  set_auth(L, 2, check_session(L, 1));
  return 0;
}

typedef struct sink_ctx {
  lua_State *L;
  int fn, err; /* stack slots: the sink function, and where its error goes */
  int raised;
} sink_ctx;

static int call_sink(void *ud, const char *p, size_t n) {
  sink_ctx *c = ud;
  lua_State *L = c->L;
  lua_pushvalue(L, c->fn);
  lua_pushlstring(L, p, n);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    c->raised = 1;
    lua_replace(L, c->err);
    return -1;
  }
  n = lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
  lua_pop(L, 1);
  return n ? -1 : 0;
}

/* session:request{ method, url, query, headers, body, timeout_ms, auth, sink }
 * -> status, body, headers | nil, err */
static int l_session_request(lua_State *L) {
  session *s = check_idle(L, 1);
  ua_transfer *t = &s->xfer;
  reqinfo ri;
  sink_ctx sink = { L, 0, 0, 0 };
  CURLcode rc;
  ua_transfer_clear(t);
  build_request(L, 2, s, t, &ri);
  lua_settop(L, 2);
  rawfield(L, 2, "sink");
  if (!lua_isnil(L, 3)) {
    luaL_checktype(L, 3, LUA_TFUNCTION);
    lua_pushnil(L);
    sink.fn = 3;
    sink.err = 4;
    t->sink = call_sink;
    t->sink_ctx = &sink;
  }
  rc = ua_transfer_prepare(t, &s->opts, s->pool->share, ri.method, ri.has_body, ri.timeout_ms);
  s->busy = 1;
  if (rc == CURLE_OK) rc = curl_easy_perform(s->easy);
  s->busy = 0;
  if (sink.raised) {
    ua_transfer_clear(t);
    return lua_error(L);
  }
  if (rc != CURLE_OK)
    push_transfer_error(L, t, rc);
  else
    push_response(L, t, ri.raw_headers);
  ua_transfer_clear(t);
  return rc == CURLE_OK ? 3 : 2;
}

/* ---- multi: many transfers at once on the session's pool -------------- */

/* In a child of the process that made m: abandons its curl handles (see
 * inherited()) for fresh ones. Transfers that were running at the fork end
 * with kind "aborted", reported by the next wait or read. */
static void multi_adopt(lua_State *L, multi *m) {
  int i, failed = 0;
  if (!inherited(m->pid)) return;
  m->pid = getpid();
  m->pool = NULL; /* the session hands its fresh pool to the next add */
  m->handle = curl_multi_init();
  if (m->handle) curl_multi_setopt(m->handle, CURLMOPT_MAXCONNECTS, 64L);
  failed = !m->handle;
  for (i = 0; i < m->nslots; i++) {
    ua_transfer *t = &m->slots[i]->xfer;
    t->easy = curl_easy_init();
    t->configured = 0;
    failed |= !t->easy;
    if (!m->slots[i]->active) continue;
    t->abandoned = t->done = 1;
    t->paused = 0;
    t->result = CURLE_ABORTED_BY_CALLBACK;
    snprintf(t->errbuf, sizeof t->errbuf, "transfer started before the process forked");
  }
  if (failed) luaL_error(L, "userapi: cannot create a curl handle");
}

static multi *check_multi(lua_State *L, int idx) {
  multi *m = luaL_checkudata(L, idx, MULTI_MT);
  if (m->closed) luaL_error(L, "userapi.multi: attempt to use a closed multi");
  multi_adopt(L, m);
  return m;
}

static int l_session_multi(lua_State *L) {
  session *s = check_idle(L, 1);
  multi *m = lua_newuserdata(L, sizeof *m);
  memset(m, 0, sizeof *m);
  m->closed = 1;
  m->session_ref = LUA_NOREF;
  m->pid = getpid();
  luaL_getmetatable(L, MULTI_MT);
  lua_setmetatable(L, -2);
  m->handle = curl_multi_init();
  if (!m->handle) return luaL_error(L, "userapi: cannot create a curl multi handle");
  curl_multi_setopt(m->handle, CURLMOPT_MAXCONNECTS, 64L);
  m->pool = s->pool;
  m->pool->refs++;
  lua_pushvalue(L, 1);
  m->session_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  m->next_id = 1;
  m->closed = 0;
  return 1;
}

static slot *free_slot(lua_State *L, multi *m) {
  int i;
  slot **grown, *sl;
  for (i = 0; i < m->nslots; i++)
    if (!m->slots[i]->active && m->slots[i]->xfer.easy) return m->slots[i];
  grown = realloc(m->slots, (size_t)(m->nslots + 1) * sizeof *grown);
  if (!grown) oom(L);
  m->slots = grown;
  sl = calloc(1, sizeof *sl);
  if (!sl) oom(L);
  ua_transfer_init(&sl->xfer);
  sl->xfer.easy = curl_easy_init();
  m->slots[m->nslots++] = sl;
  if (!sl->xfer.easy) oom(L);
  return sl;
}

static session *multi_session(lua_State *L, multi *m) {
  session *s;
  lua_rawgeti(L, LUA_REGISTRYINDEX, m->session_ref);
  s = check_idle(L, -1);
  lua_pop(L, 1);
  return s;
}

/* m:add(request) -> id; the transfer starts at the next m:wait. */
static int l_multi_add(lua_State *L) {
  multi *m = check_multi(L, 1);
  session *s = multi_session(L, m);
  slot *sl = free_slot(L, m);
  reqinfo ri;
  CURLcode rc;
  if (!m->pool) { /* abandoned at a fork: share the session's fresh one */
    m->pool = s->pool;
    m->pool->refs++;
  }
  ua_transfer_clear(&sl->xfer);
  build_request(L, 2, s, &sl->xfer, &ri);
  sl->raw_headers = ri.raw_headers;
  rawfield(L, 2, "sink");
  if (!lua_isnil(L, -1)) luaL_error(L, "bad field 'sink' (not supported by multi)");
  rawfield(L, 2, "stream");
  sl->xfer.stream = lua_toboolean(L, -1);
  rc = ua_transfer_prepare(&sl->xfer, &s->opts, s->pool->share, ri.method, ri.has_body, ri.timeout_ms);
  if (rc != CURLE_OK) return luaL_error(L, "userapi: %s", curl_easy_strerror(rc));
  curl_easy_setopt(sl->xfer.easy, CURLOPT_PRIVATE, sl);
  if (curl_multi_add_handle(m->handle, sl->xfer.easy) != CURLM_OK)
    return luaL_error(L, "userapi: cannot add a transfer");
  sl->active = 1;
  sl->id = m->next_id++;
  m->pending++;
  lua_pushinteger(L, sl->id);
  return 1;
}

static void multi_done(lua_State *L, multi *m, slot *sl, CURLcode rc) {
  int n;
  curl_multi_remove_handle(m->handle, sl->xfer.easy);
  if (sl->xfer.stream) {
    /* the reader collects what is left, and the outcome, with m:read */
    sl->xfer.done = 1;
    sl->xfer.result = rc;
    return;
  }
  sl->active = 0;
  m->pending--;
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, sl->id);
  lua_setfield(L, -2, "id");
  if (rc == CURLE_OK) {
    push_response(L, &sl->xfer, sl->raw_headers);
    lua_setfield(L, -4, "headers");
    lua_setfield(L, -3, "body");
    lua_setfield(L, -2, "status");
  } else {
    push_transfer_error(L, &sl->xfer, rc);
    lua_setfield(L, -3, "err");
    lua_pop(L, 1);
  }
  ua_transfer_clear(&sl->xfer);
  n = (int)lua_rawlen(L, -2);
  lua_rawseti(L, -2, n + 1);
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* True when a streamed transfer has something for m:read. */
static int stream_ready(const multi *m) {
  int i;
  for (i = 0; i < m->nslots; i++) {
    const ua_transfer *t = &m->slots[i]->xfer;
    if (m->slots[i]->active && t->stream && (t->body.len > 0 || t->done)) return 1;
  }
  return 0;
}

/* m:wait([timeout_ms]) -> array of finished transfers, each
 * { id, status, body, headers } or { id, err }; returns early when a streamed
 * transfer has data to read, empty on timeout. */
static int l_multi_wait(lua_State *L) {
  multi *m = check_multi(L, 1);
  lua_Integer wait_ms = luaL_optinteger(L, 2, 1000);
  long deadline;
  int i;
  /* clamped: now + a huge timeout must not overflow */
  if (wait_ms < 0) wait_ms = 0;
  if (wait_ms > 86400000) wait_ms = 86400000;
  deadline = now_ms() + (long)wait_ms;
  lua_newtable(L);
  for (i = 0; i < m->nslots; i++) /* transfers abandoned at a fork */
    if (m->slots[i]->active && m->slots[i]->xfer.abandoned && !m->slots[i]->xfer.stream)
      multi_done(L, m, m->slots[i], m->slots[i]->xfer.result);
  for (;;) {
    int running, left;
    long remaining;
    CURLMsg *msg;
    if (curl_multi_perform(m->handle, &running) != CURLM_OK)
      return luaL_error(L, "userapi: curl multi failed");
    while ((msg = curl_multi_info_read(m->handle, &left))) {
      slot *sl;
      if (msg->msg != CURLMSG_DONE) continue;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&sl);
      multi_done(L, m, sl, msg->data.result);
    }
    remaining = deadline - now_ms();
    if (lua_rawlen(L, -1) > 0 || m->pending == 0 || remaining <= 0 || stream_ready(m)) break;
    curl_multi_poll(m->handle, NULL, 0, (int)(remaining < 1000 ? remaining : 1000), NULL);
  }
  return 1;
}

/* m:read(id) -> chunk, done, status, headers | nil, err: drains what a
 * streamed transfer has received so far; wait() drives it meanwhile. */
static int l_multi_read(lua_State *L) {
  multi *m = check_multi(L, 1);
  lua_Integer id = luaL_checkinteger(L, 2);
  slot *sl = NULL;
  ua_transfer *t;
  int i;
  for (i = 0; i < m->nslots; i++)
    if (m->slots[i]->active && m->slots[i]->id == id && m->slots[i]->xfer.stream) sl = m->slots[i];
  if (!sl) return luaL_argerror(L, 2, "no streamed transfer with this id");
  t = &sl->xfer;
  if (t->done && t->result != CURLE_OK) {
    push_transfer_error(L, t, t->result);
  } else {
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    lua_pushlstring(L, t->body.data ? t->body.data : "", t->body.len);
    lua_pushboolean(L, t->done);
    lua_pushinteger(L, status);
    push_headers(L, &t->head);
  }
  ua_buf_reset(&t->body);
  if (t->paused && !t->done) {
    t->paused = 0;
    curl_easy_pause(t->easy, CURLPAUSE_CONT);
  }
  if (t->done) {
    int ok = t->result == CURLE_OK;
    ua_transfer_clear(t);
    sl->active = 0;
    m->pending--;
    return ok ? 4 : 2;
  }
  return 4;
}

static int l_multi_pending(lua_State *L) {
  lua_pushinteger(L, check_multi(L, 1)->pending);
  return 1;
}

static int l_multi_close(lua_State *L) {
  multi *m = luaL_checkudata(L, 1, MULTI_MT);
  int i;
  int abandon = inherited(m->pid); /* never clean up a parent's handles */
  if (abandon) m->handle = NULL, m->pool = NULL;
  for (i = 0; i < m->nslots; i++) {
    slot *sl = m->slots[i];
    if (abandon) sl->xfer.easy = NULL, sl->active = 0;
    if (sl->active) curl_multi_remove_handle(m->handle, sl->xfer.easy);
    ua_transfer_free(&sl->xfer);
    if (sl->xfer.easy) curl_easy_cleanup(sl->xfer.easy);
    free(sl);
  }
  free(m->slots);
  m->slots = NULL;
  m->nslots = m->pending = 0;
  if (m->handle) curl_multi_cleanup(m->handle);
  m->handle = NULL;
  pool_release(m->pool);
  m->pool = NULL;
  luaL_unref(L, LUA_REGISTRYINDEX, m->session_ref);
  m->session_ref = LUA_NOREF;
  m->closed = 1;
  return 0;
}

static int l_multi_tostring(lua_State *L) {
  multi *m = luaL_checkudata(L, 1, MULTI_MT);
  lua_pushfstring(L, MULTI_MT ": %p%s", (void *)m, m->closed ? " (closed)" : "");
  return 1;
}

/* ---- module functions ------------------------------------------------- */

/* core.escape(s): percent-encode everything but RFC 3986 unreserved bytes. */
static int l_escape(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  ua_buf b;
  ua_buf_init(&b, 0);
  if (ua_escape(&b, s, n)) {
    ua_buf_free(&b);
    oom(L);
  }
  lua_pushlstring(L, b.data ? b.data : "", b.len);
  ua_buf_free(&b);
  return 1;
}

/* core.url(base, query): base with the encoded, sorted query appended. */
static int l_url(lua_State *L) {
  size_t n;
  const char *base = luaL_checklstring(L, 1, &n);
  ua_buf *b;
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  b = scratch(L);
  if (ua_buf_add(b, base, n)) oom(L);
  if (!lua_isnoneornil(L, 2)) add_query(L, 2, b);
  lua_pushlstring(L, b->data, b->len);
  return 1;
}

/* core.sleep(ms): a blocking sleep for plain Lua (nginx uses ngx.sleep).
 * NaN and infinity raise: converting them to time_t is undefined, and a
 * nanosleep refused with EINVAL must not be retried forever. */
static int l_sleep(lua_State *L) {
  lua_Number ms = luaL_checknumber(L, 1);
  struct timespec ts;
  luaL_argcheck(L, ms == ms && ms <= 1e15, 1, "milliseconds expected (a finite number)");
  if (ms <= 0) return 0;
  ts.tv_sec = (time_t)(ms / 1000);
  ts.tv_nsec = (long)((ms - (lua_Number)ts.tv_sec * 1000) * 1e6);
  if (ts.tv_nsec < 0) ts.tv_nsec = 0;
  if (ts.tv_nsec > 999999999L) ts.tv_nsec = 999999999L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
  return 0;
}

/* core.now(): monotonic milliseconds, for backoff and rate limits. */
static int l_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec * 1000 + (lua_Number)ts.tv_nsec / 1e6);
  return 1;
}

static const luaL_Reg session_methods[] = {
  { "request", l_session_request }, { "multi", l_session_multi },
  { "set_auth", l_session_set_auth }, { "close", l_session_close },
  { NULL, NULL } };

static const luaL_Reg multi_methods[] = {
  { "add", l_multi_add }, { "wait", l_multi_wait }, { "read", l_multi_read },
  { "pending", l_multi_pending },
  { "close", l_multi_close }, { NULL, NULL } };

static const luaL_Reg functions[] = {
  { "session", l_session }, { "escape", l_escape }, { "url", l_url },
  { "sleep", l_sleep }, { "now", l_now }, { "parse_headers", l_parse_headers }, { NULL, NULL } };

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods,
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

int luaopen_userapi_core(lua_State *L) {
  static int initialized;
  if (!initialized) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      return luaL_error(L, "userapi: curl_global_init failed");
    /* a peer closing early must give an error, not end the process */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
    initialized = 1;
  }
  new_class(L, SESSION_MT, session_methods, l_session_close, l_session_tostring);
  new_class(L, MULTI_MT, multi_methods, l_multi_close, l_multi_tostring);
  luaL_newmetatable(L, SCRATCH_MT);
  lua_pushcfunction(L, scratch_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, ERROR_MT);
  lua_pushcfunction(L, error_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  luaL_newlib(L, functions);
  lua_pushliteral(L, USERAPI_VERSION);
  lua_setfield(L, -2, "_VERSION");
  lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
  lua_setfield(L, -2, "curl_version");
  return 1;
}
