#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "transfer.h"

void ua_transfer_init(ua_transfer *t) {
  memset(t, 0, sizeof *t);
  ua_buf_init(&t->url, 0);
  ua_buf_init(&t->reqbody, 0);
  /* an API key in the query, a client secret in a token request's form. Not
   * the response body: a token answer is handed to Lua as a string, a copy
   * no C code can wipe, and wiping every large body would cost for nothing */
  ua_buf_secret(&t->url);
  ua_buf_secret(&t->reqbody);
  ua_buf_init(&t->lines, 0);
  ua_buf_secret(&t->lines);
  ua_buf_init(&t->body, 0);
  ua_buf_init(&t->head, 1 << 20);
  ua_buf_init(&t->origin, 0);
}

/* Keeps a buffer's memory for the next request unless it grew large. */
static void recycle(ua_buf *b) {
  if (b->secret && b->data) ua_wipe(b->data, b->len);
  if (b->cap > (1u << 20)) ua_buf_free(b); else ua_buf_reset(b);
}

void ua_transfer_clear(ua_transfer *t) {
  t->headers = NULL;
  t->nnodes = 0;
  recycle(&t->lines); /* wiped: the Authorization line is among them */
  recycle(&t->url);
  recycle(&t->reqbody);
  recycle(&t->body);
  recycle(&t->head);
  t->sink = NULL;
  t->sink_ctx = NULL;
  t->too_large = t->sink_failed = t->abandoned = 0;
  t->err_bytes = 0;
  t->idle_ms = t->last_byte = 0;
  t->idle_expired = 0;
  t->stream = t->paused = t->done = 0;
  t->head_done = t->rate_headers = 0;
  t->proxy_refused = t->unsent = 0;
  t->result = CURLE_OK;
  t->errbuf[0] = '\0';
}

void ua_transfer_free(ua_transfer *t) {
  ua_transfer_clear(t);
  ua_buf_free(&t->url);
  ua_buf_free(&t->reqbody);
  ua_buf_free(&t->body);
  ua_buf_free(&t->head);
  ua_buf_free(&t->origin);
  ua_buf_free(&t->lines);
  free(t->nodes);
  t->nodes = NULL;
  t->node_cap = 0;
  curl_url_cleanup(t->curlu);
  t->curlu = NULL;
}

int ua_header_add(ua_transfer *t, const char *name, size_t nn, const char *sep, const char *value, size_t vn) {
  size_t i;
  if (t->nnodes == t->node_cap) {
    size_t cap = t->node_cap ? t->node_cap * 2 : 8;
    ua_header_node *grown = realloc(t->nodes, cap * sizeof *grown);
    if (!grown) return -1;
    t->nodes = grown;
    t->node_cap = cap;
  }
  t->nodes[t->nnodes].offset = t->lines.len;
  if (ua_buf_add(&t->lines, name, nn) || ua_buf_addstr(&t->lines, sep) || ua_buf_add(&t->lines, value, vn) ||
      ua_buf_addc(&t->lines, '\0'))
    return -1;
  t->nnodes++;
  /* the nodes or the text may have moved as they grew: linked afresh */
  for (i = 0; i < t->nnodes; i++) {
    t->nodes[i].line.data = t->lines.data + t->nodes[i].offset;
    t->nodes[i].line.next = i + 1 < t->nnodes ? &t->nodes[i + 1].line : NULL;
  }
  t->headers = &t->nodes[0].line;
  return 0;
}

static int is_2xx(const ua_transfer *t) {
  long status = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  return status >= 200 && status < 300;
}

/* SIGPIPE. A write to a socket whose peer has gone raises SIGPIPE, which
 * ends the process unless it is ignored or handled. The core never changes
 * the host's disposition for good: a command must still die quietly when
 * its stdout closes (`| head`). libcurl's own socket writes use MSG_NOSIGNAL,
 * but a TLS library's may not (OpenSSL before curl's own BIO), nor a TLS
 * shutdown at cleanup. libcurl can guard its calls itself (CURLOPT_NOSIGNAL
 * off), but that costs six sigaction calls per request, each handle of a
 * multi included, and lets a synchronous resolver time DNS out with SIGALRM,
 * which would disturb hosts with timers of their own (nginx). So NOSIGNAL
 * stays on, and the core guards each call that may write (perform, cleanup):
 * one sigaction to read the disposition; only where it is the default (a
 * command) is SIGPIPE ignored for the call and the default put back after.
 * A host that ignores it (nginx, LuaSocket) or handles it keeps its own. In
 * a threaded host another thread could see SIGPIPE ignored for that while. */
