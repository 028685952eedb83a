/* One HTTP exchange on a curl easy handle: options in, status, body and raw
 * headers out. Free of lua_State so the sequential and multi paths share it. */
#ifndef USERAPI_TRANSFER_H
#define USERAPI_TRANSFER_H

#include <signal.h>
#include <curl/curl.h>
#include "buf.h"

#pragma GCC visibility push(hidden) /* only luaopen_* leaves core.so */

/* The oldest libcurl the core builds against: 7.66.0, for curl_multi_poll.
 * Ubuntu 22.04's 7.81 is fine: CURLOPT_PROTOCOLS_STR (7.85) is used where it
 * exists, CURLOPT_PROTOCOLS before. */
#if LIBCURL_VERSION_NUM < 0x074200
#error "userapi needs libcurl 7.66.0 or newer (curl_multi_poll); this one is older"
#endif

typedef struct ua_opts {
  long timeout_ms, connect_timeout_ms;
  long idle_timeout_ms; /* 0: none */
  int verify_tls;
  char *ca_file, *proxy;
  const char *proxy_problem; /* why libcurl would refuse proxy (ua_proxy_problem), or NULL */
  char *user_agent_line; /* the whole header line, "User-Agent: ..." */
  size_t max_body;
} ua_opts;

/* One request's own settings, beside its session's ua_opts. */
typedef struct ua_req {
  char method[16]; /* an upper-case token */
  int has_body;
  long timeout_ms;      /* the total deadline, streams included; 0: the session's */
  long idle_timeout_ms; /* no byte for this long ends it; 0: the session's */
} ua_req;

/* Called with each body chunk of a 2xx response instead of buffering it;
 * returns 0 to go on, -1 to abort the transfer. */
typedef int (*ua_sink_fn)(void *ctx, const char *p, size_t n);

#define UA_STREAM_HWM (256 * 1024)
#define UA_TOO_LARGE_BODY 1
#define UA_TOO_LARGE_HEAD 2

/* A node of a request's header list, and where its line starts in the text. */
typedef struct ua_header_node {
  struct curl_slist line;
  size_t offset;
} ua_header_node;

typedef struct ua_transfer {
  CURL *easy;
  /* the request's header lines for CURLOPT_HTTPHEADER: curl only reads the
   * list, so its nodes and text live in buffers kept from one request to the
   * next (no allocation per line); headers is NULL or &nodes[0].line */
  struct curl_slist *headers;
  ua_header_node *nodes;
  size_t nnodes, node_cap;
  ua_buf lines; /* each line NUL-terminated, one after another (secret: credentials) */
  ua_buf url, reqbody, body, head;
  /* the URL as libcurl takes it (CURLOPT_CURLU), parsed whole once per
   * origin: later requests to the same origin set only path and query */
  CURLU *curlu;
  ua_buf origin; /* scheme://authority of the URL curlu holds, "" when none */
  ua_sink_fn sink;
  void *sink_ctx;
  int too_large, sink_failed; /* too_large: UA_TOO_LARGE_BODY or _HEAD */
  size_t max_body;   /* the cap of a buffered body, and of a stream's non-2xx body */
  size_t err_bytes;  /* of a streamed non-2xx body so far */
  long idle_ms;      /* no byte for this long ends the transfer; 0: no limit */
  long last_byte;    /* ua_now_ms() when a byte last came */
  int idle_expired;
  int abandoned; /* started before a fork: its handle belongs to the parent */
  /* streamed (multi): the body is drained by the reader, and the transfer
   * pauses while more than UA_STREAM_HWM bytes wait to be read */
  int stream, paused, done;
  int configured; /* the handle's fixed options are set */
  int head_done;  /* the blank line after the headers was seen: later lines are trailers */
  int rate_headers; /* a header named *ratelimit* (any case) or Retry-After came */
  int proxy_refused; /* not sent: libcurl would refuse the session's proxy */
  int unsent;        /* refused before it started (its URL, its proxy): result says why */
  CURLcode result;
  char errbuf[CURL_ERROR_SIZE];
} ua_transfer;

void ua_transfer_init(ua_transfer *t);
/* Readies t for the next request, keeping buffer memory; the easy handle is
 * the caller's. */
void ua_transfer_clear(ua_transfer *t);
/* Adds the header line name, sep, value (sep ": ", or ";" for curl's empty
 * value) to t's list; -1 when memory ran out. */
int ua_header_add(ua_transfer *t, const char *name, size_t nn, const char *sep, const char *value, size_t vn);
/* Frees everything but the easy handle. */
void ua_transfer_free(ua_transfer *t);
/* Applies session options (once per handle) and this request to t->easy. url,
 * headers and reqbody must already be filled. */
CURLcode ua_transfer_prepare(ua_transfer *t, const ua_opts *o, CURLSH *share, const ua_req *r);
typedef struct ua_span {
  const char *p;
  size_t n;
} ua_span;

/* Walks the "Name: value" lines of a raw header block, after its status
 * line: *pos starts at 0; returns 1 with the name and the trimmed value, 0 at
 * the end. Lines without a colon are skipped. */
int ua_header_next(const char *head, size_t len, size_t *pos, ua_span *name, ua_span *value);

/* 1 for the methods that always carry a body, empty or not (POST, PUT,
 * PATCH): they say Content-Length: 0 rather than nothing. */
int ua_sends_length(const char *method);

/* Around every curl call that may write to a socket (perform, cleanup):
 * SIGPIPE is ignored for the call where the host has it at its default, and
 * the default put back after (see transfer.c). */
typedef struct ua_sigpipe {
  int active;
  struct sigaction old;
} ua_sigpipe;
void ua_sigpipe_ignore(ua_sigpipe *g);
void ua_sigpipe_restore(ua_sigpipe *g);

/* Why libcurl would refuse proxy as a proxy URL (parsed as its parse_proxy
 * does: its URL parser, then the scheme), or NULL when it would use it. */
const char *ua_proxy_problem(const char *proxy);

/* Monotonic milliseconds. */
long ua_now_ms(void);

/* The error kind of a failed transfer: "timeout", "connect", "tls", ... */
const char *ua_transfer_kind(const ua_transfer *t, CURLcode rc);

#pragma GCC visibility pop

#endif
