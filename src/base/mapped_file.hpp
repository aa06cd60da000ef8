// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Read-only memory mapping of a whole file. Checkpoints are mapped rather than read so that a worker
/// touches only the pages of the layers it processes, and several workers on a node share the page cache.

#include <cstddef>
#include <filesystem>
#include <span>

namespace srr {

/// Owns one read-only mapping; movable, not copyable. An empty file maps to an empty span.
class MappedFile {
public:
  /// Maps `path`; InputError naming the path when it cannot be opened, is not a regular file or cannot be
  /// mapped.
  explicit MappedFile(const std::filesystem::path& path);
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  std::size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

private:
  void release() noexcept;
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace srr