void ua_sigpipe_ignore(ua_sigpipe *g) {
  struct sigaction ign;
  g->active = 0;
  if (sigaction(SIGPIPE, NULL, &g->old) != 0) return;
  if ((g->old.sa_flags & SA_SIGINFO) || g->old.sa_handler != SIG_DFL) return;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  g->active = sigaction(SIGPIPE, &ign, NULL) == 0;
}

void ua_sigpipe_restore(ua_sigpipe *g) {
  if (g->active) sigaction(SIGPIPE, &g->old, NULL);
}

long ua_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  ua_transfer *t = ud;
  size_t len = size * n;
  if (t->idle_ms) t->last_byte = ua_now_ms();
  if (t->sink && is_2xx(t)) {
    if (t->sink(t->sink_ctx, p, len)) {
      t->sink_failed = 1;
      return 0;
    }
    return len;
  }
  if (t->stream && t->body.len >= UA_STREAM_HWM) {
    t->paused = 1;
    return CURL_WRITEFUNC_PAUSE;
  }
  /* a stream's reader keeps an error body whole (it is the message): it is
   * capped like a buffered body, however fast the reader drains it */
  if (t->stream && t->max_body && !is_2xx(t)) {
    if (len > t->max_body - t->err_bytes) {
      t->too_large = UA_TOO_LARGE_BODY;
      return 0;
    }
    t->err_bytes += len;
  }
  if (ua_buf_add(&t->body, p, len)) {
    t->too_large = UA_TOO_LARGE_BODY;
    return 0;
  }
  return len;
}

/* Whether a header line names a rate limit: RateLimit-*, X-RateLimit-*,
 * X-Rate-Limit-... (a name holding "ratelimit", any case) or Retry-After.
 * The Lua layer then parses the block only when it holds one. */
static int names_rate_limit(const char *p, size_t len) {
  const char *colon = memchr(p, ':', len);
  size_t n = colon ? (size_t)(colon - p) : 0, i;
  if (n == 11 && strncasecmp(p, "retry-after", 11) == 0) return 1;
  for (i = 0; i + 9 <= n; i++)
    if ((p[i] | 0x20) == 'r' && strncasecmp(p + i, "ratelimit", 9) == 0) return 1;
  return 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  ua_transfer *t = ud;
  size_t len = size * n;
  if (t->idle_ms) t->last_byte = ua_now_ms();
  /* a new status line (after 100 Continue or a proxy CONNECT) starts over */
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    ua_buf_reset(&t->head);
    t->head_done = t->rate_headers = 0;
  } else if (!t->head_done && !t->rate_headers) {
    t->rate_headers = names_rate_limit(p, len);
  }
  /* chunked trailers come through here too: they are not headers */
  if (t->head_done) return len;
  if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) t->head_done = 1;
  if (ua_buf_add(&t->head, p, len)) {
    t->too_large = UA_TOO_LARGE_HEAD;
    return 0;
  }
  return len;
}

/* Ends a transfer on which no byte came for idle_ms. curl's LOW_SPEED_*
 * options average the rate over several seconds (the request's own upload
 * counts), so they cannot say "nothing for 1 s". curl calls this at least
 * once a second while a transfer waits, and more often while bytes flow. A
 * stream paused for its reader is waiting on us, not on the server. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
  ua_transfer *t = ud;
  if (t->paused || ua_now_ms() - t->last_byte < t->idle_ms) return 0;
  t->idle_expired = 1;
  return 1;
}

/* Options that stay the same for every request of a handle: set once, as a
 * reset and a full set per request cost more than the rest of the call. */
