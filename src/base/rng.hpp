// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Deterministic random numbers that do not depend on the standard library's distributions (which differ
/// between implementations) nor on the order in which layers are processed: every stream is keyed by
/// (seed, name, purpose), so a layer's probe and sketch are the same on any rank count.

#include <cmath>
#include <cstdint>
#include <string_view>

namespace srr {

/// 64-bit FNV-1a: a stable hash of a layer name (same value on every platform and run).
constexpr std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 0xcbf29ce484222325ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

/// SplitMix64 (Steele, Lea, Flood 2014): a small, well-mixed generator; enough for sketches and probes.
class Rng {
public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  /// A stream keyed by the run seed, a layer name and a purpose tag ("probe", "sketch", ...).
  Rng(std::uint64_t seed, std::string_view name, std::string_view purpose)
      : state_(mix(seed ^ mix(fnv1a(purpose, fnv1a(name))))) {}

  std::uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ull;
    return mix(state_);
  }
  /// Uniform on [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /// Standard normal by Box–Muller (one value per call; the partner is discarded for simplicity).
  double normal() {
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

private:
  static std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::uint64_t state_;
};

}  // namespace srr
