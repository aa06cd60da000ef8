// SPDX-License-Identifier: MIT
// INT-g: exact values on hand-built groups, grid and error properties, zero handling, reference agreement.
#include <gtest/gtest.h>

#include <cmath>

#include "quant_test_util.hpp"

using namespace srr::quant;
using namespace srr::quant::test;

namespace {

/// Float32 rounding of x/scale and of k·scale (|k| ≤ 255), in units of scale.
constexpr float rounding_slack = 1e-4f;

QuantSettings int_g(int width, int group = 32) { return {Scheme::IntGroup, width, group}; }

void expect_group(const std::vector<float>& x, const std::vector<float>& expected, int width) {
  const QuantSettings s = int_g(width, static_cast<int>(x.size()));
  const auto q = quantize(column(x), s), r = quantize_reference(column(x), s);
  for (std::size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(q(static_cast<index_t>(i), 0), expected[i]) << "x = " << x[i];
    EXPECT_EQ(r(static_cast<index_t>(i), 0), expected[i]) << "reference, x = " << x[i];
  }
}

/// Wave data with exact zeros at every fifth element, to check that 0 survives quantization exactly.
Matrix<float> data_with_zeros(index_t in, index_t out) {
  auto W = wave_matrix(in, out);
  for (index_t k = 0; k < W.size(); k += 5) W.data()[k] = 0.0f;
  return W;
}

}  // namespace

TEST(IntGroupGrid, HandBuiltGroups) {
  // lo = −1, hi = 2, scale = 1, zero = 1; 0.5 is a tie that rounds to even (0).
  expect_group({-1.0f, 0.0f, 0.5f, 2.0f}, {-1.0f, 0.0f, 0.0f, 2.0f}, 2);
  // All positive: lo is raised to 0, scale = 7/7 = 1, zero = 0.
  expect_group({0.7f, 1.4f, 0.0f, 7.0f}, {1.0f, 1.0f, 0.0f, 7.0f}, 3);
  // All negative: hi is raised to 0, scale = 1, zero = 3; −1.5 rounds to even (−2).
  expect_group({-3.0f, -1.5f, -0.4f}, {-3.0f, -2.0f, 0.0f}, 2);
}

TEST(IntGroupGrid, AllZeroGroupUsesUnitScale) {
  std::vector<float> x(40, 0.0f);
  x[35] = 1.0f;
  const auto e = encode(column(x), int_g(4));
  ASSERT_EQ(e.scales.size(), 2u);
  EXPECT_EQ(e.scales[0], 1.0f);
  EXPECT_EQ(e.zeros[0], 0);
  const auto q = quantize(column(x), int_g(4));
  for (index_t i = 0; i < 32; ++i) EXPECT_EQ(q(i, 0), 0.0f);
  EXPECT_EQ(q(35, 0), 1.0f);
}

TEST(IntGroupProperties, OnGridWithinHalfScaleAndZeroExact) {
  for (int group : {16, 32, 128})
    for (int w = 2; w <= 8; ++w) {
      const auto W = data_with_zeros(172, 5);
      const auto q = quantize(W, int_g(w, group));
      const auto e = encode(W, int_g(w, group));
      const float top = std::ldexp(1.0f, w) - 1;
      for (index_t j = 0; j < W.cols(); ++j)
        for (index_t i = 0; i < W.rows(); ++i) {
          const auto g = static_cast<std::size_t>(j * e.blocks_per_column() + i / group);
          const float scale = e.scales[g], zero = e.zeros[g];
          ASSERT_GT(scale, 0.0f);
          ASSERT_LE(zero, top);
          const float k = q(i, j) / scale;
          ASSERT_NEAR(k, std::nearbyint(k), rounding_slack * 256) << "off grid at (" << i << ", " << j << ")";
          ASSERT_GE(std::nearbyint(k), -zero);
          ASSERT_LE(std::nearbyint(k), top - zero);
          ASSERT_LE(std::fabs(W(i, j) - q(i, j)), scale * (0.5f + rounding_slack)) << i << ", " << j;
          if (W(i, j) == 0.0f) {
            ASSERT_TRUE(q(i, j) == 0.0f && !std::signbit(q(i, j))) << i << ", " << j;
          }
        }
    }
}

TEST(IntGroupProperties, PaddedLastGroupEqualsExplicitZeroPadding) {
  const auto W = normal_matrix(172, 3, 5);
  Matrix<float> padded(192, 3);
  for (index_t j = 0; j < 3; ++j) std::copy(W.col(j), W.col(j) + 172, padded.col(j));
  for (int w = 2; w <= 8; ++w)
    EXPECT_TRUE(bitwise_equal(quantize(W, int_g(w)), quantize(padded, int_g(w)).row_block(0, 172))) << w;
}

TEST(IntGroupFastPath, MatchesReferenceBitForBit) {
  struct Shape {
    index_t in, out;
  };
  for (Shape sh : {Shape{172, 5}, Shape{7, 3}, Shape{64, 4}, Shape{1, 1}, Shape{0, 2}})
    for (int group : {16, 32, 64, 128})
      for (int w = 2; w <= 8; ++w) {
        const QuantSettings s = int_g(w, group);
        for (const auto& W : {data_with_zeros(sh.in, sh.out), normal_matrix(sh.in, sh.out, 3),
                              tie_matrix(sh.in, sh.out, w, 9)})
          ASSERT_TRUE(bitwise_equal(quantize(W, s), quantize_reference(W, s)))
              << sh.in << "x" << sh.out << " w = " << w << " g = " << group;
      }
}

TEST(IntGroupFastPath, TinyAndHugeRangesMatchReference) {
  // Subnormal-sized ranges give a subnormal or zero scale; huge ranges approach the float32 limit.
  const auto tiny = column({1e-44f, -3e-45f, 0.0f, 2e-45f});
  const auto huge = column({1.0e38f, -0.7e38f, 5.0f, 0.0f});
  for (int w = 2; w <= 8; ++w) {
    EXPECT_TRUE(bitwise_equal(quantize(tiny, int_g(w, 4)), quantize_reference(tiny, int_g(w, 4)))) << w;
    EXPECT_TRUE(bitwise_equal(quantize(huge, int_g(w, 4)), quantize_reference(huge, int_g(w, 4)))) << w;
  }
}

TEST(IntGroupFastPath, RangeBeyondFloatLimitIsRejected) {
  const auto W = column({3.0e38f, -3.0e38f});
  EXPECT_TRUE(throws_input_error([&] { quantize(W, int_g(4, 2)); }, {"INT-g group range"}));
}
