/* The few operating-system calls the Lua layer needs and Lua lacks:
 * fsync for the bulk journal, file ownership and mode for the command's
 * config file, isatty for its progress bar, death by SIGPIPE for its
 * closed output, and files opened privately (open_private: the journal and
 * the config file, checked by fstat on what was opened, locked by flock).
 * Debian's lua-posix has no Lua 5.4 build, so these live here, on every Lua
 * the core builds for. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include <lualib.h> /* LUA_FILEHANDLE */

/* The FILE* of an open io file handle. Lua 5.2+ keeps a luaL_Stream whose
 * closef is NULL once closed; Lua 5.1 and LuaJIT keep the FILE* first and
 * set it to NULL on close. */
static FILE *check_file(lua_State *L, int idx) {
#if LUA_VERSION_NUM >= 502
  luaL_Stream *p = (luaL_Stream *)luaL_checkudata(L, idx, LUA_FILEHANDLE);
  luaL_argcheck(L, p->closef != NULL && p->f != NULL, idx, "open file expected");
  return p->f;
#else
  FILE **fp = (FILE **)luaL_checkudata(L, idx, LUA_FILEHANDLE);
  luaL_argcheck(L, *fp != NULL, idx, "open file expected");
  return *fp;
#endif
}

static int fail(lua_State *L, const char *what) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", what, strerror(errno));
  return 2;
}

/* core.fsync(file): flushes Lua's buffer, then asks the kernel to write the
 * file to disk; true, or nil and the reason. */
static int l_fsync(lua_State *L) {
  FILE *f = check_file(L, 1);
  if (fflush(f) != 0) return fail(L, "fflush");
  if (fsync(fileno(f)) != 0) return fail(L, "fsync");
  lua_pushboolean(L, 1);
  return 1;
}

/* core.stat(path): { mode = permission bits, uid = owner } following
 * links, or nil and the reason. */
static int l_stat(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  if (stat(path, &st) != 0) return fail(L, path);
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
  lua_setfield(L, -2, "mode");
  lua_pushinteger(L, (lua_Integer)st.st_uid);
  lua_setfield(L, -2, "uid");
  return 1;
}

/* core.umask(mask): sets the file-creation mask, returns the one before:
 * the journal is made 0600 (it holds what bulk sent and got back) by
 * opening it under 077. */
static int l_umask(lua_State *L) {
  lua_Integer mask = luaL_checkinteger(L, 1);
  luaL_argcheck(L, mask >= 0 && mask <= 0777, 1, "a mode mask (0 to 0777) expected");
  lua_pushinteger(L, (lua_Integer)umask((mode_t)mask));
  return 1;
}

/* core.geteuid(): the user this process acts as (what file checks compare). */
static int l_geteuid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)geteuid());
  return 1;
}

/* core.die_of_sigpipe(): ends the process as a write to a closed pipe would
 * have, so a shell sees status 141 and `set -o pipefail` scripts behave:
 * SIGPIPE's default action restored and unblocked, then raised. */
static int l_die_of_sigpipe(lua_State *L) {
  sigset_t set;
  signal(SIGPIPE, SIG_DFL);
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  raise(SIGPIPE);
  _exit(128 + SIGPIPE); /* not reached */
  return 0;
}

/* core.isatty(file): whether the file is a terminal. */
static int l_isatty(lua_State *L) {
  lua_pushboolean(L, isatty(fileno(check_file(L, 1))));
  return 1;
}

/* ---- private files ---------------------------------------------------------
 * A descriptor of our own rather than a Lua io handle: LuaJIT's io handles
 * cannot be made from C, and each journal line is to reach the kernel as
 * one write anyway (no stdio buffer to lose in a kill). */
#define PRIVATE_FILE "userapi.private_file"

typedef struct { int fd; } private_file;

static private_file *check_private(lua_State *L) {
  private_file *p = (private_file *)luaL_checkudata(L, 1, PRIVATE_FILE);
  luaL_argcheck(L, p->fd >= 0, 1, "open file expected");
  return p;
}

/* nil, "PATH: reason", and what refused it; the descriptor closed if open */
static int open_failed(lua_State *L, int fd, const char *path, int e, const char *why) {
  if (fd >= 0) close(fd);
  lua_pushnil(L);
  if (strcmp(why, "link") == 0) lua_pushfstring(L, "%s is a symbolic link (not followed)", path);
  else if (strcmp(why, "type") == 0) lua_pushfstring(L, "%s is not a regular file", path);
  else lua_pushfstring(L, "%s: %s", path, strerror(e));
  lua_pushstring(L, why);
  return 3;
}

/* core.open_private(path, mode[, follow]): opens a file and checks what was
 * opened, not what the path names a moment before or after:
 *   mode "r"  read only;  "rw" read and append, created 0600 if missing;
 *        "new" read and append, created 0600, a file already there refused
 *        ("exists": a secrets file is never written over).
 * The last component is not followed when a symbolic link (unless follow).
 * O_NONBLOCK: a FIFO named as the file does not block the open; anything
 * but a regular file is then refused by fstat on the descriptor.
 * Returns the file and { mode = permission bits, uid = owner, size }, or
 * nil, the reason, and "link", "exists", "type" or "open" (what refused it). */
