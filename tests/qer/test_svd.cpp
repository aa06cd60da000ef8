// SPDX-License-Identifier: MIT
// The randomized truncated SVD against LAPACK gesdd, on spectra like real weights'.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "helpers.hpp"
#include "qer/svd.hpp"
#include "quant/quantizer.hpp"

using namespace srr;
using namespace srr::qer;
using namespace srr::qer::test;

namespace {
const LocalSvdEngine full_engine({.method = SvdMethod::Full});
const LocalSvdEngine rand_engine({.method = SvdMethod::Randomized});
}  // namespace

TEST(Svd, FullPathIsTruncatedGesdd) {
  const auto A = gaussian(40, 30, 1);
  Rng rng(0);
  const auto t = full_engine.top(A, 7, true, Spectrum::Decaying, rng);
  const auto ref = la::gesdd(A);
  for (int i = 0; i < 7; ++i) EXPECT_DOUBLE_EQ(t.s[i], ref.s[i]);
  EXPECT_EQ(t.U.cols(), 7);
  EXPECT_EQ(t.Vt.rows(), 7);
}

TEST(Svd, RandomizedMatchesGesddOnWeightLikeSpectra) {
  // Bulk + power-law spikes, the shape of trained weights (qer/synthetic.hpp). What the pipeline uses is
  // the captured energy (the rank-r error) and the leading values; both are checked against gesdd.
  for (double decay : {0.5, 1.0, 2.0}) {
    const auto W = synthetic_weight({.in = 300, .out = 200, .decay = decay, .seed = 3}).cast<double>();
    const index_t r = 16;
    const auto ref = la::gesdd(W);
    double tail = 0, best = 0;
    for (std::size_t i = 0; i < ref.s.size(); ++i) (static_cast<index_t>(i) < r ? best : tail) += ref.s[i] * ref.s[i];
    for (Spectrum spectrum : {Spectrum::Flat, Spectrum::Decaying}) {
      Rng rng(5);
      const auto t = rand_engine.top(W, r, true, spectrum, rng);
      // Block Krylov (Flat): energy within 1e-6 of the tail, every value within 1e-4. Plain power
      // iterations (Decaying): within 1e-2 when the spikes sink into the bulk (decay 2).
      const double energy_tol = spectrum == Spectrum::Flat ? 1e-6 : 1e-2;
      const double value_tol = spectrum == Spectrum::Flat ? 1e-4 : 3e-2;
      for (index_t i = 0; i < r; ++i)
        EXPECT_NEAR(t.s[i], ref.s[i], value_tol * ref.s[i]) << "decay " << decay << " i " << i;
      Matrix<double> US = t.U;
      for (index_t j = 0; j < r; ++j)
        for (index_t i = 0; i < US.rows(); ++i) US(i, j) *= t.s[j];
      Matrix<double> E = W;
      la::gemm(la::Op::N, la::Op::N, -1.0, US, t.Vt, 1.0, E);  // W − U_rΣ_rV_rᵀ
      EXPECT_NEAR(la::frobenius2(E), tail, energy_tol * tail) << "decay " << decay;
    }
  }
}

TEST(Svd, RandomizedIsDeterministicGivenTheStream) {
  const auto W = synthetic_weight({.in = 120, .out = 90, .seed = 4});
  Rng a(7, "layer", "x"), b(7, "layer", "x"), c(8, "layer", "x");
  const auto ta = rand_engine.top(W, 8, true, Spectrum::Decaying, a), tb = rand_engine.top(W, 8, true, Spectrum::Decaying, b);
  EXPECT_EQ(ta.s, tb.s);
  EXPECT_EQ(std::vector<float>(ta.U.values().begin(), ta.U.values().end()),
            std::vector<float>(tb.U.values().begin(), tb.U.values().end()));
  const auto tc = rand_engine.top(W, 8, true, Spectrum::Decaying, c);
  EXPECT_NE(std::vector<float>(ta.U.values().begin(), ta.U.values().end()),
            std::vector<float>(tc.U.values().begin(), tc.U.values().end()));
}

TEST(Svd, ValuesOnlyAgreesWithVectors) {
  const auto W = synthetic_weight({.in = 100, .out = 140, .seed = 6}).cast<double>();
  Rng a(1), b(1);
  const auto v = rand_engine.top(W, 10, true, Spectrum::Decaying, a);
  const auto s = rand_engine.top(W, 10, false, Spectrum::Decaying, b);
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(v.s[i], s.s[i], 1e-12 * v.s[0]);
  EXPECT_TRUE(s.U.empty());
}

TEST(Svd, WideSketchFallsBackToFull) {
  const auto A = gaussian(20, 20, 9);
  Rng rng(1);
  const auto t = rand_engine.top(A, 15, true, Spectrum::Decaying, rng);  // 15 + 15 ≥ 20
  const auto ref = la::gesdd(A);
  for (int i = 0; i < 15; ++i) EXPECT_NEAR(t.s[i], ref.s[i], 1e-13 * ref.s[0]);
}

