/* The few operating-system calls the Lua layer needs and Lua lacks:
 * fsync for the bulk journal, file ownership and mode for the command's
 * config file, isatty for its progress bar, death by SIGPIPE for its
 * closed output. Debian's lua-posix has no Lua 5.4
 * build, so these live here, on every Lua the core builds for. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
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

/* core.create_private(path[, exclusive]): makes sure path is a regular file
 * of ours, created 0600 when missing, without following a symbolic link as
 * its last component (O_NOFOLLOW) and without blocking on a FIFO; with
 * exclusive, a file already there is refused (O_EXCL: a secrets file is
 * never written over). Opened for reading: a FIFO opens without a reader,
 * and is then refused as not a regular file. Returns  { mode, uid, size } of what was opened
 * (fstat on the descriptor), or nil, the reason and what refused it:
 * "exists", "link", "type" or "open". The caller then opens the path. */
static int l_create_private(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int flags = O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (lua_toboolean(L, 2) ? O_EXCL : 0);
  struct stat st;
  int fd, e;
  const char *why = "open";
  do fd = open(path, flags, 0600); while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    e = errno;
    if (e == EEXIST) why = "exists";
    else if (e == ELOOP) why = "link";
    lua_pushnil(L);
    if (e == ELOOP) lua_pushfstring(L, "%s is a symbolic link (not followed)", path);
    else lua_pushfstring(L, "%s: %s", path, strerror(e));
    lua_pushstring(L, why);
    return 3;
  }
  if (fstat(fd, &st) != 0) {
    e = errno;
    close(fd);
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path, strerror(e));
    lua_pushstring(L, why);
    return 3;
  }
  close(fd);
  if (!S_ISREG(st.st_mode)) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s is not a regular file", path);
    lua_pushstring(L, "type");
    return 3;
  }
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
  lua_setfield(L, -2, "mode");
  lua_pushinteger(L, (lua_Integer)st.st_uid);
  lua_setfield(L, -2, "uid");
  lua_pushinteger(L, (lua_Integer)st.st_size);
  lua_setfield(L, -2, "size");
  return 1;
}

static const luaL_Reg os_functions[] = {
  { "fsync", l_fsync }, { "stat", l_stat }, { "geteuid", l_geteuid }, { "umask", l_umask }, { "isatty", l_isatty },
  { "die_of_sigpipe", l_die_of_sigpipe }, { "create_private", l_create_private },
  { NULL, NULL } };

void ua_os_open(lua_State *L) { luaL_setfuncs(L, os_functions, 0); }
