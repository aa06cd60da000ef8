// SPDX-License-Identifier: MIT
#include "qer/statistics.hpp"

#include <algorithm>
#include <cmath>

#include "base/error.hpp"
#include "la/lapack.hpp"

namespace srr::qer {

InputStatistics make_statistics(index_t m, bool with_xtx) {
  InputStatistics s;
  s.dim = m;
  s.mean_abs_max.assign(static_cast<std::size_t>(m), 0.0);
  s.sum_sq.assign(static_cast<std::size_t>(m), 0.0);
  if (with_xtx) s.xtx = Matrix<double>(m, m);
  return s;
}

void InputStatistics::symmetrize() {
  for (index_t j = 0; j < xtx.cols(); ++j)
    for (index_t i = 0; i < j; ++i) xtx(i, j) = xtx(j, i);
}

Matrix<double> InputStatistics::rxx() const {
  require(has_xtx(), "statistics have no XᵀX: QERA-exact needs a calibration run without --no-xtx");
  require(tokens > 0, "statistics were accumulated over 0 tokens");
  Matrix<double> R = xtx;
  const double inv = 1.0 / static_cast<double>(tokens);
  for (auto& v : R.values()) v *= inv;
  return R;
}

void InputStatistics::accumulate(const Matrix<float>& X, bool with_xtx) {
  SRR_ASSERT(X.cols() == dim);
  const index_t t = X.rows();
  if (t == 0) return;
  for (index_t j = 0; j < dim; ++j) {
    const float* x = X.col(j);
    double abs_sum = 0, sq = 0;
    for (index_t i = 0; i < t; ++i) {
      abs_sum += std::fabs(static_cast<double>(x[i]));
      sq += static_cast<double>(x[i]) * static_cast<double>(x[i]);
    }
    auto& m = mean_abs_max[static_cast<std::size_t>(j)];
    m = std::max(m, abs_sum / static_cast<double>(t));
    sum_sq[static_cast<std::size_t>(j)] += sq;
  }
  if (with_xtx) {
    // Outer products in float32 GEMM partials summed into float64 would lose the small eigenvalues that
    // QERA-exact inverts; widening first keeps the whole accumulation in float64.
    const Matrix<double> Xd = X.cast<double>();
    la::syrk(la::Uplo::Lower, la::Op::T, 1.0, Xd, 1.0, xtx);
  }
  tokens += t;
}

void InputStatistics::merge(const InputStatistics& other) {
  SRR_ASSERT(other.dim == dim && other.has_xtx() == has_xtx());
  for (std::size_t i = 0; i < mean_abs_max.size(); ++i) {
    mean_abs_max[i] = std::max(mean_abs_max[i], other.mean_abs_max[i]);
    sum_sq[i] += other.sum_sq[i];
  }
  if (has_xtx())
    for (index_t i = 0; i < xtx.size(); ++i) xtx.data()[i] += other.xtx.data()[i];
  tokens += other.tokens;
}

void InputStatistics::validate(const std::string& where) const {
  require(dim > 0, where, ": statistics have dimension 0");
  require(tokens > 0, where, ": statistics were accumulated over ", tokens, " tokens");
  require(static_cast<index_t>(mean_abs_max.size()) == dim && static_cast<index_t>(sum_sq.size()) == dim, where,
          ": statistics vectors have the wrong length (expected ", dim, ")");
  for (index_t i = 0; i < dim; ++i) {
    const double a = mean_abs_max[static_cast<std::size_t>(i)], s = sum_sq[static_cast<std::size_t>(i)];
    require(std::isfinite(a) && a >= 0, where, ": mean |x| of channel ", i, " is ", a, " (must be finite, >= 0)");
    require(std::isfinite(s) && s >= 0, where, ": Σx² of channel ", i, " is ", s, " (must be finite, >= 0)");
  }
  if (has_xtx()) {
    require(xtx.rows() == dim && xtx.cols() == dim, where, ": XᵀX is ", xtx.rows(), "×", xtx.cols(),
            ", expected ", dim, "×", dim);
    for (index_t j = 0; j < dim; ++j) {
      require(xtx(j, j) >= 0, where, ": XᵀX has a negative diagonal entry at ", j);
      for (index_t i = 0; i < dim; ++i)
        require(std::isfinite(xtx(i, j)), where, ": XᵀX has a non-finite entry at (", i, ", ", j, ")");
    }
  }
}

}  // namespace srr::qer
