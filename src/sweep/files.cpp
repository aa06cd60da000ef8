// SPDX-License-Identifier: MIT
#include "sweep/files.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/error.hpp"
#include "store/fsync.hpp"
#include "store/hdf5.hpp"

namespace srr::sweep {

void write_file_atomic(const fs::path& path, const std::string& content) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  const fs::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  require(fd >= 0, "cannot create '", tmp.string(), "': ", std::strerror(errno));
  std::size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      fs::remove(tmp);
      throw Error("writing '" + tmp.string() + "' failed: " + std::strerror(e));
    }
    written += static_cast<std::size_t>(n);
  }
  try {
    store::sync_descriptor(fd, tmp.string());
  } catch (...) {
    ::close(fd);
    fs::remove(tmp);
    throw;
  }
  ::close(fd);
  fs::rename(tmp, path);
  store::sync_directory(path);
}

void write_hdf5_atomic(const fs::path& path, const std::function<void(hid_t, const std::string&)>& fill) {
  store::h5_init();
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  const fs::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  const std::string name = tmp.string();
  try {
    store::Hid file(H5Fcreate(name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    if (!file.valid()) {
      H5Eclear2(H5E_DEFAULT);
      throw InputError("cannot create '" + name + "' (is the directory writable?)");
    }
    fill(file.get(), name);
    file.close(name);
    const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
    require(fd >= 0, "cannot reopen '", name, "': ", std::strerror(errno));
    try {
      store::sync_descriptor(fd, name);
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    fs::rename(tmp, path);
    store::sync_directory(path);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "cannot read '", path.string(), "'");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

FileLock::FileLock(const fs::path& path) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  require(fd_ >= 0, "cannot create the lock file '", path.string(), "': ", std::strerror(errno));
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const int e = errno;
    ::close(fd_);
    throw Error("flock('" + path.string() + "') failed: " + std::strerror(e));
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor drops the lock
}

std::string relative_to(const fs::path& path, const fs::path& base) {
  std::error_code ec;
  const fs::path p = fs::weakly_canonical(fs::absolute(path), ec);
  const fs::path b = fs::weakly_canonical(fs::absolute(base), ec);
  if (ec) return path.string();
  const fs::path rel = p.lexically_relative(b);
  if (rel.empty() || *rel.begin() == "..") return path.string();
  return rel.string();
}

}  // namespace srr::sweep
