// SQLite's unix VFS takes POSIX record locks (fcntl F_SETLK). Those belong to the *process*:
// closing any descriptor of the file in that process — a file dialog sniffing the store's MIME
// type, a thumbnailer, std::ifstream in a hash routine — silently drops every lock the process
// holds on it. A short-lived client (the CLI, the sqlite3 shell) then believes it is the last
// connection: on close it checkpoints and deletes the -wal and -shm files under the long-lived
// writer, whose later commits go to an unlinked file and are lost, and the database can end up
// corrupt. SQLite's "How To Corrupt" page lists exactly this (section 2.2).
//
// The fix at the lock layer: route the VFS's fcntl through open-file-description locks
// (F_OFD_SETLK, Linux >= 3.15). They belong to the descriptor SQLite opened, so no other close
// can release them, and they conflict with classic POSIX locks, so other processes that use
// stock SQLite (the sqlite3 shell, Python) still see them. SQLite's own bookkeeping already
// never closes a descriptor while the process holds a lock on that file (it defers the close),
// and it never asks for conflicting locks between its own connections, so per-descriptor
// ownership changes nothing it relies on.
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <mutex>

#include "fomoe/base/log.h"
#include "store_internal.h"

namespace fomoe::store_detail {

namespace {

using FcntlFn = int (*)(int, int, ...);
FcntlFn g_next_fcntl = nullptr;  // the VFS's previous fcntl (libc's)

int ofd_cmd(int cmd) {
#if defined(F_OFD_SETLK)
  switch (cmd) {
    case F_SETLK: return F_OFD_SETLK;
    case F_SETLKW: return F_OFD_SETLKW;
    case F_GETLK: return F_OFD_GETLK;
    default: return cmd;
  }
#else
  return cmd;
#endif
}

int ofd_fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);  // glibc's fcntl reads its third argument the same way
  va_end(ap);
  const int ofd = ofd_cmd(cmd);
  if (ofd == cmd) return g_next_fcntl(fd, cmd, arg);
  // OFD locks require l_pid == 0; SQLite leaves it uninitialised.
  auto* lock = static_cast<struct flock*>(arg);
  struct flock copy = *lock;
  copy.l_pid = 0;
  const int rc = g_next_fcntl(fd, ofd, &copy);
  if (rc == 0 && cmd == F_GETLK) *lock = copy;
  return rc;
}

}  // namespace

bool use_descriptor_owned_locks() {
  static bool installed = false;
  static std::once_flag once;
  std::call_once(once, [] {
#if defined(F_OFD_SETLK)
    sqlite3_initialize();
    sqlite3_vfs* vfs = sqlite3_vfs_find("unix");
    if (!vfs || vfs->iVersion < 3 || !vfs->xSetSystemCall || !vfs->xGetSystemCall) {
      FOMOE_LOG_WARN("store", "SQLite's unix VFS cannot take a replacement fcntl; the store keeps POSIX locks");
      return;
    }
    // Probe the kernel: OFD locks need Linux >= 3.15.
    struct flock probe {};
    probe.l_type = F_RDLCK;
    probe.l_whence = SEEK_SET;
    const int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    const bool supported = fd >= 0 && ::fcntl(fd, F_OFD_GETLK, &probe) == 0;
    if (fd >= 0) ::close(fd);
    if (!supported) {
      FOMOE_LOG_WARN("store", "this kernel has no open-file-description locks; the store keeps POSIX locks");
      return;
    }
    g_next_fcntl = reinterpret_cast<FcntlFn>(vfs->xGetSystemCall(vfs, "fcntl"));
    if (!g_next_fcntl) return;
    installed = vfs->xSetSystemCall(vfs, "fcntl", reinterpret_cast<sqlite3_syscall_ptr>(&ofd_fcntl)) == SQLITE_OK;
#endif
  });
  return installed;
}

}  // namespace fomoe::store_detail
