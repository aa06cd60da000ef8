// SPDX-License-Identifier: MIT
#include "store/fsync.hpp"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/error.hpp"

namespace srr::store {

namespace {
/// A POSIX file descriptor closed on scope exit.
class Fd {
public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

private:
  int fd_;
};
}  // namespace

void sync_descriptor(int fd, const std::string& name) {
  if (::fsync(fd) != 0) throw Error(detail::concat("fsync of '", name, "' failed: ", std::strerror(errno)));
}

void reserve_and_sync(const std::filesystem::path& file) {
  const std::string name = file.string();
  Fd fd(::open(name.c_str(), O_RDWR | O_CLOEXEC));
  if (fd.get() < 0) throw Error(detail::concat("cannot open '", name, "': ", std::strerror(errno)));
  const off_t size = ::lseek(fd.get(), 0, SEEK_END);
  if (size > 0) {
    const int err = ::posix_fallocate(fd.get(), 0, size);
    if (err == ENOSPC)
      throw InputError(detail::concat("not enough disk space for '", name, "': it needs ", size, " bytes"));
    // EINVAL/EOPNOTSUPP: the filesystem cannot reserve space; the writes will report a full disk instead.
    if (err != 0 && err != EINVAL && err != EOPNOTSUPP)
      throw Error(detail::concat("cannot reserve disk space for '", name, "': ", std::strerror(err)));
  }
  sync_descriptor(fd.get(), name);
}

void sync_directory(const std::filesystem::path& path) {
  const auto dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) throw Error(detail::concat("cannot open directory '", dir.string(), "': ", std::strerror(errno)));
  sync_descriptor(fd.get(), dir.string());
}

void require_free_space(const std::filesystem::path& path, std::uint64_t bytes, const std::string& what) {
  const auto dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) return;  // a missing directory is reported by the open that follows
  const std::uint64_t free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
  if (free_bytes < bytes)
    throw InputError(detail::concat("not enough disk space for ", what, ": it needs about ", bytes, " bytes, ",
                                    dir.string(), " has ", free_bytes, " free"));
}

}  // namespace srr::store
