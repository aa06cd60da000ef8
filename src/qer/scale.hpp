// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Scaling matrices S (method.md §4): S acts on the input dimension and left-multiplies W, so the scaled
/// weight is S·W and ‖S·Δ‖_F² is the expected output error when SᵀS = R_xx.
///
/// Every S is kept in the representation that makes S·X cheap and S⁻¹·X stable: a vector for diagonal
/// scales, (Q, Λ) for the symmetric root of R_xx (S⁻¹ = QΛ^{-1/2}Qᵀ applied in float64, never an explicit
/// inverse), an upper triangular factor for the Cholesky roots (S·X and S⁻¹·X are trmm and trsm), or a
/// general dense matrix (tests).
///
/// QERA-exact needs only *some* S with SᵀS = R_xx: every quantity srr computes from it (QER's optimum, the
/// spectra of S·W and S·G, the preserved projection, every error) is invariant under S → O·S for orthogonal
/// O (docs/whitening.md). The default root is therefore the Cholesky factor (`chol`, ≈ m³/3 flops) rather
/// than the symmetric root from an eigendecomposition (`eigh`, ≈ 9m³).

#include <string>
#include <vector>

#include "la/matrix.hpp"
#include "qer/statistics.hpp"

namespace srr::qer {

class SvdEngine;

enum class ScaleKind { Identity, Lqer, QeraApprox, QeraExact };
enum class ExactImpl { Cholesky, Eigh, CholeskyShrink };

std::string to_string(ScaleKind k);
ScaleKind scale_kind_from_string(const std::string& s);  ///< identity|lqer|qera-approx|qera-exact
std::string to_string(ExactImpl k);
ExactImpl exact_impl_from_string(const std::string& s);  ///< chol|eigh|chol-lw

struct ScaleSettings {
  ScaleKind kind = ScaleKind::Identity;
  ExactImpl exact_impl = ExactImpl::Cholesky;
  /// QERA-exact (eigh): eigenvalues are floored at eig_floor·λ_max. 0 switches the floor off, except that
  /// eigenvalues ≤ 0 (rank-deficient R_xx) are still raised to ε·λ_max so that S stays invertible.
  /// QERA-exact (chol), the counterpart: R_xx is factored as it is when LAPACK's estimate of its
  /// reciprocal condition number is ≥ eig_floor (0: whenever potrf succeeds); otherwise a relative ridge
  /// δ = eig_floor·‖R_xx‖₁ (≥ eig_floor·λ_max; ε·‖R_xx‖₁ when eig_floor is 0) is added to the diagonal, and
  /// multiplied by 10 while potrf still fails. Every eigenvalue of R_xx + δI is then ≥ eig_floor·λ_max, the
  /// floor's guarantee, at the price of moving the large ones by δ too (relatively ≤ eig_floor·√m).
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
  double condition = 1;        ///< max/min of the scale's singular values (Cholesky root: LAPACK's estimate)
  double ridge = 0;            ///< Cholesky root: δ/‖R_xx‖₁ of the ridge added to R_xx (0 = none)
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
  /// SᵀS = R_xx + shift·I to rounding, for the R_xx the scale was built from (QERA-exact Cholesky root,
  /// shift = its ridge; eigh with nothing floored, shift 0). Then tr(ΔᵀR_xxΔ) = ‖S·Δ‖_F² − shift·‖Δ‖_F²,
  /// and the activation-aware error needs no product with R_xx.
  bool exact_root() const { return exact_root_; }
  double root_shift() const { return root_shift_; }
  void set_exact_root(bool exact, double shift = 0) {
    exact_root_ = exact;
    root_shift_ = shift;
  }
  /// Triangular forms: S·X and S⁻¹·X run on this engine (p?trmm/p?trsm on a worker group's grid) instead of
  /// BLAS here. The engine must outlive the scale and every copy of it.
  void set_engine(const SvdEngine* engine) { engine_ = engine; }
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
  bool exact_root_ = false;
  double root_shift_ = 0;
  const SvdEngine* engine_ = nullptr;
};

/// Builds S from statistics as method.md §4 says for `settings.kind`. Throws InputError (naming `where`)
/// when the statistics lack what the scale needs. The QERA-exact factorization (Cholesky or
/// eigendecomposition) runs on `engine`: LAPACK on this rank when none is given; p?potrf or p?syevd on a
/// worker group's grid in `srr quantize --group-size`.
Scale build_scale(const InputStatistics& stats, const ScaleSettings& settings, const std::string& where,
                  const SvdEngine* engine = nullptr);

}  // namespace srr::qer