static CURLcode configure(ua_transfer *t, const ua_opts *o, CURLSH *share) {
  CURL *e = t->easy;
  CURLcode rc = CURLE_OK;
  curl_easy_reset(e);
#define SET(opt, val) if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val)
  SET(CURLOPT_SHARE, share);
  /* no signals from libcurl (SIGALRM for DNS); SIGPIPE: see ua_sigpipe_ignore */
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_MAXCONNECTS, 64L);
  SET(CURLOPT_TCP_NODELAY, 1L);
  SET(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
  SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  SET(CURLOPT_ERRORBUFFER, t->errbuf);
  SET(CURLOPT_WRITEFUNCTION, on_body);
  SET(CURLOPT_WRITEDATA, t);
  SET(CURLOPT_HEADERFUNCTION, on_header);
  SET(CURLOPT_HEADERDATA, t);
  SET(CURLOPT_XFERINFOFUNCTION, on_progress);
  SET(CURLOPT_XFERINFODATA, t);
  SET(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
  SET(CURLOPT_SSL_VERIFYPEER, (long)o->verify_tls);
  SET(CURLOPT_SSL_VERIFYHOST, o->verify_tls ? 2L : 0L);
  if (o->ca_file) SET(CURLOPT_CAINFO, o->ca_file);
  /* The proxy option is the only route, as under cosockets: "" keeps curl
   * from reading http_proxy/https_proxy from the environment, and an empty
   * NOPROXY keeps no_proxy from sending a call around the client's proxy. */
  SET(CURLOPT_PROXY, o->proxy ? o->proxy : "");
  SET(CURLOPT_NOPROXY, "");
  if (rc == CURLE_OK) t->configured = 1;
  return rc;
}

/* The length of "scheme://authority" at the start of url, or 0 when it has
 * no "://" (libcurl then guesses the scheme: parsed whole). */
static size_t origin_length(const char *url, size_t len) {
  const char *sep = strstr(url, "://");
  if (!sep) return 0;
  sep += 3;
  return (size_t)(sep - url) + strcspn(sep, "/?#");
}

/* What setting path and query on their own would send differently from
 * parsing the whole URL: libcurl lower-cases each %XX when a part is set
 * alone (%3B -> %3b), and only a whole parse removes dot segments (/./, /../)
 * and a fragment. Such a URL is parsed whole, as CURLOPT_URL would. */
static int parts_differ(const char *rest) {
  return strpbrk(rest, "%#") != NULL || strstr(rest, "/.") != NULL;
}

/* Points t->curlu at t->url: path and query alone when the origin is the
 * one it holds (most calls: one session, one vendor), else a whole parse
 * with the flags libcurl gives CURLOPT_URL. A URL it cannot parse is the
 * transfer's error, "url" as libcurl would have said at perform. */
static CURLcode set_url(ua_transfer *t) {
  const char *url = t->url.data;
  size_t olen = origin_length(url, t->url.len);
  const char *rest = url + olen, *q;
  CURLUcode uc;
  if (!t->curlu && !(t->curlu = curl_url())) return CURLE_OUT_OF_MEMORY;
  if (olen > 0 && olen == t->origin.len && memcmp(url, t->origin.data, olen) == 0 && !parts_differ(rest)) {
    char path[2048];
    size_t plen;
    q = strchr(rest, '?');
    plen = q ? (size_t)(q - rest) : strlen(rest);
    if (plen < sizeof path) {
      memcpy(path, rest, plen);
      path[plen] = '\0';
      uc = curl_url_set(t->curlu, CURLUPART_PATH, plen ? path : "/", 0);
      if (uc == CURLUE_OK) uc = curl_url_set(t->curlu, CURLUPART_QUERY, q ? q + 1 : NULL, 0);
      if (uc == CURLUE_OK) return CURLE_OK;
    }
  }
  ua_buf_reset(&t->origin);
  uc = curl_url_set(t->curlu, CURLUPART_URL, url, CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME);
  if (uc != CURLUE_OK) {
    t->unsent = 1;
#if LIBCURL_VERSION_NUM >= 0x075000 /* 7.80 */
    snprintf(t->errbuf, sizeof t->errbuf, "URL rejected: %s", curl_url_strerror(uc));
#else
    snprintf(t->errbuf, sizeof t->errbuf, "URL rejected (CURLUcode %d)", (int)uc);
#endif
    return uc == CURLUE_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_URL_MALFORMAT;
  }
  if (olen > 0 && (ua_buf_add(&t->origin, url, olen) || ua_buf_cstr(&t->origin))) ua_buf_reset(&t->origin);
  return CURLE_OK;
}

/* A proxy libcurl refuses makes every request of the session fail, kind
 * "proxy", before any option is set: never a direct connection, and never
 * libcurl's own message, which quotes the URL, password and all. */
static CURLcode refuse_proxy(ua_transfer *t, const char *problem) {
  t->proxy_refused = t->unsent = 1;
  snprintf(t->errbuf, sizeof t->errbuf, "proxy URL refused (%s); nothing sent", problem);
  return CURLE_COULDNT_RESOLVE_PROXY;
}

/* libcurl's proxy schemes (lib/url.c, parse_proxy), any case */
static int proxy_scheme(const char *s) {
  static const char *const known[] = { "http", "https", "socks", "socks4", "socks4a", "socks5", "socks5h", NULL };
  int i;
  for (i = 0; known[i]; i++)
    if (strcasecmp(s, known[i]) == 0) return 1;
  return 0;
}

const char *ua_proxy_problem(const char *proxy) {
  CURLU *u;
  char *scheme = NULL, *host = NULL, *port = NULL;
  const char *problem = NULL;
  if (!proxy || !*proxy) return NULL; /* no proxy */
  u = curl_url();
  if (!u) return "out of memory";
  if (curl_url_set(u, CURLUPART_URL, proxy, CURLU_NON_SUPPORT_SCHEME | CURLU_GUESS_SCHEME) != CURLUE_OK)
    problem = "not a URL libcurl can parse: host, port or characters";
  else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK || !proxy_scheme(scheme))
    problem = "scheme http, https, socks4, socks4a, socks5 or socks5h expected";
  else if (strcasecmp(scheme, "https") == 0 && !(curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTPS_PROXY))
    problem = "this libcurl has no HTTPS-proxy support";
  else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host)
    problem = "no host";
  else if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && strtol(port, NULL, 10) < 1)
    problem = "port 1..65535 expected";
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  return problem;
}

