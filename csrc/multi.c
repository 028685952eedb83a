/* userapi.multi: many transfers at once on a session's pool, each reported
 * by id; a streamed transfer is drained by its reader (m:read). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

typedef struct slot {
  ua_transfer xfer;
  lua_Integer id;
  int active, raw_headers;
} slot;

typedef struct multi {
  CURLM *handle;
  ua_pool *pool;
  int session_ref;
  slot **slots;
  int nslots, pending;
  lua_Integer next_id;
  pid_t pid; /* the process that made handle and the slots' easy handles */
  int closed;
} multi;

/* In a child of the process that made m: abandons its curl handles (see
 * ua_inherited()) for fresh ones. Transfers that were running at the fork end
 * with kind "aborted", reported by the next wait or read. */
static void multi_adopt(lua_State *L, multi *m) {
  int i, failed = 0;
  if (!ua_inherited(m->pid)) return;
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

/* session:multi() -> a multi on the session's pool */
static int l_multi_new(lua_State *L) {
  session *s = ua_check_idle(L, 1);
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
  if (!grown) ua_oom(L);
  m->slots = grown;
  sl = calloc(1, sizeof *sl);
  if (!sl) ua_oom(L);
  ua_transfer_init(&sl->xfer);
  sl->xfer.easy = curl_easy_init();
  m->slots[m->nslots++] = sl;
  if (!sl->xfer.easy) ua_oom(L);
  return sl;
}

static session *multi_session(lua_State *L, multi *m) {
  session *s;
  lua_rawgeti(L, LUA_REGISTRYINDEX, m->session_ref);
  s = ua_check_idle(L, -1);
  lua_pop(L, 1);
  return s;
}

/* m:add(request) -> id; the transfer starts at the next m:wait. */
static int l_multi_add(lua_State *L) {
  multi *m = check_multi(L, 1);
  session *s = multi_session(L, m);
  slot *sl = free_slot(L, m);
  ua_reqinfo ri;
  CURLcode rc;
  if (!m->pool) { /* abandoned at a fork: share the session's fresh one */
    m->pool = s->pool;
    m->pool->refs++;
  }
  ua_transfer_clear(&sl->xfer);
  ua_build_request(L, 2, s, &sl->xfer, &ri);
  sl->raw_headers = ri.raw_headers;
  ua_rawfield(L, 2, "sink");
  if (!lua_isnil(L, -1)) luaL_error(L, "bad field 'sink' (not supported by multi)");
  ua_rawfield(L, 2, "stream");
  sl->xfer.stream = lua_toboolean(L, -1);
  rc = ua_transfer_prepare(&sl->xfer, &s->opts, s->pool->share, &ri.req);
  if (rc != CURLE_OK && sl->xfer.unsent) {
    /* reported as its outcome by the next wait (or read), never started */
    sl->xfer.done = 1;
    sl->xfer.result = rc;
    sl->active = 1;
    sl->id = m->next_id++;
    m->pending++;
    lua_pushinteger(L, sl->id);
    return 1;
  }
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
    ua_push_response(L, &sl->xfer, sl->raw_headers);
    if (lua_toboolean(L, -1)) lua_setfield(L, -5, "rate_limit_headers"); else lua_pop(L, 1);
    lua_setfield(L, -4, "headers");
    lua_setfield(L, -3, "body");
    lua_setfield(L, -2, "status");
  } else {
    ua_push_transfer_error(L, &sl->xfer, rc);
    lua_setfield(L, -3, "err");
    lua_pop(L, 1);
  }
  ua_transfer_clear(&sl->xfer);
  n = (int)lua_rawlen(L, -2);
  lua_rawseti(L, -2, n + 1);
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
  deadline = ua_now_ms() + (long)wait_ms;
  lua_newtable(L);
  for (i = 0; i < m->nslots; i++) /* transfers abandoned at a fork, or never started */
    if (m->slots[i]->active && (m->slots[i]->xfer.abandoned || m->slots[i]->xfer.unsent) &&
        !m->slots[i]->xfer.stream)
      multi_done(L, m, m->slots[i], m->slots[i]->xfer.result);
  for (;;) {
    int running, left;
    long remaining;
    CURLMsg *msg;
    ua_sigpipe guard;
    CURLMcode mc;
    ua_sigpipe_ignore(&guard);
    mc = curl_multi_perform(m->handle, &running);
    ua_sigpipe_restore(&guard);
    if (mc != CURLM_OK) return luaL_error(L, "userapi: curl multi failed");
    while ((msg = curl_multi_info_read(m->handle, &left))) {
      slot *sl;
      if (msg->msg != CURLMSG_DONE) continue;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&sl);
      multi_done(L, m, sl, msg->data.result);
    }
    remaining = deadline - ua_now_ms();
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
    ua_push_transfer_error(L, t, t->result);
  } else {
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    lua_pushlstring(L, t->body.data ? t->body.data : "", t->body.len);
    lua_pushboolean(L, t->done);
    lua_pushinteger(L, status);
    ua_push_headers(L, &t->head);
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
  int abandon = ua_inherited(m->pid); /* never clean up a parent's handles */
  ua_sigpipe guard;
  if (abandon) m->handle = NULL, m->pool = NULL;
  ua_sigpipe_ignore(&guard);
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
  ua_sigpipe_restore(&guard);
  m->handle = NULL;
  ua_pool_release(m->pool);
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

static const luaL_Reg multi_methods[] = {
  { "add", l_multi_add }, { "wait", l_multi_wait }, { "read", l_multi_read },
  { "pending", l_multi_pending },
  { "close", l_multi_close }, { NULL, NULL } };

/* The session class (opened before) gets its multi() here, so session.c
 * needs nothing of this file. */
void ua_multi_open(lua_State *L) {
  ua_new_class(L, MULTI_MT, multi_methods, l_multi_close, l_multi_tostring);
  luaL_getmetatable(L, SESSION_MT);
  lua_getfield(L, -1, "__index");
  lua_pushcfunction(L, l_multi_new);
  lua_setfield(L, -2, "multi");
  lua_pop(L, 2);
}
