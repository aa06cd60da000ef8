// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The one inter-process lock of srr: `flock` on a lock file, shared or exclusive, blocking or try. The
/// kernel drops the lock when the process dies, so a killed run never leaves a stale lock; the lock file
/// itself stays (removing it would race with a process about to lock it).
///
/// Who uses it: a quantize run holds `<store>.lock` exclusively (try: a second run is refused at once) and
/// `<calibration>.lock` shared while it reads statistics; `srr calibrate` holds `<calibration>.lock`
/// exclusively while it checks and replaces the file; `srr sweep` serialises the tasks of one point or one
/// calibration file with blocking exclusive locks.
///
/// The lock file is opened with O_NOFOLLOW and O_NONBLOCK and must be a regular file with a single link: a
/// symbolic link, hard link, FIFO or device planted at its name is refused (InputError), never opened for
/// writing, so locking can never truncate or write another file.

#include <filesystem>
#include <optional>
#include <string>

namespace srr {

enum class LockMode { shared, exclusive };

class FileLock {
public:
  /// Waits until the lock is ours (retrying after signals). InputError when the lock file cannot be
  /// created or is not a plain file.
  static FileLock acquire(const std::filesystem::path& path, LockMode mode);
  /// The lock when it is free now, std::nullopt when another process holds a conflicting one.
  static std::optional<FileLock> try_acquire(const std::filesystem::path& path, LockMode mode);

  /// Writes "pid P on HOST" into the lock file (exclusive locks only), so that a refused process can say
  /// who holds it. Advisory: the kernel lock is what counts.
  void record_holder() const;
  /// What record_holder() wrote, or "" (for messages; never fails).
  static std::string holder(const std::filesystem::path& path);

  FileLock(FileLock&& other) noexcept : fd_(other.fd_), mode_(other.mode_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

  LockMode mode() const { return mode_; }

private:
  FileLock(int fd, LockMode mode) : fd_(fd), mode_(mode) {}
  static std::optional<FileLock> lock(const std::filesystem::path& path, LockMode mode, bool wait);
  int fd_ = -1;
  LockMode mode_ = LockMode::exclusive;
};

}  // namespace srr
