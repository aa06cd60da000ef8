// SPDX-License-Identifier: MIT
// Scales (method.md §4) and calibration statistics against independent float64 computations.
#include <gtest/gtest.h>

#include <algorithm>

#include "helpers.hpp"
#include "qer/scale.hpp"

using namespace srr;
using namespace srr::qer;
using namespace srr::qer::test;

namespace {

/// Activations with correlated channels, as float32 windows.
std::vector<Matrix<float>> windows(index_t m, index_t count, index_t t, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<Matrix<float>> out;
  for (index_t w = 0; w < count; ++w) {
    Matrix<float> X(t, m);
    for (index_t i = 0; i < t; ++i) {
      const double common = rng.normal();
      for (index_t j = 0; j < m; ++j) X(i, j) = static_cast<float>((1.0 + j) * 0.1 * rng.normal() + 0.3 * common);
    }
    out.push_back(X);
  }
  return out;
}

InputStatistics collect(const std::vector<Matrix<float>>& ws, bool xtx = true) {
  InputStatistics s = make_statistics(ws[0].cols(), xtx);
  for (const auto& X : ws) s.accumulate(X, xtx);
  if (xtx) s.symmetrize();
  return s;
}

}  // namespace

TEST(Statistics, AccumulateMatchesIndependentFloat64) {
  const auto ws = windows(6, 3, 50, 1);
  const auto s = collect(ws);
  EXPECT_EQ(s.tokens, 150);
  for (index_t j = 0; j < 6; ++j) {
    double mean_abs_max = 0, sq = 0;
    for (const auto& X : ws) {
      double a = 0;
      for (index_t i = 0; i < X.rows(); ++i) {
        a += std::fabs(double(X(i, j)));
        sq += double(X(i, j)) * double(X(i, j));
      }
      mean_abs_max = std::max(mean_abs_max, a / X.rows());
    }
    EXPECT_NEAR(s.mean_abs_max[j], mean_abs_max, 1e-14 * mean_abs_max);
    EXPECT_NEAR(s.sum_sq[j], sq, 1e-13 * sq);
    for (index_t k = 0; k < 6; ++k) {
      double xtx = 0;
      for (const auto& X : ws)
        for (index_t i = 0; i < X.rows(); ++i) xtx += double(X(i, j)) * double(X(i, k));
      EXPECT_NEAR(s.xtx(j, k), xtx, 1e-12 * sq);
    }
  }
}

TEST(Statistics, MergeEqualsOneAccumulation) {
  const auto ws = windows(5, 4, 20, 2);
  const auto all = collect(ws);
  auto a = collect({ws[0], ws[1]});
  a.merge(collect({ws[2], ws[3]}));  // both halves symmetric, so the sum is
  EXPECT_EQ(a.tokens, all.tokens);
  for (index_t j = 0; j < 5; ++j) {
    EXPECT_DOUBLE_EQ(a.mean_abs_max[j], all.mean_abs_max[j]);
    EXPECT_NEAR(a.sum_sq[j], all.sum_sq[j], 1e-13 * all.sum_sq[j]);
  }
  EXPECT_LT(rel_diff(a.xtx, all.xtx), 1e-14);
}

TEST(Statistics, ValidateRejectsBadValues) {
  auto s = collect(windows(4, 1, 10, 3));
  s.sum_sq[2] = std::nan("");
  EXPECT_THROW(s.validate("layer x"), InputError);
  s = collect(windows(4, 1, 10, 3));
  s.mean_abs_max[1] = -1;
  EXPECT_THROW(s.validate("layer x"), InputError);
  s = collect(windows(4, 1, 10, 3));
  s.xtx(1, 2) = std::numeric_limits<double>::infinity();
  try {
    s.validate("model.layers.0.mlp");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.0.mlp"), std::string::npos);
  }
  s = collect(windows(4, 1, 10, 3));
  s.tokens = 0;
  EXPECT_THROW(s.validate("x"), InputError);
}

TEST(Scale, LqerIsNormalisedClampedMeanAbs) {
  auto st = collect(windows(6, 3, 40, 4));
  st.mean_abs_max[0] = 1e-7;  // below the 1e-4 clamp
  const Scale S = build_scale(st, {.kind = ScaleKind::Lqer}, "x");
  ASSERT_EQ(S.form(), Scale::Form::Diagonal);
  std::vector<double> s = st.mean_abs_max;
  for (double& v : s) v = std::max(v, 1e-4);
  const double norm = std::sqrt(*std::min_element(s.begin(), s.end()) * *std::max_element(s.begin(), s.end()));
  const auto D = S.dense();
  for (index_t i = 0; i < 6; ++i) EXPECT_NEAR(D(i, i), s[i] / norm, 1e-15 * s[i] / norm);
}

