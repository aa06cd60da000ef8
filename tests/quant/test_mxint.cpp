// SPDX-License-Identifier: MIT
// MXINT (method.md §3): exact grids on hand-built blocks, grid/error/exponent properties on generated data,
// and the fast path against the scalar reference, bit for bit.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>

#include "quant_test_util.hpp"

using namespace srr::quant;
using namespace srr::quant::test;

namespace {

QuantSettings mxint(int width, int block = 32) { return {Scheme::Mxint, width, block}; }

/// Quantizes one block (a single column) and compares with the expected values exactly.
void expect_block(const std::vector<float>& x, const std::vector<float>& expected, int width) {
  const auto q = quantize(column(x), mxint(width, static_cast<int>(x.size())));
  const auto r = quantize_reference(column(x), mxint(width, static_cast<int>(x.size())));
  for (std::size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(q(static_cast<index_t>(i), 0), expected[i]) << "x = " << x[i] << ", w = " << width;
    EXPECT_EQ(r(static_cast<index_t>(i), 0), expected[i]) << "reference, x = " << x[i] << ", w = " << width;
  }
}

/// Shared scale of the block holding row i of column j, from the test's own exponent extraction.
float block_scale(const Matrix<float>& W, index_t i, index_t j, int block) {
  const index_t b0 = i / block * block;
  int e = 0;
  for (index_t r = b0; r < std::min<index_t>(b0 + block, W.rows()); ++r) e = std::max(e, biased_exponent(W(r, j)));
  return std::ldexp(1.0f, std::max(e, 1) - 127);
}

}  // namespace

TEST(MxintGrid, TwoBitsIsTernary) {
  // s = 4 (max 7.6 has exponent 2); |x|/s rounds to {0, 1}, 0.5 is a tie to even (0), 1.9 clips to 1.
  expect_block({4.0f, 1.6f, 2.0f, 2.4f, 7.6f, -2.8f, 0.0f, -1.0f}, {4.0f, 0.0f, 0.0f, 4.0f, 4.0f, -4.0f, 0.0f, 0.0f},
               2);
}

TEST(MxintGrid, ThreeBitsHalves) {
  // s = 1; grid {0, .5, 1, 1.5}; m = RNE(2|x|): 0.25→0 and 0.75→2 and 1.25→2 are ties; ≥ 1.75 clips to 1.5.
  expect_block({1.0f, 0.24f, 0.25f, 0.26f, 0.5f, 0.75f, 1.25f, 1.74f, 1.75f, 1.99f, -0.75f, -1.8f},
               {1.0f, 0.0f, 0.0f, 0.5f, 0.5f, 1.0f, 1.0f, 1.5f, 1.5f, 1.5f, -1.0f, -1.5f}, 3);
}

TEST(MxintGrid, FourBitsQuarters) {
  // s = 1/8 (max 0.2 has exponent −3); grid {0, .25, …, 1.75}·s; ties at odd multiples of s/8;
  // |x|/s ≥ 1.875 clips to 1.75·s.
  constexpr float s = 0.125f;
  expect_block({0.2f, 0.125f * s, 0.375f * s, 0.625f * s, 1.86f * s, 1.875f * s, 1.999f * s, -0.375f * s},
               {1.5f * s, 0.0f, 0.5f * s, 0.5f * s, 1.75f * s, 1.75f * s, 1.75f * s, -0.5f * s}, 4);
}

TEST(MxintGrid, NegativeValuesAreSymmetric) {
  const auto W = wave_matrix(96, 3);
  Matrix<float> neg(W.rows(), W.cols());
  for (index_t k = 0; k < W.size(); ++k) neg.data()[k] = -W.data()[k];
  for (int w = 2; w <= 8; ++w) {
    const auto q = quantize(W, mxint(w)), qn = quantize(neg, mxint(w));
    for (index_t k = 0; k < W.size(); ++k) ASSERT_EQ(qn.data()[k], -q.data()[k]) << "w = " << w;
  }
}

TEST(MxintGrid, ValuesRoundingToZeroArePositiveZero) {
  const auto q = quantize(column({1.0f, -0.1f, -0.0f, 0.1f}), mxint(3, 4));
  for (index_t i = 1; i < 4; ++i) {
    EXPECT_EQ(q(i, 0), 0.0f);
    EXPECT_FALSE(std::signbit(q(i, 0))) << "row " << i;
  }
}

TEST(MxintGrid, AllZeroBlockStaysZeroWithExponentOne) {
  std::vector<float> x(64, 0.0f);
  x[40] = 3.0f;  // second block non-zero, first block all zero
  const auto q = quantize(column(x), mxint(4));
  for (index_t i = 0; i < 32; ++i) EXPECT_EQ(q(i, 0), 0.0f);
  EXPECT_EQ(q(40, 0), 3.0f);
  const auto e = encode(column(x), mxint(4));
  ASSERT_EQ(e.exponents.size(), 2u);
  EXPECT_EQ(e.exponents[0], 1);
  EXPECT_EQ(e.exponents[1], 128);
}

