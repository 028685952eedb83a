/* The limit: raw libcurl in C, one reused handle for sequential work and the
 * multi interface for concurrent work; no JSON decoding.
 * usage: limit SCENARIO BASE N [CONCURRENCY] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

static size_t sink(char *p, size_t s, size_t n, void *ud) { (void)p; (void)ud; return s * n; }

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct curl_slist *headers;

static CURL *handle(void) {
  if (!headers) {
    headers = curl_slist_append(headers, "Accept: application/json");
    headers = curl_slist_append(headers, "Authorization: Apikey bench-key");
  }
  CURL *e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  return e;
}

int main(int argc, char **argv) {
  const char *scenario = argv[1], *base = argv[2];
  int n = atoi(argv[3]), conc = argc > 4 ? atoi(argv[4]) : 1, i;
  char url[512];
  double t0 = now();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if (!strcmp(scenario, "S3") || !strcmp(scenario, "ceiling")) {
    CURLM *m = curl_multi_init();
    CURL **hs = calloc((size_t)conc, sizeof *hs);
    int next = 1, running = 0, done = 0;
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)conc);
    for (i = 0; i < conc && next <= n; i++, next++) {
      hs[i] = handle();
      snprintf(url, sizeof url, "%s/users/user%07d/", base, next);
      curl_easy_setopt(hs[i], CURLOPT_URL, url);
      if (!strcmp(scenario, "S3")) curl_easy_setopt(hs[i], CURLOPT_CUSTOMREQUEST, "DELETE");
      curl_multi_add_handle(m, hs[i]);
    }
    while (done < n) {
      CURLMsg *msg;
      int left;
      curl_multi_perform(m, &running);
      while ((msg = curl_multi_info_read(m, &left))) {
        CURL *e = msg->easy_handle;
        if (msg->msg != CURLMSG_DONE) continue;
        done++;
        curl_multi_remove_handle(m, e);
        if (next <= n) {
          snprintf(url, sizeof url, "%s/users/user%07d/", base, next % 5000 + 1);
          curl_easy_setopt(e, CURLOPT_URL, url);
          next++;
          curl_multi_add_handle(m, e);
        }
      }
      if (done < n) curl_multi_poll(m, NULL, 0, 100, NULL);
    }
  } else {
    CURL *e = handle();
    int count = 0, offset = 0;
    for (i = 1; count < n; i++) {
      if (!strcmp(scenario, "S1")) {
        snprintf(url, sizeof url, "%s/users/user%07d/", base, i % 5000 + 1);
        count++;
      } else {
        snprintf(url, sizeof url, "%s/users/?limit=100&offset=%d", base, offset);
        offset += 100;
        count += 100;
      }
      curl_easy_setopt(e, CURLOPT_URL, url);
      if (curl_easy_perform(e) != CURLE_OK) return 1;
    }
  }
  printf("RESULT %s %.3f %d\n", scenario, now() - t0, n);
  return 0;
}