TEST(Scale, QeraApproxIsRootMeanSquare) {
  const auto st = collect(windows(6, 2, 40, 5));
  const auto D = build_scale(st, {.kind = ScaleKind::QeraApprox}, "x").dense();
  for (index_t i = 0; i < 6; ++i) EXPECT_NEAR(D(i, i), std::sqrt(st.sum_sq[i] / 80.0), 1e-15 * D(i, i));
}

TEST(Scale, DeadChannelsAreFlooredNotZero) {
  auto ws = windows(5, 2, 30, 6);
  for (auto& X : ws)
    for (index_t i = 0; i < X.rows(); ++i) X(i, 3) = 0;
  const auto st = collect(ws);
  for (auto kind : {ScaleKind::QeraApprox, ScaleKind::QeraExact}) {
    const Scale S = build_scale(st, {.kind = kind, .exact_impl = ExactImpl::Eigh}, "x");
    EXPECT_GE(S.report().floored, 1) << to_string(kind);
    Matrix<double> X = gaussian(5, 2, 7);
    Matrix<double> Y = S.times(X);
    S.apply_inverse(Y);
    EXPECT_LT(rel_diff(Y, X), 1e-5) << to_string(kind);  // invertible despite the dead channel
  }
}

TEST(Scale, QeraExactSquaresToRxxAndInvertsInFloat64) {
  const auto st = collect(windows(8, 4, 64, 7));
  const Scale S = build_scale(st, {.kind = ScaleKind::QeraExact, .exact_impl = ExactImpl::Eigh, .eig_floor = 0}, "x");
  ASSERT_EQ(S.form(), Scale::Form::Symmetric);
  EXPECT_TRUE(S.exact_root());
  const auto Sd = S.dense();
  const auto R = st.rxx();
  EXPECT_LT(rel_diff(la::matmul(Sd, Sd, la::Op::T, la::Op::N), R), 100 * eps64 * S.report().condition);
  EXPECT_LT(rel_diff(Sd, Sd.transposed()), 10 * eps64);
  Matrix<double> X = gaussian(8, 3, 8);
  Matrix<double> Y = S.times(X);
  S.apply_inverse(Y);
  EXPECT_LT(rel_diff(Y, X), 100 * eps64 * S.report().condition);
}

TEST(Scale, CholeskyRootIsTheDefaultAndSquaresToRxx) {
  const auto st = collect(windows(40, 4, 64, 7));
  const Scale S = build_scale(st, {.kind = ScaleKind::QeraExact}, "x");
  ASSERT_EQ(S.form(), Scale::Form::Upper);
  EXPECT_TRUE(S.exact_root());
  EXPECT_EQ(S.report().ridge, 0.0);
  const auto Sd = S.dense();
  const auto R = st.rxx();
  // Cholesky is backward stable: UᵀU = R + E with ‖E‖ ≲ m·ε·‖R‖, whatever the condition.
  EXPECT_LT(rel_diff(la::matmul(Sd, Sd, la::Op::T, la::Op::N), R), 40 * 4 * eps64);
  for (index_t j = 0; j < 40; ++j)
    for (index_t i = j + 1; i < 40; ++i) ASSERT_EQ(Sd(i, j), 0.0);
  // The condition estimate is within the 1-norm estimator's factor of the true cond(S) = sqrt(κ₂(R)).
  const auto eig = la::syevd(R, false);
  const double cond = std::sqrt(eig.w.back() / eig.w.front());
  EXPECT_GE(S.report().condition, 0.3 * cond);
  EXPECT_LE(S.report().condition, std::sqrt(40.0) * cond * 1.01);
  // S⁻¹ by trsm in float64, S·X by trmm in both precisions.
  Matrix<double> X = gaussian(40, 3, 8);
  Matrix<double> Y = S.times(X);
  EXPECT_LT(rel_diff(Y, la::matmul(Sd, X)), 10 * 40 * eps64);
  const Matrix<float> Yf = S.times(X.cast<float>());
  EXPECT_LT(rel_diff(Yf.cast<double>(), Y), 10 * 40 * eps32);
  S.apply_inverse(Y);
  EXPECT_LT(rel_diff(Y, X), 100 * eps64 * S.report().condition * S.report().condition);
}

