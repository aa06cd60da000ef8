// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Durability helpers for the store and the calibration file: the ordering "data on disk, then the mark
/// that declares it complete" needs fsync, and atomic publication needs rename plus a directory fsync.

#include <cstdint>
#include <filesystem>
#include <string>

namespace srr::store {

/// fsync(fd); throws srr::Error naming `name` on failure (e.g. EIO, or ENOSPC on filesystems that delay it).
void sync_descriptor(int fd, const std::string& name);
/// Reserves the disk blocks of the whole file (posix_fallocate over its current size) and fsyncs it, so that
/// a full disk is reported now, as InputError, rather than in the middle of a run.
void reserve_and_sync(const std::filesystem::path& file);
/// fsync of the directory holding `path`, so that a rename into it survives a crash.
void sync_directory(const std::filesystem::path& path);
/// Throws InputError naming `what` when the filesystem holding `path` has fewer than `bytes` bytes free for
/// unprivileged use. Checked before HDF5 writes a file: HDF5 1.10 can crash at exit after a failed close.
void require_free_space(const std::filesystem::path& path, std::uint64_t bytes, const std::string& what);

}  // namespace srr::store
