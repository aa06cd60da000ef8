// SPDX-License-Identifier: MIT
#include "qer/synthetic.hpp"

#include <algorithm>
#include <cmath>

#include "base/rng.hpp"
#include "la/lapack.hpp"

namespace srr::qer {

namespace {
Matrix<float> gaussian(index_t rows, index_t cols, double scale, Rng& rng) {
  Matrix<float> G(rows, cols);
  for (auto& v : G.values()) v = static_cast<float>(scale * rng.normal());
  return G;
}
}  // namespace

Matrix<float> synthetic_weight(const SyntheticWeightSpec& spec) {
  Rng rng(spec.seed, "synthetic-weight", "bulk");
  const index_t m = spec.in, n = spec.out;
  Matrix<float> W = gaussian(m, n, 1.0 / std::sqrt(static_cast<double>(m)), rng);
  const index_t k = spec.spikes > 0 ? spec.spikes : std::max<index_t>(1, std::min(m, n) / 4);
  const double bulk_top = 1.0 + std::sqrt(static_cast<double>(n) / static_cast<double>(m));
  // Random unit-norm directions are nearly orthogonal in high dimension, so spike i contributes a singular
  // value close to its σ_i.
  Matrix<float> U = gaussian(m, k, 1.0 / std::sqrt(static_cast<double>(m)), rng);
  Matrix<float> V = gaussian(k, n, 1.0 / std::sqrt(static_cast<double>(n)), rng);
  for (index_t i = 0; i < k; ++i) {
    const double sigma = spec.spike_scale * bulk_top * std::pow(static_cast<double>(i + 1), -spec.decay);
    for (index_t j = 0; j < n; ++j) V(i, j) = static_cast<float>(V(i, j) * sigma);
  }
  la::gemm(la::Op::N, la::Op::N, 1.0f, U, V, 1.0f, W);
  return W;
}

namespace {
/// x = z·(I + A·B)·diag(c) with z ~ N(0, I): E[xᵀx] = diag(c)·(I + AB)ᵀ(I + AB)·diag(c), E|x_i| = sqrt(2/π)·σ_i.
InputStatistics expected_statistics(const std::vector<float>& c, const Matrix<float>& A, const Matrix<float>& B,
                                    index_t tokens, bool with_xtx) {
  const index_t m = static_cast<index_t>(c.size());
  Matrix<double> M = la::matmul(A.cast<double>(), B.cast<double>());  // I + AB, formed densely: m² memory only
  for (index_t i = 0; i < m; ++i) M(i, i) += 1.0;
  Matrix<double> cov(m, m);
  la::syrk(la::Uplo::Lower, la::Op::T, 1.0, M, 0.0, cov);
  InputStatistics stats = make_statistics(m, with_xtx);
  stats.tokens = tokens;
  const double t = static_cast<double>(tokens);
  for (index_t j = 0; j < m; ++j) {
    const double cj = c[static_cast<std::size_t>(j)];
    const double var = cov(j, j) * cj * cj;
    stats.sum_sq[static_cast<std::size_t>(j)] = t * var;
    stats.mean_abs_max[static_cast<std::size_t>(j)] = std::sqrt(2.0 / 3.141592653589793 * var);
    if (with_xtx)
      for (index_t i = j; i < m; ++i)
        stats.xtx(i, j) = stats.xtx(j, i) = t * cov(i, j) * cj * c[static_cast<std::size_t>(i)];
  }
  return stats;
}
}  // namespace

InputStatistics synthetic_statistics(const SyntheticStatsSpec& spec) {
  Rng rng(spec.seed, "synthetic-statistics", "activations");
  const index_t m = spec.dim, tokens = spec.tokens > 0 ? spec.tokens : 4 * m;
  // Channel scales: log-normal, some outliers, some dead channels.
  std::vector<float> scale(static_cast<std::size_t>(m));
  for (auto& c : scale) c = static_cast<float>(std::exp(0.5 * rng.normal()));
  for (index_t i = 0; i < std::min(spec.outliers, m); ++i) scale[static_cast<std::size_t>((i * 7919) % m)] *= 20.0f;
  for (index_t i = 0; i < std::min(spec.dead, m); ++i) scale[static_cast<std::size_t>(m - 1 - i)] = 0.0f;
  // Correlation: x = z·M with M = I + (rank-8 mixing), then per-channel scaling.
  const index_t mix_rank = std::min<index_t>(8, m);
  Matrix<float> A = gaussian(m, mix_rank, 0.5 / std::sqrt(static_cast<double>(mix_rank)), rng);
  Matrix<float> B = gaussian(mix_rank, m, 1.0, rng);
  if (!spec.sampled) return expected_statistics(scale, A, B, tokens, spec.with_xtx);
  InputStatistics stats = make_statistics(m, spec.with_xtx);
  for (index_t start = 0; start < tokens; start += spec.window) {
    const index_t t = std::min(spec.window, tokens - start);
    Matrix<float> Z = gaussian(t, m, 1.0, rng);
    Matrix<float> X = Z;
    la::gemm(la::Op::N, la::Op::N, 1.0f, la::matmul(Z, A), B, 1.0f, X);
    for (index_t j = 0; j < m; ++j)
      for (index_t i = 0; i < t; ++i) X(i, j) *= scale[static_cast<std::size_t>(j)];
    stats.accumulate(X, spec.with_xtx);
  }
  if (spec.with_xtx) stats.symmetrize();
  return stats;
}

}  // namespace srr::qer
