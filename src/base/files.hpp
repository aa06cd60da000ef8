// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The one way srr writes a file: durable (fsync of the data, then of the directory) and atomic (a new file
/// under an unpredictable name in the target's directory, renamed into place), so a reader sees the old
/// file or the new one, never a mix, and a killed process leaves at most a stray temporary file.
///
/// Every file srr creates is created with O_CREAT|O_EXCL|O_NOFOLLOW under a name nobody can guess: a
/// symbolic link or file planted at a predictable name is never opened, followed or overwritten. Parent
/// directories are never created here: a caller that wants them (the sweep's own work directory) says so.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace srr {

/// fsync(fd); throws srr::Error naming `name` on failure (e.g. EIO, or ENOSPC on filesystems that delay it).
void sync_descriptor(int fd, const std::string& name);
/// fsync of the directory holding `path`, so that a rename into it survives a crash.
void sync_directory(const std::filesystem::path& path);
/// Reserves the disk blocks of the whole file open as `fd` (posix_fallocate over its current size) and fsyncs
/// it, so that a full disk is reported now, as InputError naming `name`, rather than in the middle of a run.
void reserve_and_sync(int fd, const std::string& name);
/// Throws InputError naming `what` when the filesystem holding `path` has fewer than `bytes` bytes free for
/// unprivileged use. Checked before HDF5 writes a file: HDF5 1.10 can crash at exit after a failed close.
void require_free_space(const std::filesystem::path& path, std::uint64_t bytes, const std::string& what);

/// The whole file; InputError naming it when it cannot be read.
std::string read_file(const std::filesystem::path& path);

/// `<target>.<tag>.<12 random characters>`: a sibling name nobody can predict (random bits from the kernel).
std::filesystem::path unpredictable_sibling(const std::filesystem::path& target, std::string_view tag);

/// Removes the temporary files a killed writer of `target` left beside it (regular files named like
/// TempFile's, `<target>.tmp.` and 12 letters or digits). Call it only while holding the exclusive lock that
/// every writer of `target` holds, so that no live writer's file can be among them.
void remove_stale_temporaries(const std::filesystem::path& target);

/// What publishing may do to a file already at the target path.
enum class Replace { allowed, never };

/// A new, empty regular file beside `target` (same directory, so the final rename is atomic), created with
/// O_CREAT|O_EXCL|O_NOFOLLOW under an unpredictable name, mode 0666 minus the umask. It is removed when the
/// object dies unpublished (an exception, a refused write), so failures leave nothing behind.
class TempFile {
public:
  /// InputError naming the directory when it does not exist or is not writable.
  explicit TempFile(const std::filesystem::path& target);
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile();

  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& target() const { return target_; }
  /// The open descriptor (read-write); valid until publish().
  int fd() const { return fd_; }
  /// Appends all of `bytes`; srr::Error naming the file on failure.
  void write(std::string_view bytes);
  /// Reserves the disk blocks of what was written so far and fsyncs (see reserve_and_sync).
  void reserve();
  /// fsync, close, rename onto the target, fsync the directory. With Replace::never an existing target
  /// (of any kind, even a dangling symlink) is left alone and InputError names it.
  void publish(Replace replace = Replace::allowed);

private:
  std::filesystem::path target_, path_;
  int fd_ = -1;
  bool published_ = false;
};

/// Writes `content` to `target` through a TempFile (see there).
void write_file_atomic(const std::filesystem::path& target, std::string_view content,
                       Replace replace = Replace::allowed);

/// A new directory beside `target` under an unpredictable name (mkdir fails on anything already there, so
/// nothing planted is reused), mode 0777 minus the umask. Returns its path.
std::filesystem::path make_unpredictable_directory(const std::filesystem::path& target, std::string_view tag);

}  // namespace srr
