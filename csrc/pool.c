#include <stdlib.h>
#include <unistd.h>

#include "pool.h"
#include "transfer.h"

ua_pool *ua_pool_new(void) {
  ua_pool *p = malloc(sizeof *p);
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

void ua_pool_release(ua_pool *p) {
  if (p && --p->refs == 0) {
    ua_sigpipe guard; /* closing kept-alive TLS connections writes */
    ua_sigpipe_ignore(&guard);
    curl_share_cleanup(p->share);
    ua_sigpipe_restore(&guard);
    free(p);
  }
}

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
int ua_inherited(pid_t made_by) { return made_by != getpid(); }
