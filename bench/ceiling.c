/* The server's ceiling: how many get_user answers per second the benchmark
 * server gives when the client costs next to nothing. One keep-alive
 * connection, requests pipelined in batches, answers counted by their bytes
 * (every answer to the same URL has the same length), no HTTP parsing.
 * usage: ceiling HOST PORT PATH N */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

/* reads until `want` bytes have come; returns them in buf when it fits */
static void drain(int fd, size_t want, char *buf, size_t cap) {
  size_t got = 0;
  while (got < want) {
    ssize_t r = read(fd, got < cap ? buf + got : buf, got < cap ? cap - got : cap);
    if (r <= 0) die("read");
    got += (size_t)r;
  }
}

/* the length of one answer: headers up to the blank line plus Content-Length */
static size_t answer_length(int fd, const char *req, size_t reqlen) {
  char buf[8192], *end, *cl;
  size_t got = 0;
  if (write(fd, req, reqlen) != (ssize_t)reqlen) die("write");
  while (!(end = memmem(buf, got, "\r\n\r\n", 4))) {
    ssize_t r = read(fd, buf + got, sizeof buf - got - 1);
    if (r <= 0) die("read");
    got += (size_t)r;
    buf[got] = '\0';
  }
  cl = strstr(buf, "Content-Length: ");
  if (!cl) die("no Content-Length");
  size_t total = (size_t)(end + 4 - buf) + strtoul(cl + 16, NULL, 10);
  if (got < total) drain(fd, total - got, buf, sizeof buf);
  return total;
}

int main(int argc, char **argv) {
  const char *host = argv[1], *path = argv[3];
  int port = atoi(argv[2]), n = atoi(argv[4]), done = 0, one = 1;
  char req[1024], batch[BATCH * 1024], buf[1 << 16];
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  size_t reqlen, size;
  double t0;
  if (argc != 5) {
    fprintf(stderr, "usage: ceiling HOST PORT PATH N\n");
    return 2;
  }
  inet_pton(AF_INET, host, &sa.sin_addr);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) die("connect");
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  reqlen = (size_t)snprintf(req, sizeof req,
    "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: application/json\r\nAuthorization: Apikey bench-key\r\n\r\n",
    path, host, port);
  size = answer_length(fd, req, reqlen);
  for (int i = 0; i < BATCH; i++) memcpy(batch + i * reqlen, req, reqlen);
  t0 = now();
  while (done < n) {
    if (write(fd, batch, BATCH * reqlen) != (ssize_t)(BATCH * reqlen)) die("write");
    drain(fd, BATCH * size, buf, sizeof buf);
    done += BATCH;
  }
  printf("RESULT ceiling %.3f %d\n", now() - t0, done);
  return 0;
}
