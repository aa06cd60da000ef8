// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// A self-removing temporary directory, shared by every test folder.

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>

namespace srr::test {

/// A fresh directory under the system temporary directory, removed with its contents on destruction.
class TempDir {
public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("srr_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
  std::filesystem::path path_;
};

/// How many temporary files of srr's atomic writes (`<target>.tmp.<random>`) lie beside `target`.
inline std::size_t temporaries_beside(const std::filesystem::path& target) {
  const std::string prefix = target.filename().string() + ".tmp.";
  std::size_t n = 0;
  const auto dir = target.parent_path().empty() ? std::filesystem::path(".") : target.parent_path();
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().rfind(prefix, 0) == 0) ++n;
  return n;
}

}  // namespace srr::test