CURLcode ua_transfer_prepare(ua_transfer *t, const ua_opts *o, CURLSH *share, const ua_req *r) {
  CURL *e = t->easy;
  CURLcode rc = o->proxy_problem ? refuse_proxy(t, o->proxy_problem)
              : t->configured ? CURLE_OK : configure(t, o, share);
  const char *method = r->method;
  int get = strcmp(method, "GET") == 0, head = strcmp(method, "HEAD") == 0;
  int post = strcmp(method, "POST") == 0, sends_length = ua_sends_length(method);
  long idle_ms = r->idle_timeout_ms > 0 ? r->idle_timeout_ms : o->idle_timeout_ms;
  /* a stream's 2xx body is bounded by its reader, its error body by on_body */
  t->body.limit = t->stream ? 0 : o->max_body;
  t->max_body = o->max_body;
  if (rc == CURLE_OK) rc = set_url(t);
  SET(CURLOPT_CURLU, t->curlu);
  SET(CURLOPT_HTTPHEADER, t->headers);
  /* one deadline for the whole exchange, a stream's or a sink's included */
  SET(CURLOPT_TIMEOUT_MS, r->timeout_ms > 0 ? r->timeout_ms : o->timeout_ms);
  t->idle_ms = idle_ms > 0 ? idle_ms : 0;
  t->last_byte = ua_now_ms();
  SET(CURLOPT_NOPROGRESS, t->idle_ms ? 0L : 1L);
  /* a sink or a stream is bounded by its reader, not by a total size */
  SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(o->max_body && !t->stream && !t->sink ? o->max_body : 0));
  /* HTTPGET also undoes the POST and NOBODY of an earlier request */
  SET(CURLOPT_HTTPGET, 1L);
  SET(CURLOPT_NOBODY, head ? 1L : 0L);
  SET(CURLOPT_CUSTOMREQUEST, (get || head || post) ? NULL : method);
  if (r->has_body || sends_length) {
    /* a bodiless POST, PUT or PATCH still says Content-Length: 0, as servers expect */
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->reqbody.len);
    SET(CURLOPT_POSTFIELDS, t->reqbody.len ? t->reqbody.data : "");
  }
#undef SET
  return rc;
}

const char *ua_transfer_kind(const ua_transfer *t, CURLcode rc) {
  if (t->proxy_refused) return "proxy";
  if (t->too_large || rc == CURLE_FILESIZE_EXCEEDED) return "too_large";
  if (t->idle_expired) return "timeout";
  if (t->sink_failed || t->abandoned) return "aborted";
  switch (rc) {
  case CURLE_OPERATION_TIMEDOUT: return "timeout";
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY: return "resolve";
  case CURLE_COULDNT_CONNECT: return "connect";
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH: return "tls";
  case CURLE_SEND_ERROR: return "send";
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE: return "recv";
  case CURLE_WEIRD_SERVER_REPLY: return "protocol";
  case CURLE_UNSUPPORTED_PROTOCOL: {
    /* after connecting it is the server's answer that was not HTTP (curl
     * calls it HTTP/0.9), not the caller's URL */
    char *ip = NULL;
    if (curl_easy_getinfo(t->easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip && *ip) return "protocol";
    return "url";
  }
  case CURLE_URL_MALFORMAT: return "url";
  case CURLE_OUT_OF_MEMORY:
    /* curl caps a header line (100 kB) and says "out of memory" past it */
    return t->head.len > 0 && !t->head_done ? "too_large" : "memory";
  default: return "curl";
  }
}

int ua_header_next(const char *head, size_t len, size_t *pos, ua_span *name, ua_span *value) {
  const char *end = head + len, *p;
  if (!head) return 0;
  if (*pos == 0) {
    const char *nl = memchr(head, '\n', len);
    if (!nl) return 0;
    *pos = (size_t)(nl - head) + 1;
  }
  while (*pos < len) {
    const char *eol, *colon, *v, *ve;
    p = head + *pos;
    eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    *pos = (size_t)(eol - head) + (eol < end);
    colon = memchr(p, ':', (size_t)(eol - p));
    if (!colon || colon == p) continue;
    for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++) {}
    for (ve = eol; ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'); ve--) {}
    name->p = p;
    name->n = (size_t)(colon - p);
    value->p = v;
    value->n = (size_t)(ve - v);
    return 1;
  }
  return 0;
}

int ua_sends_length(const char *method) {
  return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
}
