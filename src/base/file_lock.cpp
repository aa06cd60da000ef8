// SPDX-License-Identifier: MIT
#include "base/file_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/error.hpp"

namespace srr {

namespace fs = std::filesystem;

namespace {

/// Opens (creating if needed) the lock file without following a symbolic link and without blocking on a
/// FIFO, and checks that it is a plain file nobody else has linked elsewhere.
int open_lock_file(const fs::path& path, LockMode mode) {
  const int access = mode == LockMode::exclusive ? O_RDWR : O_RDONLY;
  const int fd = ::open(path.c_str(), access | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    if (err == ELOOP)
      throw InputError("the lock file '" + path.string() +
                       "' is a symbolic link; srr never follows one (remove it if nobody else made it)");
    std::error_code ec;
    const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    if (err == ENOENT || !fs::is_directory(dir, ec))
      throw InputError("cannot create the lock file '" + path.string() + "': the directory '" + dir.string() +
                       "' does not exist");
    throw InputError(detail::concat("cannot create the lock file '", path.string(), "': ", std::strerror(err),
                                    " (is the directory '", dir.string(), "' writable?)"));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
    ::close(fd);
    throw InputError("the lock file '" + path.string() +
                     "' is not a plain file of its own (a hard link, FIFO or device?); srr never writes it: remove "
                     "it if nobody else made it");
  }
  return fd;
}

}  // namespace

std::optional<FileLock> FileLock::lock(const fs::path& path, LockMode mode, bool wait) {
  const int fd = open_lock_file(path, mode);
  const int op = (mode == LockMode::exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
  while (::flock(fd, op) != 0) {
    const int err = errno;
    if (err == EINTR) continue;
    ::close(fd);
    if (err == EWOULDBLOCK && !wait) return std::nullopt;
    throw InputError(detail::concat("cannot lock '", path.string(), "': ", std::strerror(err)));
  }
  return FileLock(fd, mode);
}

FileLock FileLock::acquire(const fs::path& path, LockMode mode) { return std::move(*lock(path, mode, true)); }

std::optional<FileLock> FileLock::try_acquire(const fs::path& path, LockMode mode) { return lock(path, mode, false); }

void FileLock::record_holder() const {
  SRR_ASSERT(fd_ >= 0 && mode_ == LockMode::exclusive);
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const std::string who = detail::concat("pid ", ::getpid(), " on ", host, "\n");
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const ssize_t w = ::pwrite(fd_, who.data(), who.size(), 0);
  }
}

std::string FileLock::holder(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return "";
  std::string text(256, '\0');
  struct stat st {};
  const ssize_t n = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? ::pread(fd, text.data(), text.size(), 0) : 0;
  ::close(fd);
  text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.pop_back();
  return text;
}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    mode_ = other.mode_;
    other.fd_ = -1;
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the flock
}

}  // namespace srr
