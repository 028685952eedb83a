#include <stdlib.h>
#include <string.h>

#include "buf.h"

void ua_buf_init(ua_buf *b, size_t limit) {
  b->data = NULL;
  b->len = b->cap = 0;
  b->limit = limit;
  b->secret = 0;
}

void ua_buf_secret(ua_buf *b) { b->secret = 1; }

/* memset at its speed, then a barrier that says the bytes may be read:
 * the compiler cannot drop the stores as dead. */
void ua_wipe(void *p, size_t n) {
  if (!p || !n) return;
  memset(p, 0, n);
  __asm__ __volatile__("" : : "r"(p) : "memory");
}

void ua_buf_free(ua_buf *b) {
  if (b->secret && b->data) ua_wipe(b->data, b->cap);
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void ua_buf_free_secret(ua_buf *b) {
  if (b->data) ua_wipe(b->data, b->cap);
  ua_buf_free(b);
}

/* realloc may move the bytes and free the old block as it is: a secret is
 * copied by hand and the old block wiped first. */
static char *move_secret(ua_buf *b, size_t cap) {
  char *p = malloc(cap);
  if (!p) return NULL;
  if (b->data) {
    memcpy(p, b->data, b->len);
    ua_wipe(b->data, b->cap);
    free(b->data);
  }
  return p;
}

void ua_buf_reset(ua_buf *b) { b->len = 0; }

static int grow(ua_buf *b, size_t need) {
  size_t cap;
  char *p;
  if (need <= b->cap) return 0;
  cap = b->cap ? b->cap : 256;
  while (cap < need) {
    if (cap > ((size_t)-1) / 2) return -1;
    cap *= 2;
  }
  p = b->secret ? move_secret(b, cap) : realloc(b->data, cap);
  if (!p) return -1;
  b->data = p;
  b->cap = cap;
  return 0;
}

int ua_buf_add(ua_buf *b, const void *p, size_t n) {
  if (n > ((size_t)-1) - b->len - 1) return -1;
  if (b->limit && b->len + n > b->limit) return -1;
  /* one spare byte so ua_buf_cstr never fails after a successful add */
  if (grow(b, b->len + n + 1)) return -1;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

int ua_buf_addstr(ua_buf *b, const char *s) { return ua_buf_add(b, s, strlen(s)); }

int ua_buf_addc(ua_buf *b, char c) { return ua_buf_add(b, &c, 1); }

int ua_buf_cstr(ua_buf *b) {
  if (grow(b, b->len + 1)) return -1;
  b->data[b->len] = '\0';
  return 0;
}
