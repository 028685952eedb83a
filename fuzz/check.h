/* Invariant checks for the libFuzzer targets: a broken invariant aborts with
 * a message, which libFuzzer reports as a crash and saves the input. */
#ifndef USERAPI_FUZZ_CHECK_H
#define USERAPI_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                   \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                        \
    }                                                                                 \
  } while (0)

static inline int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1; /* lower-case hex is not what ua_escape writes */
}

#endif
