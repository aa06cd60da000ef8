// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Splitting the lines of srr's own tab-separated files (allocation plans, sweep manifests).

#include <string>
#include <vector>

namespace srr {

/// The fields of `line` between `separator`s, empty fields kept ("a\t\tb" → {"a", "", "b"}; "" → {""}).
inline std::vector<std::string> split_fields(const std::string& line, char separator = '\t') {
  std::vector<std::string> out;
  std::size_t at = 0;
  for (;;) {
    const auto end = line.find(separator, at);
    out.push_back(line.substr(at, end == std::string::npos ? std::string::npos : end - at));
    if (end == std::string::npos) return out;
    at = end + 1;
  }
}

}  // namespace srr
