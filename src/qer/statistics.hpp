// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Calibration statistics of one linear-layer input (method.md §4): what every scale is built from.

#include <cstdint>
#include <string>
#include <vector>

#include "la/matrix.hpp"

namespace srr::qer {

using la::index_t;
using la::Matrix;

/// Statistics of the input x ∈ R^m of one linear layer, accumulated over calibration tokens.
struct InputStatistics {
  index_t dim = 0;                   ///< m, the layer's input features
  std::int64_t tokens = 0;           ///< N_tok, tokens seen
  std::vector<double> mean_abs_max;  ///< LQER: running max over windows of the per-window mean |x_i|
  std::vector<double> sum_sq;        ///< QERA-approx: Σ_tokens x_i²
  /// QERA-exact: Σ_tokens xᵀx (m×m); empty when not collected. accumulate() updates only the lower
  /// triangle (half the work, and no m² strided copy per window); symmetrize() once before use.
  Matrix<double> xtx;

  bool has_xtx() const { return !xtx.empty(); }
  /// R_xx = XᵀX / N_tok (throws if xtx was not collected).
  Matrix<double> rxx() const;
  /// Adds one window of activations X (tokens × m, column-major) to the statistics (xtx: lower triangle).
  void accumulate(const Matrix<float>& X, bool with_xtx);
  /// Copies xtx's lower triangle into its upper one.
  void symmetrize();
  /// Adds another partial result (e.g. from another MPI rank).
  void merge(const InputStatistics& other);
  /// Throws InputError naming `where` when a value is non-finite or negative, or shapes disagree.
  void validate(const std::string& where) const;
};

/// Empty statistics of dimension m.
InputStatistics make_statistics(index_t m, bool with_xtx);

}  // namespace srr::qer
