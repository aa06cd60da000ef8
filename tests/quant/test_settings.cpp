// SPDX-License-Identifier: MIT
// Settings validation, bit accounting, scheme names, rejection of non-finite weights, and the double
// overload.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "quant_test_util.hpp"

using namespace srr::quant;
using namespace srr::quant::test;

TEST(Settings, WidthAndBlockAreValidated) {
  for (Scheme scheme : {Scheme::Mxint, Scheme::IntGroup}) {
    for (int w = 2; w <= 8; ++w) EXPECT_NO_THROW(validate({scheme, w, 32}));
    EXPECT_TRUE(throws_input_error([&] { validate({scheme, 1, 32}); }, {"--bits must be in 2..8, got 1"}));
    EXPECT_TRUE(throws_input_error([&] { validate({scheme, 9, 32}); }, {"--bits must be in 2..8, got 9"}));
    EXPECT_TRUE(throws_input_error([&] { validate({scheme, 3, 0}); }, {"--block must be positive, got 0"}));
    EXPECT_TRUE(throws_input_error([&] { validate({scheme, 3, -8}); }, {"--block", "got -8"}));
  }
}

TEST(Settings, EveryEntryPointValidates) {
  const auto W = wave_matrix(8, 2);
  const QuantSettings bad{Scheme::Mxint, 9, 32};
  EXPECT_TRUE(throws_input_error([&] { quantize(W, bad); }, {"--bits"}));
  EXPECT_TRUE(throws_input_error([&] { quantize(W.cast<double>(), bad); }, {"--bits"}));
  EXPECT_TRUE(throws_input_error([&] { quantize_reference(W, bad); }, {"--bits"}));
  EXPECT_TRUE(throws_input_error([&] { encode(W, {Scheme::IntGroup, 4, 0}); }, {"--block"}));
  EXPECT_TRUE(throws_input_error([&] { bits_per_weight({Scheme::Mxint, 3, -1}); }, {"--block"}));
}

TEST(Settings, BitsPerWeight) {
  EXPECT_DOUBLE_EQ(bits_per_weight({Scheme::Mxint, 3, 32}), 3.25);
  EXPECT_DOUBLE_EQ(bits_per_weight({Scheme::Mxint, 4, 32}), 4.25);
  EXPECT_DOUBLE_EQ(bits_per_weight({Scheme::Mxint, 2, 16}), 2.5);
  EXPECT_DOUBLE_EQ(bits_per_weight({Scheme::IntGroup, 4, 128}), 4.3125);
  EXPECT_DOUBLE_EQ(bits_per_weight({Scheme::IntGroup, 3, 40}), 4.0);
}

TEST(Settings, SchemeNames) {
  for (Scheme s : {Scheme::Mxint, Scheme::IntGroup}) EXPECT_EQ(scheme_from_string(to_string(s)), s);
  EXPECT_EQ(to_string(Scheme::Mxint), "mxint");
  EXPECT_EQ(to_string(Scheme::IntGroup), "int");
  EXPECT_TRUE(throws_input_error([] { scheme_from_string("nf4"); }, {"nf4", "mxint", "int"}));
}

TEST(NonFinite, NanAndInfAreRejectedWithTheirPosition) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()})
    for (Scheme scheme : {Scheme::Mxint, Scheme::IntGroup}) {
      auto W = wave_matrix(40, 3);
      W(37, 2) = bad;
      const QuantSettings s{scheme, 4, 32};
      const std::vector<std::string> where = {"non-finite value at row 37, column 2"};
      EXPECT_TRUE(throws_input_error([&] { quantize(W, s); }, where));
      EXPECT_TRUE(throws_input_error([&] { quantize_reference(W, s); }, where));
      EXPECT_TRUE(throws_input_error([&] { encode(W, s); }, where));
      EXPECT_TRUE(throws_input_error([&] { quantize(W.cast<double>(), s); }, where));
    }
}

TEST(NonFinite, DoubleBeyondFloatRangeIsRejected) {
  Matrix<double> W(4, 1, 0.5);
  W(2, 0) = 1e300;
  EXPECT_TRUE(throws_input_error([&] { quantize(W, {}); }, {"row 2, column 0"}));
}

TEST(DoubleOverload, EqualsFloatPathExactly) {
  for (Scheme scheme : {Scheme::Mxint, Scheme::IntGroup})
    for (int w : {2, 3, 4, 8}) {
      const QuantSettings s{scheme, w, 32};
      // Double data that is not float-representable: the overload rounds to float32 first.
      Matrix<double> Wd(172, 3);
      for (index_t k = 0; k < Wd.size(); ++k) Wd.data()[k] = 0.1 + 2.0 * std::cos(0.37 * static_cast<double>(k));
      const auto qd = quantize(Wd, s);
      const auto qf = quantize(Wd.cast<float>(), s);
      for (index_t k = 0; k < Wd.size(); ++k)
        ASSERT_EQ(qd.data()[k], static_cast<double>(qf.data()[k])) << "w = " << w << " at " << k;
    }
}