TEST(MxintGrid, SubnormalsAreFlushedBeforeScaling) {
  // Without the flush, 8-bit MXINT would keep 1e-39 as round(1e-39/2^-126 · 64) = 5 steps of s/64.
  const float sub = 1.0e-39f;
  ASSERT_FALSE(std::isnormal(sub));
  expect_block({sub, -2.0f * sub, FLT_MIN / 2}, {0.0f, 0.0f, 0.0f}, 8);
  EXPECT_EQ(encode(column({sub, -sub}), mxint(8, 2)).exponents[0], 1);
  // Next to the smallest normal the block keeps e* = 1 and the subnormal still vanishes.
  expect_block({FLT_MIN, sub, 1.5f * FLT_MIN}, {FLT_MIN, 0.0f, 1.5f * FLT_MIN}, 8);
}

TEST(MxintGrid, ExtremeExponentsStayFiniteAndExact) {
  // e* = 254: m·s would overflow, the dequantized 1.5·2^127 must not.
  const float big = 3.0e38f;
  expect_block({big, -big / 2}, {std::ldexp(1.5f, 127), -std::ldexp(1.0f, 127)}, 3);
  // e* = 1 with w = 8: 2^(w−2)/s = 2^132 is not a float, the result must still be exact.
  expect_block({1.75f * FLT_MIN, 0.25f * FLT_MIN * 4}, {1.75f * FLT_MIN, FLT_MIN}, 8);
}

TEST(MxintProperties, OnGridWithinHalfStepAndSharedExponentIsBlockMax) {
  // The bound s/2^(w−1) (half a grid step) needs no slack: every MXINT operation but the rounding is exact.
  for (int block : {16, 32, 64})
    for (int w = 2; w <= 8; ++w) {
      const auto W = wave_matrix(172, 6);
      const auto q = quantize(W, mxint(w, block));
      const auto e = encode(W, mxint(w, block));
      const float steps = std::ldexp(1.0f, w - 2), top = std::ldexp(1.0f, w - 1) - 1;
      for (index_t j = 0; j < W.cols(); ++j)
        for (index_t i = 0; i < W.rows(); ++i) {
          const float s = block_scale(W, i, j, block);
          const float k = q(i, j) / s * steps;  // exact: powers of two
          ASSERT_EQ(k, std::nearbyint(k)) << "off grid at (" << i << ", " << j << ")";
          ASSERT_LE(std::fabs(k), top);
          const bool clipped = std::fabs(W(i, j)) / s * steps > top + 0.5f;
          if (clipped)
            ASSERT_EQ(q(i, j), std::copysign(top / steps * s, W(i, j)));
          else
            ASSERT_LE(std::fabs(W(i, j) - q(i, j)), s / (2 * steps)) << i << ", " << j;
          const auto b = static_cast<std::size_t>(j * e.blocks_per_column() + i / block);
          ASSERT_EQ(std::ldexp(1.0f, e.exponents[b] - 127), s);
        }
    }
}

TEST(MxintProperties, PaddedLastBlockEqualsExplicitZeroPadding) {
  // 172 = 5·32 + 12: the last block of each column is zero padded; the padding must not alter any value.
  const auto W = wave_matrix(172, 4);
  Matrix<float> padded(192, 4);
  for (index_t j = 0; j < 4; ++j) std::copy(W.col(j), W.col(j) + 172, padded.col(j));
  for (int w = 2; w <= 8; ++w)
    EXPECT_TRUE(bitwise_equal(quantize(W, mxint(w)), quantize(padded, mxint(w)).row_block(0, 172))) << w;
}

TEST(MxintFastPath, MatchesReferenceBitForBit) {
  struct Shape {
    index_t in, out;
  };
  for (Shape sh : {Shape{172, 5}, Shape{7, 3}, Shape{64, 4}, Shape{97, 2}, Shape{1, 1}, Shape{0, 2}, Shape{5, 0}})
    for (int block : {16, 32, 64})
      for (int w = 2; w <= 8; ++w) {
        const QuantSettings s = mxint(w, block);
        for (const auto& W : {wave_matrix(sh.in, sh.out), normal_matrix(sh.in, sh.out, 7),
                              tie_matrix(sh.in, sh.out, w, 11), extreme_matrix(sh.in, sh.out, 13)})
          ASSERT_TRUE(bitwise_equal(quantize(W, s), quantize_reference(W, s)))
              << sh.in << "x" << sh.out << " w = " << w << " B = " << block;
      }
}

TEST(MxintFastPath, OddBlockSizesMatchReference) {
  const auto W = extreme_matrix(100, 3, 17);
  for (int block : {1, 3, 100, 1000})
    for (int w : {2, 5, 8})
      EXPECT_TRUE(bitwise_equal(quantize(W, mxint(w, block)), quantize_reference(W, mxint(w, block)))) << block;
}
