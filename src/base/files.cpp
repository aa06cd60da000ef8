// SPDX-License-Identifier: MIT
#include "base/files.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/error.hpp"

namespace srr {

namespace fs = std::filesystem;

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

fs::path directory_of(const fs::path& path) { return path.parent_path().empty() ? fs::path(".") : path.parent_path(); }

/// Why a file cannot be created in the directory of `target`, as the end of a message.
std::string creation_failure(const fs::path& target, int err) {
  const fs::path dir = directory_of(target);
  std::error_code ec;
  if (err == ENOENT || !fs::is_directory(dir, ec))
    return "the directory '" + dir.string() + "' does not exist (srr does not create it)";
  return std::string(std::strerror(err)) + " (is the directory '" + dir.string() + "' writable?)";
}

/// Renames `from` onto `to` only when nothing is at `to`: renameat2(RENAME_NOREPLACE), or link + unlink on
/// filesystems without it. Returns false when `to` exists.
bool rename_no_replace(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return true;
  if (errno == EEXIST) return false;
  if (errno != EINVAL && errno != ENOSYS)
    throw Error(detail::concat("cannot rename '", from.string(), "' to '", to.string(), "': ", std::strerror(errno)));
  if (::link(from.c_str(), to.c_str()) != 0) {
    if (errno == EEXIST) return false;
    throw Error(detail::concat("cannot link '", from.string(), "' to '", to.string(), "': ", std::strerror(errno)));
  }
  ::unlink(from.c_str());
  return true;
}

}  // namespace

void sync_descriptor(int fd, const std::string& name) {
  if (::fsync(fd) != 0) throw Error(detail::concat("fsync of '", name, "' failed: ", std::strerror(errno)));
}

void reserve_and_sync(int fd, const std::string& name) {
  const off_t size = ::lseek(fd, 0, SEEK_END);
  if (size > 0) {
    const int err = ::posix_fallocate(fd, 0, size);
    if (err == ENOSPC)
      throw InputError(detail::concat("not enough disk space for '", name, "': it needs ", size, " bytes"));
    // EINVAL/EOPNOTSUPP: the filesystem cannot reserve space; the writes will report a full disk instead.
    if (err != 0 && err != EINVAL && err != EOPNOTSUPP)
      throw Error(detail::concat("cannot reserve disk space for '", name, "': ", std::strerror(err)));
  }
  sync_descriptor(fd, name);
}

void sync_directory(const fs::path& path) {
  const fs::path dir = directory_of(path);
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) throw Error(detail::concat("cannot open directory '", dir.string(), "': ", std::strerror(errno)));
  sync_descriptor(fd.get(), dir.string());
}

void require_free_space(const fs::path& path, std::uint64_t bytes, const std::string& what) {
  const fs::path dir = directory_of(path);
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return;  // a missing directory is reported by the open that follows
  const std::uint64_t free_bytes = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  if (free_bytes < bytes)
    throw InputError(detail::concat("not enough disk space for ", what, ": it needs about ", bytes, " bytes, ",
                                    dir.string(), " has ", free_bytes, " free"));
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "cannot read '", path.string(), "'");
  std::ostringstream os;
  os << in.rdbuf();
  require(!in.bad(), "cannot read '", path.string(), "'");
  return os.str();
}

fs::path unpredictable_sibling(const fs::path& target, std::string_view tag) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  unsigned char random[12];
  std::size_t got = 0;
  while (got < sizeof random) {
    const ssize_t n = ::getrandom(random + got, sizeof random - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(detail::concat("getrandom failed: ", std::strerror(errno)));
    got += static_cast<std::size_t>(n);
  }
  std::string suffix;
  for (unsigned char c : random) suffix += kAlphabet[c % (sizeof kAlphabet - 1)];
  std::string name = target.filename().string();
  name.append(1, '.').append(tag).append(1, '.').append(suffix);
  return target.parent_path() / name;
}

void remove_stale_temporaries(const fs::path& target) {
  const std::string prefix = target.filename().string() + ".tmp.";
  std::error_code ec;
  for (fs::directory_iterator it(directory_of(target), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() != prefix.size() + 12 || name.compare(0, prefix.size(), prefix) != 0) continue;
    if (!std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size()), name.end(),
                     [](unsigned char c) { return std::isalnum(c) != 0; }))
      continue;
    std::error_code kind;
    if (it->symlink_status(kind).type() == fs::file_type::regular) fs::remove(it->path(), kind);
  }
}

// ---- TempFile ----------------------------------------------------------------------------------------------

TempFile::TempFile(const fs::path& target) : target_(target) {
  require(target_.has_filename(), "'", target_.string(), "' does not name a file");
  for (int attempt = 0; attempt < 100; ++attempt) {
    path_ = unpredictable_sibling(target_, "tmp");
    // O_EXCL: fails on anything already at the name, a symbolic link included; O_NOFOLLOW says so twice.
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd_ >= 0) return;
    if (errno != EEXIST) break;
  }
  const int err = errno;
  path_.clear();
  throw InputError("cannot create a file beside '" + target_.string() + "': " + creation_failure(target_, err));
}

TempFile::~TempFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!published_ && !path_.empty()) ::unlink(path_.c_str());
}

void TempFile::write(std::string_view bytes) {
  SRR_ASSERT(fd_ >= 0);
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(detail::concat("writing '", path_.string(), "' failed: ", std::strerror(errno)));
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void TempFile::reserve() {
  SRR_ASSERT(fd_ >= 0);
  reserve_and_sync(fd_, path_.string());
}

void TempFile::publish(Replace replace) {
  SRR_ASSERT(fd_ >= 0 && !published_);
  sync_descriptor(fd_, path_.string());
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) throw Error(detail::concat("closing '", path_.string(), "' failed: ", std::strerror(errno)));
  if (replace == Replace::never) {
    if (!rename_no_replace(path_, target_))
      throw InputError("'" + target_.string() + "' appeared while srr was writing it; it was left as it is");
  } else if (::rename(path_.c_str(), target_.c_str()) != 0) {
    throw Error(detail::concat("cannot rename '", path_.string(), "' to '", target_.string(), "': ",
                               std::strerror(errno)));
  }
  published_ = true;
  sync_directory(target_);
}

void write_file_atomic(const fs::path& target, std::string_view content, Replace replace) {
  TempFile file(target);
  file.write(content);
  file.publish(replace);
}

fs::path make_unpredictable_directory(const fs::path& target, std::string_view tag) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const fs::path p = unpredictable_sibling(target, tag);
    if (::mkdir(p.c_str(), 0777) == 0) return p;
    if (errno != EEXIST)
      throw InputError("cannot create a directory beside '" + target.string() + "': " + creation_failure(target, errno));
  }
  throw Error("cannot find a free directory name beside '" + target.string() + "'");
}

}  // namespace srr
