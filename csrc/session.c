/* userapi.session: a curl easy handle with its options and auth, on a
 * pool of connections its multis share; request() blocks until the answer. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "url.h"

/* In a child of the process that made s: abandons its curl handles (see
 * ua_inherited()) and gives it fresh ones. */
static void session_adopt(lua_State *L, session *s) {
  if (!ua_inherited(s->pid)) return;
  ua_transfer_clear(&s->xfer);
  s->easy = s->xfer.easy = NULL;
  s->pool = NULL;
  s->xfer.configured = 0;
  s->pid = getpid();
  s->pool = ua_pool_new();
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
session *ua_check_idle(lua_State *L, int idx) {
  session *s = check_session(L, idx);
  if (s->busy) luaL_error(L, "userapi.session: in use by a running request (called from its sink?)");
  return s;
}

static char *dup_opt(lua_State *L, int idx, const char *field) {
  size_t n;
  const char *v = ua_opt_string(L, idx, field, &n);
  char *c;
  if (!v) return NULL;
  if (ua_splits_line(v, n)) luaL_error(L, "bad field '%s' (contains CR, LF or NUL)", field);
  c = malloc(n + 1);
  if (!c) ua_oom(L);
  memcpy(c, v, n + 1);
  return c;
}

/* A credential with a control byte would end or bend the header line it
 * travels in (CR, LF, NUL), or be read differently by the vendor (TAB, VT,
 * DEL): refused, the secret never echoed. */
#define BAD_SECRET "bad auth (contains CR, LF, NUL or another control byte)"

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
  scheme = ua_opt_string(L, idx, "scheme", &sn);
  if (!scheme) luaL_error(L, "bad auth (field 'scheme' expected)");
  if (strcmp(scheme, "basic") == 0) {
    kind = UA_AUTH_BASIC;
    a = ua_opt_string(L, idx, "user", &an);
    b = ua_opt_string(L, idx, "password", &bn);
    if (!a || !b) luaL_error(L, "bad auth (basic needs 'user' and 'password' strings)");
    if (memchr(a, ':', an)) luaL_error(L, "bad auth (basic user must not contain ':')");
    if (ua_has_control(b, bn)) luaL_error(L, BAD_SECRET);
  } else if (strcmp(scheme, "bearer") == 0 || strcmp(scheme, "apikey") == 0) {
    int bearer = strcmp(scheme, "bearer") == 0;
    a = ua_opt_string(L, idx, bearer ? "token" : "key", &an);
    b = NULL;
    bn = 0;
    if (!a || an == 0) luaL_error(L, "bad auth (%s needs a non-empty %s)", scheme, bearer ? "token" : "key");
    in = ua_opt_string(L, idx, "in", &sn);
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
  if (ua_has_control(a, an)) luaL_error(L, BAD_SECRET);
  next = ua_scratch(L);
  ua_buf_secret(next);
  switch (kind) {
  case UA_AUTH_BASIC: rc = ua_auth_basic(next, a, an, b, bn); break;
  case UA_AUTH_BEARER: rc = ua_auth_token(next, "Bearer", a, an); break;
  case UA_AUTH_APIKEY_HEADER: rc = ua_auth_token(next, "Apikey", a, an); break;
  default: rc = ua_buf_addstr(next, "apikey=") || ua_escape(next, a, an) || ua_buf_cstr(next); break;
  }
  if (rc) {
    ua_wipe(next->data, next->len);
    ua_oom(L);
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
  free(o->user_agent_line);
  o->ca_file = o->proxy = o->user_agent_line = NULL;
}

int ua_session_new(lua_State *L) {
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
  s->pool = ua_pool_new();
  s->easy = curl_easy_init();
  if (!s->pool || !s->easy) return luaL_error(L, "userapi: cannot create a curl handle");
  s->xfer.easy = s->easy;
  s->opts.timeout_ms = 30000;
  s->opts.connect_timeout_ms = 10000;
  s->opts.verify_tls = 1;
  s->opts.max_body = 64u << 20;
  if (has_opts) {
    lua_Integer max;
    s->opts.timeout_ms = ua_opt_nonneg(L, 1, "timeout_ms", s->opts.timeout_ms);
    s->opts.connect_timeout_ms = ua_opt_nonneg(L, 1, "connect_timeout_ms", s->opts.connect_timeout_ms);
    s->opts.idle_timeout_ms = ua_opt_nonneg(L, 1, "idle_timeout_ms", 0);
    ua_rawfield(L, 1, "verify_tls");
    if (!lua_isnil(L, -1)) s->opts.verify_tls = lua_toboolean(L, -1);
    lua_pop(L, 1);
    max = ua_opt_nonneg(L, 1, "max_body_bytes", (long)s->opts.max_body);
    s->opts.max_body = (size_t)max;
    s->opts.ca_file = dup_opt(L, 1, "ca_file");
    s->opts.proxy = dup_opt(L, 1, "proxy");
    s->opts.proxy_problem = ua_proxy_problem(s->opts.proxy);
    s->opts.user_agent_line = dup_opt(L, 1, "user_agent");
    ua_rawfield(L, 1, "auth");
    set_auth(L, lua_gettop(L), s);
    lua_pop(L, 1);
  }
  {
    /* sent as our own header line: curl would format its User-Agent with
     * its printf on every request, a tenth of a small call's cost */
    int top = lua_gettop(L);
    const char *ua = s->opts.user_agent_line ? s->opts.user_agent_line
                   : lua_pushfstring(L, "userapi/%s libcurl/%s", USERAPI_VERSION,
                                     curl_version_info(CURLVERSION_NOW)->version);
    ua = lua_pushfstring(L, "User-Agent: %s", ua);
    free(s->opts.user_agent_line);
    s->opts.user_agent_line = strdup(ua);
    lua_settop(L, top);
    if (!s->opts.user_agent_line) ua_oom(L);
  }
  s->closed = 0;
  return 1;
}

static void session_free(session *s) {
  ua_transfer_free(&s->xfer);
  if (ua_inherited(s->pid)) s->easy = NULL, s->pool = NULL; /* abandoned, see ua_inherited() */
  if (s->easy) {
    ua_sigpipe guard;
    ua_sigpipe_ignore(&guard);
    curl_easy_cleanup(s->easy);
    ua_sigpipe_restore(&guard);
  }
  s->easy = NULL;
  ua_pool_release(s->pool);
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
 * -> status, body, headers, rate_limited_headers | nil, err */
static int l_session_request(lua_State *L) {
  session *s = ua_check_idle(L, 1);
  ua_transfer *t = &s->xfer;
  ua_reqinfo ri;
  sink_ctx sink = { L, 0, 0, 0 };
  CURLcode rc;
  ua_transfer_clear(t);
  ua_build_request(L, 2, s, t, &ri);
  lua_settop(L, 2);
  ua_rawfield(L, 2, "sink");
  if (!lua_isnil(L, 3)) {
    luaL_checktype(L, 3, LUA_TFUNCTION);
    lua_pushnil(L);
    sink.fn = 3;
    sink.err = 4;
    t->sink = call_sink;
    t->sink_ctx = &sink;
  }
  rc = ua_transfer_prepare(t, &s->opts, s->pool->share, &ri.req);
  s->busy = 1;
  if (rc == CURLE_OK) {
    ua_sigpipe guard;
    ua_sigpipe_ignore(&guard);
    rc = curl_easy_perform(s->easy);
    ua_sigpipe_restore(&guard);
  }
  s->busy = 0;
  if (sink.raised) {
    ua_transfer_clear(t);
    return lua_error(L);
  }
  if (rc != CURLE_OK)
    ua_push_transfer_error(L, t, rc);
  else
    ua_push_response(L, t, ri.raw_headers);
  ua_transfer_clear(t);
  return rc == CURLE_OK ? 4 : 2;
}

static const luaL_Reg session_methods[] = {
  { "request", l_session_request },
  { "set_auth", l_session_set_auth }, { "close", l_session_close },
  { NULL, NULL } };

void ua_session_open(lua_State *L) {
  ua_new_class(L, SESSION_MT, session_methods, l_session_close, l_session_tostring);
}