TEST(Scale, CholeskyRootAndSymmetricRootDifferByAnOrthogonalFactor) {
  // Both are roots of R_xx, so S_chol·S_eigh⁻¹ is orthogonal: every result srr computes is invariant.
  const auto st = collect(windows(12, 4, 64, 21));
  const Scale C = build_scale(st, {.kind = ScaleKind::QeraExact}, "x");
  const Scale E = build_scale(st, {.kind = ScaleKind::QeraExact, .exact_impl = ExactImpl::Eigh}, "x");
  Matrix<double> O = C.dense();
  Matrix<double> Ot = O.transposed();
  E.apply_inverse(Ot);  // S_eigh⁻¹·S_cholᵀ = (S_chol·S_eigh⁻¹)ᵀ, S_eigh symmetric
  const auto I = la::matmul(Ot, Ot, la::Op::T, la::Op::N);
  Matrix<double> eye(12, 12);
  for (index_t i = 0; i < 12; ++i) eye(i, i) = 1;
  EXPECT_LT(rel_diff(I, eye), 1e3 * eps64 * E.report().condition);
}

TEST(Scale, CholeskyRootRidgesANearSingularRxx) {
  // Rank-deficient R_xx (3 tokens in 6 dimensions): potrf fails or the condition estimate is below the
  // floor, so a ridge δ = floor·‖R‖₁ is added; every eigenvalue of SᵀS is then ≥ floor·λ_max(R).
  const auto st = collect(windows(6, 1, 3, 11));
  const auto R = st.rxx();
  for (double floor : {1e-6, 1e-10, 0.0}) {
    const Scale S = build_scale(st, {.kind = ScaleKind::QeraExact, .eig_floor = floor}, "x");
    ASSERT_EQ(S.form(), Scale::Form::Upper);
    EXPECT_TRUE(S.exact_root()) << floor;  // of R_xx + δI: SᵀS = R_xx + root_shift()·I
    EXPECT_GE(S.report().ridge, std::max(floor, eps64)) << floor;
    EXPECT_LE(S.report().ridge, 1e3 * std::max(floor, eps64)) << floor;  // at most a few ×10 steps
    double anorm = 0;
    for (index_t j = 0; j < 6; ++j) {
      double col = 0;
      for (index_t i = 0; i < 6; ++i) col += std::fabs(R(i, j));
      anorm = std::max(anorm, col);
    }
    const auto Sd = S.dense();
    Matrix<double> expected = R;
    for (index_t i = 0; i < 6; ++i) expected(i, i) += S.report().ridge * anorm;
    EXPECT_DOUBLE_EQ(S.root_shift(), S.report().ridge * anorm) << floor;
    EXPECT_LT(rel_diff(la::matmul(Sd, Sd, la::Op::T, la::Op::N), expected), 100 * eps64);
    const auto w = la::syevd(la::matmul(Sd, Sd, la::Op::T, la::Op::N), false).w;
    const double lmax = la::syevd(R, false).w.back();
    if (floor > 0) {
      EXPECT_GE(w.front(), floor * lmax * (1 - 1e-6)) << floor;
    }
    Matrix<double> X = gaussian(6, 2, 7);
    Matrix<double> Y = S.times(X);
    S.apply_inverse(Y);
    EXPECT_LT(rel_diff(Y, X), 1e-5) << floor;  // invertible
  }
  // A well-conditioned R_xx gets no ridge at any floor below its reciprocal condition number.
  const auto good = collect(windows(6, 4, 64, 12));
  EXPECT_EQ(build_scale(good, {.kind = ScaleKind::QeraExact, .eig_floor = 1e-8}, "x").report().ridge, 0.0);
}

TEST(Scale, CholeskyWithoutShrinkageIsARootOfRxx) {
  const auto st = collect(windows(8, 4, 64, 9));
  const Scale S = build_scale(
      st, {.kind = ScaleKind::QeraExact, .exact_impl = ExactImpl::CholeskyShrink, .shrinkage = false}, "x");
  ASSERT_EQ(S.form(), Scale::Form::Upper);
  const auto Sd = S.dense();
  EXPECT_LT(rel_diff(la::matmul(Sd, Sd, la::Op::T, la::Op::N), st.rxx()), 1e3 * eps64);
  for (index_t j = 0; j < 8; ++j)
    for (index_t i = j + 1; i < 8; ++i) EXPECT_EQ(Sd(i, j), 0.0);
}

