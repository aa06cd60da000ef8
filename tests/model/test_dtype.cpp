// SPDX-License-Identifier: MIT
// Exactness of the half-precision conversions, checked exhaustively against an independent decoder that
// evaluates the IEEE formula in double.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "model/dtype.hpp"

using namespace srr::model;

namespace {

/// Value of a binary16 or bfloat16 bit pattern from its definition: (−1)^s · 2^(e−bias) · (1.m), with
/// subnormals 2^(1−bias) · (0.m).
double decode(std::uint16_t bits, int exp_bits, int mant_bits) {
  const int bias = (1 << (exp_bits - 1)) - 1;
  const int e = (bits >> mant_bits) & ((1 << exp_bits) - 1);
  const int m = bits & ((1 << mant_bits) - 1);
  const double sign = (bits >> 15) ? -1.0 : 1.0;
  if (e == (1 << exp_bits) - 1) return m ? std::numeric_limits<double>::quiet_NaN() : sign * INFINITY;
  if (e == 0) return sign * std::ldexp(m, 1 - bias - mant_bits);
  return sign * std::ldexp(m + (1 << mant_bits), e - bias - mant_bits);
}

}  // namespace

TEST(DType, HalfToFloatIsExactForEveryPattern) {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    const double want = decode(bits, 5, 10);
    const float got = f16_to_f32(bits);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << b;
      continue;
    }
    ASSERT_EQ(static_cast<double>(got), want) << "f16 bits " << b;
    EXPECT_EQ(std::signbit(got), (b >> 15) != 0) << b;
    // And back: every finite half round-trips bit-exactly.
    EXPECT_EQ(f32_to_f16(got), bits) << b;
  }
}

TEST(DType, Bfloat16ToFloatIsExactForEveryPattern) {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    const double want = decode(bits, 8, 7);
    const float got = bf16_to_f32(bits);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << b;
      EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(got)))) << b;
      continue;
    }
    ASSERT_EQ(static_cast<double>(got), want) << "bf16 bits " << b;
    EXPECT_EQ(f32_to_bf16(got), bits) << b;
  }
}

TEST(DType, NarrowingRoundsToNearestEven) {
  // bf16 has 8 significant bits: 1 + 2^-8 is a tie between 1 and 1 + 2^-7 → 1 (even); 1 + 3·2^-8 → 1 + 2^-6.
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 0x1p-8f)), 1.0f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 3 * 0x1p-8f)), 1.0f + 0x1p-6f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f)), 1.0f + 0x1p-7f);
  // f16: 11 significant bits; ties at 2^-11.
  EXPECT_EQ(f16_to_f32(f32_to_f16(1.0f + 0x1p-11f)), 1.0f);
  EXPECT_EQ(f16_to_f32(f32_to_f16(1.0f + 3 * 0x1p-11f)), 1.0f + 0x1p-9f);
  // Overflow, the largest half, subnormals and underflow.
  EXPECT_EQ(f16_to_f32(f32_to_f16(65504.0f)), 65504.0f);
  EXPECT_EQ(f16_to_f32(f32_to_f16(65519.0f)), 65504.0f);
  EXPECT_TRUE(std::isinf(f16_to_f32(f32_to_f16(65520.0f))));
  EXPECT_EQ(f16_to_f32(f32_to_f16(0x1p-24f)), 0x1p-24f);
  EXPECT_EQ(f16_to_f32(f32_to_f16(0x1p-25f)), 0.0f);                // tie → even (0)
  EXPECT_EQ(f16_to_f32(f32_to_f16(0x1.8p-25f)), 0x1p-24f);          // above the tie
  EXPECT_EQ(f16_to_f32(f32_to_f16(3 * 0x1p-25f)), 2 * 0x1p-24f);    // 1.5 ulp → 2 (even)
  EXPECT_EQ(f16_to_f32(f32_to_f16(-0x1.ffcp-15f)), -0x1p-14f);      // tie rounds up into the normals
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::isinf(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::max()))));
}

TEST(DType, NarrowingMatchesNearestRepresentableValue) {
  // For many floats, the narrowed value is the nearest of its two neighbouring halves/bfloat16s.
  std::uint32_t state = 12345;
  for (int n = 0; n < 200000; ++n) {
    state = state * 1664525u + 1013904223u;
    const float x = std::bit_cast<float>((state & 0x807fffffu) | ((100u + (state >> 24) % 50u) << 23));
    for (bool bf : {false, true}) {
      const std::uint16_t h = bf ? f32_to_bf16(x) : f32_to_f16(x);
      const double v = bf ? bf16_to_f32(h) : f16_to_f32(h);
      if (std::isinf(v)) continue;
      const double err = std::abs(v - x);
      for (int d : {-1, 1}) {
        const double w = bf ? bf16_to_f32(static_cast<std::uint16_t>(h + d))
                            : f16_to_f32(static_cast<std::uint16_t>(h + d));
        if (std::isfinite(w) && (std::signbit(w) == std::signbit(v) || w == 0)) {
          ASSERT_LE(err, std::abs(w - x)) << x << " bf=" << bf;
        }
      }
    }
  }
}
