// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// File-system helpers of the sweep driver. Array tasks of one sweep run concurrently on shared files (the
/// calibration file, the manifest), so every file a task publishes appears whole or not at all
/// (srr::write_file_atomic, store::write_hdf5_atomic), and work that must happen once is done under an
/// exclusive srr::FileLock.

#include <filesystem>

#include "base/file_lock.hpp"
#include "base/files.hpp"
#include "store/hdf5.hpp"
#include <string>

namespace srr::sweep {

namespace fs = std::filesystem;

/// Creates the parent directories of `path` (the sweep's own work and results tree, which it lays out
/// itself) and returns `path`; the writes themselves go through base/files.hpp and store::write_hdf5_atomic.
const fs::path& with_parents(const fs::path& path);

/// `path` relative to `base` when it lies below it, else `path` unchanged (for messages and committed
/// files, which must not carry this machine's absolute paths).
std::string relative_to(const fs::path& path, const fs::path& base);

}  // namespace srr::sweep
