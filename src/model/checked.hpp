// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Overflow-checked size arithmetic for the file readers. Every size in a checkpoint header comes from an
/// untrusted file, so products and sums are checked before they are used to index memory.

#include <cstdint>
#include <string>

#include "base/error.hpp"

namespace srr::model::detail {

/// a·b, or InputError naming `what` and `source` when the result does not fit 64 bits.
inline std::uint64_t checked_mul(std::uint64_t a, std::uint64_t b, const std::string& what,
                                 const std::string& source) {
  std::uint64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) throw InputError(source + ": " + what + " overflows 64 bits");
  return r;
}

/// a+b, or InputError naming `what` and `source` when the result does not fit 64 bits.
inline std::uint64_t checked_add(std::uint64_t a, std::uint64_t b, const std::string& what,
                                 const std::string& source) {
  std::uint64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) throw InputError(source + ": " + what + " overflows 64 bits");
  return r;
}

}  // namespace srr::model::detail
