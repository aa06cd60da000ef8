// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// File-system helpers of the sweep driver: atomic publication of small files and an inter-process lock.
/// Array tasks of one sweep run concurrently on shared files (the calibration file, the manifest), so
/// every file a task publishes appears whole or not at all, and work that must happen once is done under
/// a lock.

#include <hdf5.h>

#include <filesystem>
#include <functional>
#include <string>

namespace srr::sweep {

namespace fs = std::filesystem;

/// Writes `content` to a temporary file beside `path` (name ends in `.tmp.<pid>`), fsyncs it, renames it
/// over `path` and fsyncs the directory. Creates the parent directories. Readers see the old file or the
/// new one, never a mix.
void write_file_atomic(const fs::path& path, const std::string& content);
/// The same for an HDF5 file: `fill(file, name)` writes the content of a new file created under a
/// temporary name (`name` is that name, for messages), which is then closed, fsynced and renamed over
/// `path`. The temporary file is removed when `fill` throws.
void write_hdf5_atomic(const fs::path& path, const std::function<void(hid_t, const std::string&)>& fill);
/// The whole file; InputError naming it when it cannot be read.
std::string read_file(const fs::path& path);

/// An exclusive `flock` on `path` (created if needed), held for the object's life. The kernel releases it
/// when the process dies, so a killed task never leaves a stale lock behind.
class FileLock {
public:
  /// Blocks until the lock is ours.
  explicit FileLock(const fs::path& path);
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

private:
  int fd_ = -1;
};

/// `path` relative to `base` when it lies below it, else `path` unchanged (for messages and committed
/// files, which must not carry this machine's absolute paths).
std::string relative_to(const fs::path& path, const fs::path& base);

}  // namespace srr::sweep