TEST(Scale, CholeskyShrinkageFollowsTheReleasedRule) {
  const auto st = collect(windows(6, 4, 64, 10));
  const Scale S = build_scale(st, {.kind = ScaleKind::QeraExact, .exact_impl = ExactImpl::CholeskyShrink}, "x");
  // Independent computation of §4.5b.
  const auto R = st.rxx();
  const index_t d = 6;
  double mu = 0;
  for (index_t i = 0; i < d; ++i) mu += R(i, i) / d;
  double d2 = 0, b2 = 0;
  for (index_t i = 0; i < d; ++i)
    for (index_t j = 0; j < d; ++j)
      if (i == j)
        d2 += std::pow(R(i, i) - mu, 2) / d;
      else
        b2 += R(i, j) * R(i, j) / (d * (d - 1));
  const double lambda = std::clamp(std::min(b2, d2) / (d2 + eps64), 0.0, 1.0);
  EXPECT_NEAR(S.report().shrinkage_lambda, lambda, 1e-12);
  Matrix<double> Rs = R;
  for (auto& v : Rs.values()) v *= 1 - lambda;
  for (index_t i = 0; i < d; ++i) Rs(i, i) += lambda * mu;
  const auto Sd = S.dense();
  EXPECT_LT(rel_diff(la::matmul(Sd, Sd, la::Op::T, la::Op::N), Rs), 1e3 * eps64);
}

TEST(Scale, EigenvalueFloorBoundsTheCondition) {
  // Rank-deficient R_xx: 3 tokens in 6 dimensions.
  const auto st = collect(windows(6, 1, 3, 11));
  const Scale S = build_scale(st, {.kind = ScaleKind::QeraExact, .exact_impl = ExactImpl::Eigh, .eig_floor = 1e-6}, "x");
  EXPECT_EQ(S.report().floored, 3);
  EXPECT_FALSE(S.exact_root());
  EXPECT_NEAR(S.report().condition, std::sqrt(1e6), 1e-6 * std::sqrt(1e6));
}

TEST(Scale, QeraExactNeedsXtx) {
  const auto st = collect(windows(4, 1, 10, 12), false);
  try {
    build_scale(st, {.kind = ScaleKind::QeraExact}, "model.layers.3.self_attn.q_proj");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.3.self_attn.q_proj"), std::string::npos);
  }
}

TEST(Scale, NamesRoundTrip) {
  for (auto k : {ScaleKind::Identity, ScaleKind::Lqer, ScaleKind::QeraApprox, ScaleKind::QeraExact})
    EXPECT_EQ(scale_kind_from_string(to_string(k)), k);
  EXPECT_THROW(scale_kind_from_string("rxx"), InputError);
  for (auto k : {ExactImpl::Cholesky, ExactImpl::Eigh, ExactImpl::CholeskyShrink})
    EXPECT_EQ(exact_impl_from_string(to_string(k)), k);
  EXPECT_EQ(to_string(ExactImpl::Cholesky), "chol");
  EXPECT_EQ(ScaleSettings{}.exact_impl, ExactImpl::Cholesky);
  EXPECT_THROW(exact_impl_from_string("cholesky"), InputError);
}

TEST(Synthetic, ExpectedStatisticsMatchSampledOnes) {
  // The analytic statistics the benchmarks use are the expectation of the sampled ones.
  const auto sampled = synthetic_statistics({.dim = 24, .tokens = 200000, .window = 1000, .seed = 3});
  const auto expected = synthetic_statistics({.dim = 24, .tokens = 200000, .sampled = false, .seed = 3});
  EXPECT_EQ(expected.tokens, sampled.tokens);
  for (index_t i = 0; i < 24; ++i) {
    EXPECT_NEAR(expected.sum_sq[i], sampled.sum_sq[i], 0.03 * sampled.sum_sq[i]);
    EXPECT_NEAR(expected.mean_abs_max[i], sampled.mean_abs_max[i], 0.1 * sampled.mean_abs_max[i]);
  }
  EXPECT_LT(rel_diff(expected.xtx, sampled.xtx), 0.03);
}