TEST(Svd, BlockKrylovCapturesFlatResidualSpectra) {
  // A 3-bit quantization residual is nearly white noise: the top-r energy is what the error depends on.
  const auto W = synthetic_weight({.in = 512, .out = 384, .seed = 7});
  const auto Q = quant::quantize(W, {quant::Scheme::Mxint, 3, 32});
  Matrix<double> D(512, 384);
  for (index_t i = 0; i < D.size(); ++i) D.data()[i] = double(W.data()[i]) - double(Q.data()[i]);
  const index_t r = 24;
  const auto ref = la::gesdd(D, false).s;
  double best = 0, total = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) (static_cast<index_t>(i) < r ? best : total) += ref[i] * ref[i];
  const double tail = total;  // energy beyond the top r
  const auto captured = [&](Spectrum spectrum) {
    Rng rng(3);
    const auto t = rand_engine.top(D, r, false, spectrum, rng);
    double c = 0;
    for (double v : t.s) c += v * v;
    return c;
  };
  const double krylov = captured(Spectrum::Flat), power = captured(Spectrum::Decaying);
  EXPECT_LE(krylov, best * (1 + 1e-12));
  EXPECT_LT((best - krylov) / tail, 1e-4);       // error change < 5e-5 relative
  EXPECT_LT(best - krylov, 0.5 * (best - power));  // and clearly better than plain power iterations
}

namespace {
/// ‖U·diag(s)·Vt − U'·diag(s')·Vt'‖_F / ‖U'·diag(s')·Vt'‖_F, and U, Vt orthonormal rows/columns.
double rank_k_difference(const TruncatedSvd<double>& a, const la::Svd<double>& ref, index_t k) {
  const auto form = [k](const Matrix<double>& U, const std::vector<double>& s, const Matrix<double>& Vt) {
    Matrix<double> US = U.columns(0, k);
    for (index_t j = 0; j < k; ++j)
      for (index_t i = 0; i < US.rows(); ++i) US(i, j) *= s[static_cast<std::size_t>(j)];
    return la::matmul(US, Vt.row_block(0, k));
  };
  const auto A = form(a.U, a.s, a.Vt), B = form(ref.U, ref.s, ref.Vt);
  double diff = 0;
  for (index_t i = 0; i < A.size(); ++i) diff += (A.data()[i] - B.data()[i]) * (A.data()[i] - B.data()[i]);
  return std::sqrt(diff / la::frobenius2(B));
}
}  // namespace

TEST(Svd, RayleighRitzStepMatchesGesdd) {
  // The randomized path's last step (Gram matrix + syevd) against gesdd of the same short, wide B, in
  // float64: singular values and the rank-k product to ~ε·(σ₁/σ_k)², Vt's rows orthonormal.
  const auto B = gaussian(30, 200, 7);
  const index_t k = 12;
  const auto t = top_of_projection(B, k, true);
  const auto ref = la::gesdd(B);
  const double eps = std::numeric_limits<double>::epsilon(), cond2 = std::pow(ref.s[0] / ref.s[k - 1], 2);
  for (index_t i = 0; i < k; ++i) EXPECT_NEAR(t.s[i], ref.s[i], 100 * eps * cond2 * ref.s[0]) << i;
  EXPECT_LT(rank_k_difference(t, ref, k), 1e4 * eps * cond2);
  const auto VVt = la::matmul(t.Vt, t.Vt, la::Op::N, la::Op::T);
  for (index_t j = 0; j < k; ++j)
    for (index_t i = 0; i < k; ++i) EXPECT_NEAR(VVt(i, j), i == j ? 1.0 : 0.0, 1e4 * eps * cond2);
  const auto values = top_of_projection(B, k, false);
  EXPECT_TRUE(values.U.empty() && values.Vt.empty());
  for (index_t i = 0; i < k; ++i) EXPECT_DOUBLE_EQ(values.s[i], t.s[i]);
}

TEST(Svd, RayleighRitzFallsBackToGesddWhenSquaringWouldLoseDigits) {
  // Rank 5 < k = 8: σ₆..σ₈ are zero, so Σ⁻¹·Uᵀ·B is undefined and the step must take gesdd's triplets.
  const auto X = gaussian(20, 5, 8), Y = gaussian(5, 120, 9);
  const auto B = la::matmul(X, Y);
  const auto t = top_of_projection(B, 8, true);
  const auto ref = la::gesdd(B);
  for (index_t i = 0; i < 8; ++i) EXPECT_DOUBLE_EQ(t.s[i], ref.s[i]) << i;
  for (const double v : t.Vt.values()) ASSERT_TRUE(std::isfinite(v));
  EXPECT_LT(rank_k_difference(t, ref, 8), 1e-12);
}
