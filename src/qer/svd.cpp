// SPDX-License-Identifier: MIT
#include "qer/svd.hpp"

#include <algorithm>

#include "base/error.hpp"
#include "la/lapack.hpp"
#include "qer/range_finder.hpp"

namespace srr::qer {

using la::Op;

std::string to_string(SvdMethod m) { return m == SvdMethod::Randomized ? "randomized" : "full"; }

SvdMethod svd_method_from_string(const std::string& s) {
  if (s == "randomized") return SvdMethod::Randomized;
  if (s == "full") return SvdMethod::Full;
  throw InputError("--svd must be randomized or full, got '" + s + "'");
}

index_t sketch_width(index_t k, index_t m, index_t n, const SvdSettings& s) {
  return std::min(k + s.oversample, std::min(m, n));
}

RangePlan range_plan(index_t k, index_t m, index_t n, Spectrum spectrum, const SvdSettings& s) {
  RangePlan p;
  p.sketch = sketch_width(k, m, n, s);
  p.krylov = spectrum == Spectrum::Flat;
  p.iters = p.krylov ? s.krylov_iters : s.power_iters;
  p.width = p.krylov ? std::min(p.sketch * (p.iters + 1), std::min(m, n)) : p.sketch;
  return p;
}

namespace {

/// Keeps the first k triplets of a thin SVD.
template <class T>
TruncatedSvd<T> truncate(la::Svd<T>&& svd, index_t k, bool vectors) {
  TruncatedSvd<T> out;
  out.s.assign(svd.s.begin(), svd.s.begin() + k);
  if (vectors) {
    out.U = svd.U.columns(0, k);
    out.Vt = svd.Vt.row_block(0, k);
  }
  return out;
}

}  // namespace

template <class T>
TruncatedSvd<T> top_of_projection(const Matrix<T>& B, index_t k, bool vectors) {
  const index_t L = B.rows(), n = B.cols();
  SRR_ASSERT(k >= 1 && k <= L && L <= n);
  const Matrix<double> Bd = B.template cast<double>();
  Matrix<double> G(L, L);
  la::syrk(la::Uplo::Lower, Op::N, 1.0, Bd, 0.0, G);
  const auto eig = la::syevd(std::move(G), vectors);  // ascending
  TruncatedSvd<T> out;
  for (index_t i = 0; i < k; ++i) out.s.push_back(std::sqrt(std::max(eig.w[static_cast<std::size_t>(L - 1 - i)], 0.0)));
  if (!(out.s.back() >= 1e-4 * out.s.front()) || out.s.front() == 0)  // squaring would lose digits
    return truncate(la::gesdd(B, vectors), k, vectors);
  if (vectors) {
    Matrix<double> Uk(L, k);  // top k eigenvectors, descending
    for (index_t c = 0; c < k; ++c) std::copy(eig.Z.col(L - 1 - c), eig.Z.col(L - 1 - c) + L, Uk.col(c));
    Matrix<double> Vt = la::matmul(Uk, Bd, Op::T, Op::N);  // k×n, row i scaled by σ_i below
    for (index_t j = 0; j < n; ++j)
      for (index_t i = 0; i < k; ++i) Vt(i, j) /= out.s[static_cast<std::size_t>(i)];
    out.U = Uk.cast<T>();
    out.Vt = Vt.cast<T>();
  }
  return out;
}
template TruncatedSvd<float> top_of_projection(const Matrix<float>&, index_t, bool);
template TruncatedSvd<double> top_of_projection(const Matrix<double>&, index_t, bool);

namespace {

template <class T>
TruncatedSvd<T> full_svd(const Matrix<T>& A, index_t k, bool vectors) {
  return truncate(la::gesdd(A, vectors), k, vectors);
}

/// la::Matrix and LAPACK/BLAS on the calling rank: the local backend of qer/range_finder.hpp.
template <class T>
struct LocalBackend {
  using Mat = Matrix<T>;
  Mat multiply(const Mat& A, const Mat& X, Op op) const { return la::matmul(A, X, op, Op::N); }
  void orthonormalize(Mat& X) const { X = la::orthonormalize(std::move(X)); }
  Mat zeros(index_t rows, index_t cols) const { return Mat(rows, cols); }
  void copy_columns(const Mat& from, index_t count, Mat& to, index_t at) const {
    std::copy(from.data(), from.data() + from.rows() * count, to.col(at));
  }
  Mat leading_columns(const Mat& from, index_t count) const { return from.columns(0, count); }
  Mat project(const Mat& Q, const Mat& A) const { return la::matmul(Q, A, Op::T, Op::N); }
  Mat lift(const Mat& Q, const Mat& U, index_t /*k*/) const { return la::matmul(Q, U); }
  template <class F>
  void on_root(F&& f) const {
    f();
  }
};

/// Randomized range finder with power iterations (block Krylov for flat spectra); the sketch is drawn from
/// `rng` only.
template <class T>
TruncatedSvd<T> randomized_svd(const Matrix<T>& A, index_t k, bool vectors, Spectrum spectrum, const SvdSettings& s,
                               Rng& rng) {
  const index_t m = A.rows(), n = A.cols();
  const RangePlan plan = range_plan(k, m, n, spectrum, s);
  if (plan.sketch >= std::min(m, n)) return full_svd(A, k, vectors);  // a sketch this wide saves nothing
  return randomized_top<T>(LocalBackend<T>{}, A, gaussian_sketch<T>(n, plan.sketch, rng), plan, k, vectors);
}

template <class T>
TruncatedSvd<T> top_impl(const Matrix<T>& A, index_t k, bool vectors, Spectrum spectrum, const SvdSettings& s,
                         Rng& rng) {
  SRR_ASSERT(k >= 0 && k <= std::min(A.rows(), A.cols()));
  if (k == 0) {
    TruncatedSvd<T> out;
    if (vectors) {
      out.U = Matrix<T>(A.rows(), 0);
      out.Vt = Matrix<T>(0, A.cols());
    }
    return out;
  }
  return s.method == SvdMethod::Full ? full_svd(A, k, vectors) : randomized_svd(A, k, vectors, spectrum, s, rng);
}

}  // namespace

TruncatedSvd<float> LocalSvdEngine::top(const Matrix<float>& A, index_t k, bool vectors, Spectrum spectrum,
                                        Rng& rng) const {
  return top_impl(A, k, vectors, spectrum, settings_, rng);
}
TruncatedSvd<double> LocalSvdEngine::top(const Matrix<double>& A, index_t k, bool vectors, Spectrum spectrum,
                                         Rng& rng) const {
  return top_impl(A, k, vectors, spectrum, settings_, rng);
}
la::Eig<double> LocalSvdEngine::symmetric_eigen(const Matrix<double>& R, bool vectors) const {
  return la::syevd(R, vectors);
}
void SvdEngine::cholesky(Matrix<double>& A) const {
  SRR_ASSERT(A.rows() == A.cols());
  la::potrf(la::Uplo::Upper, A);
  for (index_t j = 0; j < A.cols(); ++j) std::fill(A.col(j) + j + 1, A.col(j) + A.rows(), 0.0);
}
void SvdEngine::upper_times(const Matrix<float>& U, Matrix<float>& X) const {
  la::trmm(la::Side::Left, la::Uplo::Upper, Op::N, la::Diag::NonUnit, 1.0f, U, X);
}
void SvdEngine::upper_times(const Matrix<double>& U, Matrix<double>& X) const {
  la::trmm(la::Side::Left, la::Uplo::Upper, Op::N, la::Diag::NonUnit, 1.0, U, X);
}
void SvdEngine::upper_solve(const Matrix<double>& U, Matrix<double>& X) const {
  la::trsm(la::Side::Left, la::Uplo::Upper, Op::N, la::Diag::NonUnit, 1.0, U, X);
}

std::string LocalSvdEngine::name() const { return "local-" + to_string(settings_.method); }

}  // namespace srr::qer
