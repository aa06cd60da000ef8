// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// SHA-256 (FIPS 180-4), used to fingerprint checkpoint headers so that a store can recognise the
/// checkpoint it was made from. Small and self-contained so the model layer needs no crypto library.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace srr {

class Sha256 {
public:
  Sha256();
  void update(std::span<const std::byte> data);
  void update(std::string_view text);
  /// Finishes the hash; the object must not be updated afterwards.
  std::array<std::uint8_t, 32> digest();
  /// Finishes the hash and returns it as 64 lowercase hex digits.
  std::string hex_digest();

private:
  void block(const std::uint8_t* p);
  std::array<std::uint32_t, 8> h_;
  std::array<std::uint8_t, 64> buf_{};
  std::size_t buf_len_ = 0;
  std::uint64_t total_ = 0;
  bool finished_ = false;
};

/// One-shot helper.
std::string sha256_hex(std::span<const std::byte> data);

}  // namespace srr
