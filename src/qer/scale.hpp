// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Scaling matrices S (method.md §4): S acts on the input dimension and left-multiplies W, so the scaled
/// weight is S·W and ‖S·Δ‖_F² is the expected output error when SᵀS = R_xx.
///
/// Every S is kept in the representation that makes S·X cheap and S⁻¹·X stable: a vector for diagonal
/// scales, (Q, Λ) for the symmetric root of R_xx (S⁻¹ = QΛ^{-1/2}Qᵀ applied in float64, never an explicit
/// inverse), an upper triangular factor for the Cholesky variant, or a general dense matrix (tests).

#include <string>
#include <vector>

#include "la/matrix.hpp"
#include "qer/statistics.hpp"

namespace srr::qer {

enum class ScaleKind { Identity, Lqer, QeraApprox, QeraExact };
enum class ExactImpl { Eigh, CholeskyShrink };

std::string to_string(ScaleKind k);
ScaleKind scale_kind_from_string(const std::string& s);  ///< identity|lqer|qera-approx|qera-exact
std::string to_string(ExactImpl k);
ExactImpl exact_impl_from_string(const std::string& s);  ///< eigh|chol-lw

struct ScaleSettings {
  ScaleKind kind = ScaleKind::Identity;
  ExactImpl exact_impl = ExactImpl::Eigh;
  /// QERA-exact (eigh): eigenvalues are floored at eig_floor·λ_max. 0 switches the floor off, except that
  /// eigenvalues ≤ 0 (rank-deficient R_xx) are still raised to ε·λ_max so that S stays invertible.
  double eig_floor = 1e-10;
  /// Diagonal scales: entries are floored at diag_floor·max(s) (method.md Q14: dead channels).
  double diag_floor = 1e-8;
  /// Cholesky variant: apply the shrinkage of method.md §4.5b (off = plain Cholesky of R_xx).
  bool shrinkage = true;
};

/// What building the scale did to the data, for the layer report.
struct ScaleReport {
  index_t floored = 0;         ///< diagonal entries or eigenvalues raised to the floor
  double shrinkage_lambda = 0; ///< Cholesky variant: the shrinkage weight used
  double condition = 1;        ///< max/min of the scale's singular values
};

class Scale {
public:
  enum class Form { Identity, Diagonal, Symmetric, Upper, General };

  static Scale identity(index_t m);
  static Scale diagonal(std::vector<double> s);
  /// S = Q·diag(sqrt(λ))·Qᵀ from an eigendecomposition (λ > 0).
  static Scale symmetric(Matrix<double> Q, std::vector<double> lambda);
  /// S = U, upper triangular, invertible.
  static Scale upper(Matrix<double> U);
  /// Any invertible S (inverse by LU). Used to test invariance under S → O·S.
  static Scale general(Matrix<double> S);

  Form form() const { return form_; }
  index_t dim() const { return dim_; }
  const ScaleReport& report() const { return report_; }
  void set_report(const ScaleReport& r) { report_ = r; }

  /// X ← S·X (X has dim() rows). Computed in T; full forms use a cached T copy of S.
  template <class T>
  void apply(Matrix<T>& X) const;
  /// Returns S·X.
  template <class T>
  Matrix<T> times(Matrix<T> X) const {
    apply(X);
    return X;
  }
  /// X ← S⁻¹·X, always in float64 (method.md §4.5c: ill-conditioned roots need it).
  void apply_inverse(Matrix<double>& X) const;
  /// S as a dense matrix (tests and diagnostics).
  Matrix<double> dense() const;

private:
  Form form_ = Form::Identity;
  index_t dim_ = 0;
  std::vector<double> diag_;       // Diagonal
  Matrix<double> Q_;               // Symmetric: eigenvectors
  std::vector<double> sqrt_eig_;   // Symmetric: sqrt of eigenvalues
  Matrix<double> S_;               // Symmetric / Upper / General: S itself in float64
  Matrix<float> S_f32_;            // the same in float32, for float pipelines
  ScaleReport report_;
};

class SvdEngine;

/// Builds S from statistics as method.md §4 says for `settings.kind`. Throws InputError (naming `where`)
/// when the statistics lack what the scale needs. The QERA-exact eigendecomposition runs on `engine`
/// (LAPACK on this rank when none is given; p?syevd on a worker group's grid in `srr quantize --group-size`).
Scale build_scale(const InputStatistics& stats, const ScaleSettings& settings, const std::string& where,
                  const SvdEngine* engine = nullptr);

}  // namespace srr::qer
