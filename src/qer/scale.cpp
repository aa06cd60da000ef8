// SPDX-License-Identifier: MIT
#include "qer/scale.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/error.hpp"
#include "la/lapack.hpp"
#include "qer/svd.hpp"

namespace srr::qer {

using la::Diag;
using la::Op;
using la::Side;
using la::Uplo;

std::string to_string(ScaleKind k) {
  switch (k) {
    case ScaleKind::Identity: return "identity";
    case ScaleKind::Lqer: return "lqer";
    case ScaleKind::QeraApprox: return "qera-approx";
    case ScaleKind::QeraExact: return "qera-exact";
  }
  return "?";
}

ScaleKind scale_kind_from_string(const std::string& s) {
  for (auto k : {ScaleKind::Identity, ScaleKind::Lqer, ScaleKind::QeraApprox, ScaleKind::QeraExact})
    if (s == to_string(k)) return k;
  throw InputError("--scale must be identity, lqer, qera-approx or qera-exact, got '" + s + "'");
}

std::string to_string(ExactImpl k) {
  switch (k) {
    case ExactImpl::Cholesky: return "chol";
    case ExactImpl::Eigh: return "eigh";
    case ExactImpl::CholeskyShrink: return "chol-lw";
  }
  return "?";
}

ExactImpl exact_impl_from_string(const std::string& s) {
  for (auto k : {ExactImpl::Cholesky, ExactImpl::Eigh, ExactImpl::CholeskyShrink})
    if (s == to_string(k)) return k;
  throw InputError("--qera-exact-impl must be chol, eigh or chol-lw, got '" + s + "'");
}

// ---- construction ---------------------------------------------------------------------------------

Scale Scale::identity(index_t m) {
  Scale s;
  s.form_ = Form::Identity;
  s.dim_ = m;
  return s;
}

Scale Scale::diagonal(std::vector<double> d) {
  Scale s;
  s.form_ = Form::Diagonal;
  s.dim_ = static_cast<index_t>(d.size());
  for (double v : d) SRR_ASSERT(v > 0 && std::isfinite(v));
  const auto [lo, hi] = std::minmax_element(d.begin(), d.end());
  if (!d.empty()) s.report_.condition = *hi / *lo;
  s.diag_ = std::move(d);
  return s;
}

Scale Scale::symmetric(Matrix<double> Q, std::vector<double> lambda) {
  Scale s;
  s.form_ = Form::Symmetric;
  s.dim_ = Q.rows();
  s.sqrt_eig_.resize(lambda.size());
  for (std::size_t i = 0; i < lambda.size(); ++i) {
    SRR_ASSERT(lambda[i] > 0);
    s.sqrt_eig_[i] = std::sqrt(lambda[i]);
  }
  const auto [lo, hi] = std::minmax_element(s.sqrt_eig_.begin(), s.sqrt_eig_.end());
  if (!lambda.empty()) s.report_.condition = *hi / *lo;
  // S = (Q·Λ^{1/4})·(Q·Λ^{1/4})ᵀ keeps S exactly symmetric and costs one syrk.
  Matrix<double> QL = Q;
  for (index_t j = 0; j < QL.cols(); ++j) {
    const double f = std::sqrt(s.sqrt_eig_[static_cast<std::size_t>(j)]);
    for (index_t i = 0; i < QL.rows(); ++i) QL(i, j) *= f;
  }
  s.S_ = Matrix<double>(s.dim_, s.dim_);
  la::syrk(Uplo::Lower, Op::N, 1.0, QL, 0.0, s.S_);
  for (index_t j = 0; j < s.dim_; ++j)
    for (index_t i = 0; i < j; ++i) s.S_(i, j) = s.S_(j, i);
  s.Q_ = std::move(Q);
  s.S_f32_ = s.S_.cast<float>();
  return s;
}

Scale Scale::upper(Matrix<double> U) {
  Scale s;
  s.form_ = Form::Upper;
  s.dim_ = U.rows();
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for (index_t i = 0; i < s.dim_; ++i) {
    SRR_ASSERT(U(i, i) != 0);
    lo = std::min(lo, std::fabs(U(i, i)));
    hi = std::max(hi, std::fabs(U(i, i)));
    std::fill(U.col(i) + i + 1, U.col(i) + s.dim_, 0.0);  // column by column: the storage order
  }
  s.report_.condition = s.dim_ > 0 ? hi / lo : 1;  // a lower bound of the true condition number
  s.S_ = std::move(U);
  s.S_f32_ = s.S_.cast<float>();
  return s;
}

Scale Scale::general(Matrix<double> S) {
  Scale s;
  s.form_ = Form::General;
  s.dim_ = S.rows();
  SRR_ASSERT(S.rows() == S.cols());
  s.S_ = std::move(S);
  s.S_f32_ = s.S_.cast<float>();
  s.report_.condition = std::numeric_limits<double>::quiet_NaN();
  return s;
}

// ---- application ----------------------------------------------------------------------------------

namespace {
template <class T>
const Matrix<T>& pick(const Matrix<double>& d, const Matrix<float>& f) {
  if constexpr (std::is_same_v<T, double>)
    return d;
  else
    return f;
}
}  // namespace

template <class T>
void Scale::apply(Matrix<T>& X) const {
  SRR_ASSERT(X.rows() == dim_);
  switch (form_) {
    case Form::Identity: return;
    case Form::Diagonal:
      for (index_t j = 0; j < X.cols(); ++j) {
        T* x = X.col(j);
        for (index_t i = 0; i < dim_; ++i) x[i] = static_cast<T>(x[i] * diag_[static_cast<std::size_t>(i)]);
      }
      return;
    case Form::Upper:
      if (engine_)
        engine_->upper_times(pick<T>(S_, S_f32_), X);
      else
        la::trmm(Side::Left, Uplo::Upper, Op::N, Diag::NonUnit, T(1), pick<T>(S_, S_f32_), X);
      return;
    case Form::Symmetric:
    case Form::General: X = la::matmul(pick<T>(S_, S_f32_), X); return;
  }
}

void Scale::apply_inverse(Matrix<double>& X) const {
  SRR_ASSERT(X.rows() == dim_);
  switch (form_) {
    case Form::Identity: return;
    case Form::Diagonal:
      for (index_t j = 0; j < X.cols(); ++j)
        for (index_t i = 0; i < dim_; ++i) X(i, j) /= diag_[static_cast<std::size_t>(i)];
      return;
    case Form::Symmetric: {
      Matrix<double> Y = la::matmul(Q_, X, Op::T, Op::N);
      for (index_t j = 0; j < Y.cols(); ++j)
        for (index_t i = 0; i < Y.rows(); ++i) Y(i, j) /= sqrt_eig_[static_cast<std::size_t>(i)];
      X = la::matmul(Q_, Y);
      return;
    }
    case Form::Upper:
      if (engine_)
        engine_->upper_solve(S_, X);
      else
        la::trsm(Side::Left, Uplo::Upper, Op::N, Diag::NonUnit, 1.0, S_, X);
      return;
    case Form::General: la::gesv(S_, X); return;
  }
}

Matrix<double> Scale::dense() const {
  switch (form_) {
    case Form::Identity:
    case Form::Diagonal: {
      Matrix<double> D(dim_, dim_);
      for (index_t i = 0; i < dim_; ++i) D(i, i) = form_ == Form::Identity ? 1.0 : diag_[static_cast<std::size_t>(i)];
      return D;
    }
    default: return S_;
  }
}

template void Scale::apply<float>(Matrix<float>&) const;
template void Scale::apply<double>(Matrix<double>&) const;

// ---- building from statistics ------------------------------------------------------------------------

namespace {

/// Raises entries below floor·max to that value (dead channels) and reports how many it raised.
Scale floored_diagonal(std::vector<double> s, double floor_rel) {
  const double hi = s.empty() ? 0.0 : *std::max_element(s.begin(), s.end());
  require(hi > 0, "every input channel is zero: a diagonal scale cannot be built");
  const double floor = std::max(floor_rel, std::numeric_limits<double>::min()) * hi;
  index_t floored = 0;
  for (double& v : s)
    if (v < floor) {
      v = floor;
      ++floored;
    }
  Scale out = Scale::diagonal(std::move(s));
  ScaleReport r = out.report();
  r.floored = floored;
  out.set_report(r);
  return out;
}

/// LQER (method.md §4.3): clamp the running max of mean |x| at 1e-4, normalise by sqrt(min·max).
Scale lqer_scale(const InputStatistics& st, double floor_rel) {
  std::vector<double> s = st.mean_abs_max;
  for (double& v : s) v = std::max(v, 1e-4);
  const auto [lo, hi] = std::minmax_element(s.begin(), s.end());
  const double norm = std::sqrt(*lo * *hi);
  for (double& v : s) v /= norm;
  return floored_diagonal(std::move(s), floor_rel);
}

/// QERA-approx (method.md §4.4): s_i = sqrt(E[x_i²]).
Scale qera_approx_scale(const InputStatistics& st, double floor_rel) {
  std::vector<double> s(st.sum_sq.size());
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = std::sqrt(st.sum_sq[i] / static_cast<double>(st.tokens));
  return floored_diagonal(std::move(s), floor_rel);
}

/// QERA-exact, recommended form (method.md §4.5c): S = QΛ^{1/2}Qᵀ with floored eigenvalues.
Scale qera_exact_eigh(const Matrix<double>& R, double floor_rel, const SvdEngine* engine) {
  auto eig = engine ? engine->symmetric_eigen(R) : la::syevd(R);
  const double lmax = eig.w.empty() ? 0.0 : eig.w.back();
  require(lmax > 0, "R_xx is zero: QERA-exact needs non-zero activations");
  const double floor = (floor_rel > 0 ? floor_rel : std::numeric_limits<double>::epsilon()) * lmax;
  index_t floored = 0;
  for (double& w : eig.w)
    if (w < floor && (floor_rel > 0 || w <= 0)) {
      w = floor;
      ++floored;
    }
  Scale s = Scale::symmetric(std::move(eig.Z), std::move(eig.w));
  ScaleReport r = s.report();
  r.floored = floored;
  s.set_report(r);
  s.set_exact_root(floored == 0);
  return s;
}

/// ‖R‖₁ of a symmetric matrix (largest column sum of |R_ij|), which bounds λ_max from above.
double norm1(const Matrix<double>& R) {
  double best = 0;
  for (index_t j = 0; j < R.cols(); ++j) {
    double sum = 0;
    for (index_t i = 0; i < R.rows(); ++i) sum += std::fabs(R(i, j));
    best = std::max(best, sum);
  }
  return best;
}

/// QERA-exact by the Cholesky factor (the default): S = U, upper triangular, UᵀU = R + δI. δ = 0 unless
/// R is near-singular; then the relative ridge of ScaleSettings::eig_floor (docs/whitening.md). The factor
/// comes from `engine` (p?potrf on a group's grid) or LAPACK here.
Scale qera_exact_cholesky_root(const Matrix<double>& R, double floor_rel, const SvdEngine* engine) {
  const double anorm = norm1(R);
  require(anorm > 0, "R_xx is zero: QERA-exact needs non-zero activations");
  const LocalSvdEngine local({});
  // U ← chol(R + shift·I) in place. U is one buffer for every attempt: copy-assigning R into it reuses its
  // pages, where a fresh m×m matrix per attempt costs as much in page faults as the copy itself.
  Matrix<double> U;
  const auto factor = [&](double shift) {
    U = R;
    for (index_t i = 0; i < U.rows(); ++i) U(i, i) += shift;
    try {
      engine ? engine->cholesky(U) : local.cholesky(U);
      return true;
    } catch (const la::LapackError&) {
      return false;
    }
  };
  ScaleReport report;
  double rcond = 0, shift = 0;
  bool accepted = factor(0);
  if (accepted) {
    rcond = la::pocon(Uplo::Upper, U, anorm);
    accepted = rcond >= floor_rel;
  }
  if (!accepted) {
    double ridge = std::max(floor_rel, std::numeric_limits<double>::epsilon());
    for (int attempt = 0;; ++attempt, ridge *= 10) {
      require(attempt < 20, "R_xx could not be factored even with a ridge of ", ridge, "·‖R_xx‖₁");
      shift = ridge * anorm;
      if (factor(shift)) {
        rcond = la::pocon(Uplo::Upper, U, anorm * (1 + ridge));
        break;
      }
    }
    report.ridge = ridge;
  }
  Scale s = Scale::upper(std::move(U));
  report.condition = rcond > 0 ? std::sqrt(1 / rcond) : std::numeric_limits<double>::infinity();
  s.set_report(report);
  s.set_exact_root(true, shift);
  s.set_engine(engine);
  return s;
}

/// The shrinkage of the final SRR release (method.md §4.5b, a simplification of Ledoit–Wolf).
double shrink(Matrix<double>& R) {
  const index_t d = R.rows();
  double trace = 0;
  for (index_t i = 0; i < d; ++i) trace += R(i, i);
  const double mu = trace / static_cast<double>(d);
  double d2 = 0, b2bar = 0;
  for (index_t j = 0; j < d; ++j)
    for (index_t i = 0; i < d; ++i) {
      if (i == j)
        d2 += (R(i, i) - mu) * (R(i, i) - mu);
      else
        b2bar += R(i, j) * R(i, j);
    }
  d2 /= static_cast<double>(d);
  b2bar = d > 1 ? b2bar / static_cast<double>(d * (d - 1)) : 0.0;
  const double b2 = std::min(b2bar, d2);
  const double lambda = std::clamp(b2 / (d2 + std::numeric_limits<double>::epsilon()), 0.0, 1.0);
  for (auto& v : R.values()) v *= (1 - lambda);
  for (index_t i = 0; i < d; ++i) R(i, i) += lambda * mu;
  return lambda;
}

/// Upper Cholesky factor U with UᵀU = R, or nothing when R is not numerically positive definite.
bool try_cholesky(Matrix<double> R, Matrix<double>& U) {
  try {
    la::potrf(Uplo::Upper, R);
  } catch (const la::LapackError&) {
    return false;
  }
  U = std::move(R);
  return true;
}

/// QERA-exact as the final SRR release computes it: S = chol(R_s)ᵀ with the fallbacks of §4.5b.
Scale qera_exact_cholesky(Matrix<double> R, bool with_shrinkage) {
  ScaleReport report;
  Matrix<double> Rs = R;
  if (with_shrinkage) report.shrinkage_lambda = shrink(Rs);
  Matrix<double> U;
  if (!try_cholesky(Rs, U)) {
    // H = 2R gets 1e-6·I added, i.e. R gets 0.5e-6·I, then shrinkage again.
    for (index_t i = 0; i < R.rows(); ++i) R(i, i) += 0.5e-6;
    Rs = R;
    if (with_shrinkage) report.shrinkage_lambda = shrink(Rs);
    if (!try_cholesky(Rs, U)) {
      auto eig = la::syevd(Rs);
      Matrix<double> S(R.rows(), R.rows());  // S = Lᵀ = sqrt(Λ)·Qᵀ with clamped eigenvalues
      for (index_t i = 0; i < R.rows(); ++i) {
        const double f = std::sqrt(std::max(eig.w[static_cast<std::size_t>(i)], 0.0));
        for (index_t j = 0; j < R.rows(); ++j) S(i, j) = f * eig.Z(j, i);
      }
      Scale s = Scale::general(std::move(S));
      s.set_report(report);
      return s;
    }
  }
  Scale s = Scale::upper(std::move(U));
  report.condition = s.report().condition;
  s.set_report(report);
  return s;
}

}  // namespace

Scale build_scale(const InputStatistics& stats, const ScaleSettings& settings, const std::string& where,
                  const SvdEngine* engine) {
  if (settings.kind == ScaleKind::Identity) return Scale::identity(stats.dim);
  stats.validate(where);
  switch (settings.kind) {
    case ScaleKind::Lqer: return lqer_scale(stats, settings.diag_floor);
    case ScaleKind::QeraApprox: return qera_approx_scale(stats, settings.diag_floor);
    case ScaleKind::QeraExact: {
      require(stats.has_xtx(), where, ": the qera-exact scale needs XᵀX, which these statistics lack");
      const Matrix<double> R = stats.rxx();
      switch (settings.exact_impl) {
        case ExactImpl::Cholesky: return qera_exact_cholesky_root(R, settings.eig_floor, engine);
        case ExactImpl::Eigh: return qera_exact_eigh(R, settings.eig_floor, engine);
        case ExactImpl::CholeskyShrink: return qera_exact_cholesky(R, settings.shrinkage);
      }
      break;
    }
    case ScaleKind::Identity: break;
  }
  return Scale::identity(stats.dim);
}

}  // namespace srr::qer
