// SPDX-License-Identifier: MIT
// Mean ± std over seeds and the win-rate of SRR over QER.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "base/error.hpp"
#include "sweep/stats.hpp"

namespace {

using namespace srr::sweep;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(Stats, MeanAndSampleStd) {
  const std::vector<double> v = {7.0, 8.0, 9.0};
  const MeanStd m = mean_std(v);
  EXPECT_EQ(m.n, 3u);
  EXPECT_DOUBLE_EQ(m.mean, 8.0);
  EXPECT_DOUBLE_EQ(m.std, 1.0);  // n − 1 in the denominator
  const std::vector<double> same(3, 13.0 / 14.0);
  EXPECT_EQ(mean_std(same).std, 0.0);  // no rounding noise
  const std::vector<double> one = {5.5};
  EXPECT_DOUBLE_EQ(mean_std(one).std, 0.0);
}

TEST(Stats, NonFiniteValuesAreLeftOut) {
  const std::vector<double> v = {1.0, kNaN, 3.0, std::numeric_limits<double>::infinity()};
  const MeanStd m = mean_std(v);
  EXPECT_EQ(m.n, 2u);
  EXPECT_DOUBLE_EQ(m.mean, 2.0);
  EXPECT_NEAR(m.std, std::sqrt(2.0), 1e-15);
  const std::vector<double> none = {kNaN};
  EXPECT_EQ(mean_std(none).n, 0u);
  EXPECT_TRUE(std::isnan(mean_std(none).mean));
  EXPECT_TRUE(std::isnan(mean_std(std::vector<double>{}).mean));
}

TEST(Stats, Formatting) {
  EXPECT_EQ(format_mean_std(mean_std(std::vector<double>{7.72, 7.746}), 4), "7.733 ± 0.018");
  EXPECT_EQ(format_mean_std(mean_std(std::vector<double>{7.7331}), 4), "7.733");
  EXPECT_EQ(format_mean_std(mean_std(std::vector<double>{}), 4), "–");
  EXPECT_EQ(format_number(kNaN, 4), "nan");
  EXPECT_EQ(format_number(0.123456, 3), "0.123");
}

TEST(Stats, WinRate) {
  const std::vector<double> srr = {0.1, 0.2, 0.3, 0.4};
  const std::vector<double> qer = {0.2, 0.2, 0.1, 0.5};
  EXPECT_DOUBLE_EQ(win_rate(srr, qer), 0.5);  // a tie is not a win
  const std::vector<double> srr_nan = {0.1, kNaN, 0.3, 0.4};
  EXPECT_DOUBLE_EQ(win_rate(srr_nan, qer), 2.0 / 3.0);  // layers without a metric do not count
  EXPECT_TRUE(std::isnan(win_rate(std::vector<double>{kNaN}, std::vector<double>{1.0})));
  EXPECT_THROW(win_rate(srr, std::vector<double>{1.0}), srr::InputError);
}

}  // namespace
