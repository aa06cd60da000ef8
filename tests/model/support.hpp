// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Helpers shared by the model tests: the shared data directory (never skipped: a missing variable or
/// file fails the test with a message saying what is missing) and self-removing temporary directories.


#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "../common/temp_dir.hpp"

namespace srr::model::test {

/// A file of the shared data directory; throws (the test fails, naming the problem) when
/// SRR_DATA_DIR is unset or the file is missing.
inline std::filesystem::path data_file(const std::string& relative) {
  const char* dir = std::getenv("SRR_DATA_DIR");
  if (dir == nullptr || *dir == '\0')
    throw std::runtime_error("SRR_DATA_DIR is not set: it must point at the shared data directory");
  const std::filesystem::path p = std::filesystem::path(dir) / relative;
  if (!std::filesystem::exists(p))
    throw std::runtime_error("missing data file " + p.string() + " (SRR_DATA_DIR=" + dir + ")");
  return p;
}

using srr::test::TempDir;

inline void write_file(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace srr::model::test
