// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// SHA-256 (FIPS 180-4): the checksums of stores and calibration files and the identities of checkpoints.
/// Self-contained, so that no crypto library is needed. Where the CPU has the SHA extensions (x86 SHA-NI)
/// the compression runs on them, ~10× faster than portable C++: a 7B calibration file (22 GB) is hashed
/// when written and verified when a quantize run starts, so this is on the critical path.

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

  /// Whether the SHA extensions are used (CPU support, unless forced off). For tests and benchmarks, which
  /// compare the two implementations; not thread-safe.
  static bool hardware();
  static void force_portable(bool portable);

private:
  void blocks(const std::uint8_t* p, std::size_t count);
  std::array<std::uint32_t, 8> h_;
  std::array<std::uint8_t, 64> buf_{};
  std::size_t buf_len_ = 0;
  std::uint64_t total_ = 0;
  bool finished_ = false;
};

/// One-shot helper.
std::string sha256_hex(std::span<const std::byte> data);

}  // namespace srr
