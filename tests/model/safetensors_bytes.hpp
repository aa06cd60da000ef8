// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Builds safetensors files byte by byte, independently of the project's writer, so the reader can be
/// tested on exactly the bytes a test intends (including malformed ones).

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace srr::model::test {

/// 8-byte little-endian length, the header text as given, then the data bytes.
inline std::string safetensors_bytes(const std::string& header, const std::string& data,
                                     std::uint64_t length_field) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((length_field >> (8 * i)) & 0xff);
  return out + header + data;
}
inline std::string safetensors_bytes(const std::string& header, const std::string& data) {
  return safetensors_bytes(header, data, header.size());
}

template <class T>
std::string raw_bytes(const std::vector<T>& v) {
  std::string s(v.size() * sizeof(T), '\0');
  if (!v.empty()) std::memcpy(s.data(), v.data(), s.size());
  return s;
}

}  // namespace srr::model::test