static int l_open_private(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *mode = luaL_checkstring(L, 2);
  int follow = lua_toboolean(L, 3);
  int flags = O_NONBLOCK | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW);
  private_file *p;
  struct stat st;
  int fd;
  if (strcmp(mode, "r") == 0) flags |= O_RDONLY;
  else if (strcmp(mode, "rw") == 0) flags |= O_RDWR | O_APPEND | O_CREAT;
  else if (strcmp(mode, "new") == 0) flags |= O_RDWR | O_APPEND | O_CREAT | O_EXCL;
  else return luaL_argerror(L, 2, "\"r\", \"rw\" or \"new\" expected");
  /* the userdata first: a memory error after open would leak the descriptor */
  p = (private_file *)lua_newuserdatauv(L, sizeof *p, 0);
  p->fd = -1;
  luaL_setmetatable(L, PRIVATE_FILE);
  do fd = open(path, flags, 0600); while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int e = errno;
    return open_failed(L, -1, path, e, e == ELOOP && !follow ? "link" : e == EEXIST ? "exists" : "open");
  }
  if (fstat(fd, &st) != 0) return open_failed(L, fd, path, errno, "open");
  if (!S_ISREG(st.st_mode)) return open_failed(L, fd, path, 0, "type");
  /* a regular file: reads and writes block as usual */
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) return open_failed(L, fd, path, errno, "open");
  p->fd = fd;
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
  lua_setfield(L, -2, "mode");
  lua_pushinteger(L, (lua_Integer)st.st_uid);
  lua_setfield(L, -2, "uid");
  lua_pushinteger(L, (lua_Integer)st.st_size);
  lua_setfield(L, -2, "size");
  return 2;
}

/* file:read(): the rest of the file from the current offset. */
static int pf_read(lua_State *L) {
  private_file *p = check_private(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (;;) {
    char *dst = luaL_prepbuffer(&b);
    ssize_t n = read(p->fd, dst, LUAL_BUFFERSIZE);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      luaL_pushresult(&b);
      lua_pop(L, 1);
      errno = e;
      return fail(L, "read");
    }
    if (n == 0) break;
    luaL_addsize(&b, (size_t)n);
  }
  luaL_pushresult(&b);
  return 1;
}

/* file:write(s): all of s, at the end (an "rw" file appends); true, or nil
 * and the reason (ENOSPC, EFBIG) */
static int pf_write(lua_State *L) {
  private_file *p = check_private(L);
  size_t len, done = 0;
  const char *s = luaL_checklstring(L, 2, &len);
  while (done < len) {
    ssize_t n = write(p->fd, s + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(L, "write");
    done += (size_t)n;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* file:sync(): fsync; true, or nil and the reason */
static int pf_sync(lua_State *L) {
  if (fsync(check_private(L)->fd) != 0) return fail(L, "fsync");
  lua_pushboolean(L, 1);
  return 1;
}

/* file:truncate(n): cuts the file to n bytes (a line torn by a kill) */
static int pf_truncate(lua_State *L) {
  private_file *p = check_private(L);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0, 2, "a size >= 0 expected");
  if (ftruncate(p->fd, (off_t)n) != 0) return fail(L, "ftruncate");
  lua_pushboolean(L, 1);
  return 1;
}

/* file:lock(): an exclusive flock, not waited for: true; false when another
 * open file holds it; nil and the reason on another failure. Released when
 * the file is closed (or the process dies). */
static int pf_lock(lua_State *L) {
  private_file *p = check_private(L);
  int rc;
  do rc = flock(p->fd, LOCK_EX | LOCK_NB); while (rc != 0 && errno == EINTR);
  if (rc == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (errno == EWOULDBLOCK) {
    lua_pushboolean(L, 0);
    return 1;
  }
  return fail(L, "flock");
}

/* file:close(), also __gc and __close; closing twice is harmless */
static int pf_close(lua_State *L) {
  private_file *p = (private_file *)luaL_checkudata(L, 1, PRIVATE_FILE);
  if (p->fd >= 0) {
    close(p->fd);
    p->fd = -1;
  }
  return 0;
}

static const luaL_Reg private_file_methods[] = {
  { "read", pf_read }, { "write", pf_write }, { "sync", pf_sync }, { "truncate", pf_truncate },
  { "lock", pf_lock }, { "close", pf_close }, { NULL, NULL } };

static const luaL_Reg os_functions[] = {
  { "fsync", l_fsync }, { "stat", l_stat }, { "geteuid", l_geteuid }, { "umask", l_umask }, { "isatty", l_isatty },
  { "die_of_sigpipe", l_die_of_sigpipe }, { "open_private", l_open_private },
  { NULL, NULL } };

void ua_os_open(lua_State *L) {
  luaL_setfuncs(L, os_functions, 0);
  luaL_newmetatable(L, PRIVATE_FILE);
  lua_newtable(L);
  luaL_setfuncs(L, private_file_methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, pf_close);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, pf_close);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
}
