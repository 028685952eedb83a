/* The bare same stack: the simplest Lua binding of one reused libcurl easy
 * handle (no session, no checks, no error mapping), for the benchmarks; and
 * the floor, the same tuned (floor below). */
#include <string.h>
#include <stdlib.h>
#include <curl/curl.h>
#include <lua.h>
#include <lauxlib.h>

static CURL *easy;
static struct curl_slist *headers;
static char *buf;
static size_t len, cap;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  size_t add = size * n;
  (void)ud;
  if (len + add > cap) {
    cap = (len + add) * 2;
    buf = realloc(buf, cap);
  }
  memcpy(buf + len, p, add);
  len += add;
  return add;
}

/* request(method, url) -> status, body */
static int request(lua_State *L) {
  const char *method = luaL_checkstring(L, 1);
  long status = 0;
  if (!easy) {
    easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    /* the same job as userapi's: authenticated, asking for JSON */
    if (!headers) {
      headers = curl_slist_append(headers, "Accept: application/json");
      headers = curl_slist_append(headers, "Authorization: Apikey bench-key");
    }
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  }
  len = 0;
  curl_easy_setopt(easy, CURLOPT_URL, luaL_checkstring(L, 2));
  curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") ? method : NULL);
  if (curl_easy_perform(easy) != CURLE_OK) return luaL_error(L, "curl failed");
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  lua_pushinteger(L, status);
  lua_pushlstring(L, buf ? buf : "", len);
  return 2;
}

/* The floor: what a binding of libcurl cannot go below for a GET of one
 * origin, libcurl tuned as the measurements found. A second handle,
 * the URL parsed once (CURLOPT_CURLU) with only the path set per call, the
 * proxy option as the only route (PROXY "" and NOPROXY "": no environment
 * lookup), the same two header lines, the body buffered.
 * floor(base, path) -> status, body; base is read on the first call. */
static CURL *floor_easy;
static CURLU *floor_url;

static int floor_get(lua_State *L) {
  long status = 0;
  if (!floor_easy) {
    floor_easy = curl_easy_init();
    floor_url = curl_url();
    curl_url_set(floor_url, CURLUPART_URL, luaL_checkstring(L, 1), 0);
    curl_easy_setopt(floor_easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(floor_easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(floor_easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(floor_easy, CURLOPT_PROXY, "");
    curl_easy_setopt(floor_easy, CURLOPT_NOPROXY, "");
    if (!headers) {
      headers = curl_slist_append(headers, "Accept: application/json");
      headers = curl_slist_append(headers, "Authorization: Apikey bench-key");
    }
    curl_easy_setopt(floor_easy, CURLOPT_HTTPHEADER, headers);
  }
  len = 0;
  curl_url_set(floor_url, CURLUPART_PATH, luaL_checkstring(L, 2), 0);
  curl_easy_setopt(floor_easy, CURLOPT_CURLU, floor_url);
  if (curl_easy_perform(floor_easy) != CURLE_OK) return luaL_error(L, "curl failed");
  curl_easy_getinfo(floor_easy, CURLINFO_RESPONSE_CODE, &status);
  lua_pushinteger(L, status);
  lua_pushlstring(L, buf ? buf : "", len);
  return 2;
}

int luaopen_benchbare(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, request);
  lua_setfield(L, -2, "request");
  lua_pushcfunction(L, floor_get);
  lua_setfield(L, -2, "floor");
  return 1;
}
