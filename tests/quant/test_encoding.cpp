// SPDX-License-Identifier: MIT
// The encoded form: decode(encode(W)) equals quantize(W) bit for bit, codes and metadata are in range and
// laid out column by column, and decode rejects a corrupted Encoded.
#include <gtest/gtest.h>

#include "quant_test_util.hpp"

using namespace srr::quant;
using namespace srr::quant::test;

namespace {

struct Shape {
  index_t in, out;
};
const std::vector<Shape> shapes = {{172, 5}, {7, 3}, {64, 4}, {1, 1}, {0, 2}};

/// Every (scheme, width, block) combination the round-trip tests sweep.
std::vector<QuantSettings> all_settings() {
  std::vector<QuantSettings> out;
  for (Scheme scheme : {Scheme::Mxint, Scheme::IntGroup})
    for (int w = 2; w <= 8; ++w)
      for (int block : {16, 32, 64}) out.push_back({scheme, w, block});
  return out;
}

/// Second data set per scheme: extremes for MXINT; INT-g rejects ranges near FLT_MAX, so Gaussian data.
Matrix<float> data_for(Scheme scheme, Shape sh) {
  return scheme == Scheme::Mxint ? extreme_matrix(sh.in, sh.out, 3) : normal_matrix(sh.in, sh.out, 3);
}

}  // namespace

TEST(Encoding, RoundTripEqualsQuantize) {
  for (const QuantSettings& s : all_settings())
    for (Shape sh : shapes)
      for (const auto& W : {wave_matrix(sh.in, sh.out), data_for(s.scheme, sh)}) {
        ASSERT_TRUE(bitwise_equal(decode(encode(W, s)), quantize(W, s)))
            << to_string(s.scheme) << " w = " << s.width << " B = " << s.block << " " << sh.in << "x" << sh.out;
      }
}

TEST(Encoding, CodesAndMetadataInRange) {
  for (const QuantSettings& s : all_settings()) {
    const auto W = normal_matrix(172, 5, 21);
    const Encoded e = encode(W, s);
    const auto blocks = static_cast<std::size_t>(e.blocks_per_column() * e.out);
    ASSERT_EQ(e.blocks_per_column(), (172 + s.block - 1) / s.block);
    ASSERT_EQ(e.codes.size(), 172u * 5u);
    if (s.scheme == Scheme::Mxint) {
      const int top = (1 << (s.width - 1)) - 1;
      ASSERT_EQ(e.exponents.size(), blocks);
      EXPECT_TRUE(e.scales.empty() && e.zeros.empty());
      for (auto x : e.exponents) ASSERT_TRUE(x >= 1 && x <= 254);
      for (auto c : e.codes) ASSERT_TRUE(c >= -top && c <= top) << int(c);
    } else {
      const int half = 1 << (s.width - 1);
      ASSERT_EQ(e.scales.size(), blocks);
      ASSERT_EQ(e.zeros.size(), blocks);
      EXPECT_TRUE(e.exponents.empty());
      for (auto z : e.zeros) ASSERT_LT(int(z), 2 * half);
      for (auto c : e.codes) ASSERT_TRUE(c >= -half && c < half) << int(c);
    }
  }
}

TEST(Encoding, CodesAreStoredColumnByColumn) {
  // One non-zero element per column at a different row: its code must sit at j·in + i.
  Matrix<float> W(40, 3);
  W(5, 0) = 1.0f;
  W(33, 1) = -1.0f;
  W(39, 2) = 1.0f;
  const Encoded e = encode(W, {Scheme::Mxint, 4, 32});
  for (std::size_t k = 0; k < e.codes.size(); ++k) {
    const int expected = k == 5 ? 4 : k == 40 + 33 ? -4 : k == 80 + 39 ? 4 : 0;
    EXPECT_EQ(e.codes[k], expected) << "code " << k;
  }
  // Blocks per column: 2; exponent 127 where the 1.0 lives, 1 elsewhere.
  EXPECT_EQ(e.exponents, (std::vector<std::uint8_t>{127, 1, 1, 127, 1, 127}));
}

TEST(Encoding, DecodeRejectsCorruptedInput) {
  const auto W = wave_matrix(40, 2);
  const Encoded good = encode(W, {Scheme::Mxint, 3, 16});
  auto corrupt = [&](auto edit, std::vector<std::string> fragments) {
    Encoded e = good;
    edit(e);
    return throws_input_error([&] { decode(e); }, fragments);
  };
  EXPECT_TRUE(corrupt([](Encoded& e) { e.codes.pop_back(); }, {"codes"}));
  EXPECT_TRUE(corrupt([](Encoded& e) { e.exponents.pop_back(); }, {"exponents"}));
  EXPECT_TRUE(corrupt([](Encoded& e) { e.exponents[0] = 0; }, {"exponent 0"}));
  EXPECT_TRUE(corrupt([](Encoded& e) { e.exponents[0] = 255; }, {"exponent 255"}));
  EXPECT_TRUE(corrupt([](Encoded& e) { e.codes[0] = 4; }, {"code 4"}));
  EXPECT_TRUE(corrupt([](Encoded& e) { e.settings.width = 9; }, {"--bits"}));

  const Encoded good_int = encode(W, {Scheme::IntGroup, 3, 16});
  Encoded e = good_int;
  e.scales[1] = 0.0f;
  EXPECT_TRUE(throws_input_error([&] { decode(e); }, {"scale"}));
  e = good_int;
  e.zeros[0] = 8;
  EXPECT_TRUE(throws_input_error([&] { decode(e); }, {"zero point 8"}));
  e = good_int;
  e.zeros.pop_back();
  EXPECT_TRUE(throws_input_error([&] { decode(e); }, {"zero points"}));
}
