// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The randomized range finder of the truncated SVD (power iterations, or block Krylov for flat spectra),
/// written once over a small backend so that the local engine (qer/svd.cpp, la::Matrix with LAPACK/BLAS)
/// and the distributed one (parallel/dist_svd.cpp, DistMatrix with PBLAS/ScaLAPACK) run the same steps in
/// the same order. Both engines therefore give the same result for the same sketch up to the rounding of
/// their kernels, and a change to the method is made in one place.
///
/// A backend B provides, for its matrix type B::Mat:
///   Mat  multiply(const Mat& A, const Mat& X, Op op) const   op(A)·X, a new matrix
///   void orthonormalize(Mat& X) const                        X ← an orthonormal basis of X's columns (QR)
///   Mat  zeros(index_t rows, index_t cols) const             a new zero matrix
///   void copy_columns(const Mat& from, index_t count, Mat& to, index_t at) const
///                                                             to(:, at : at+count) = from(:, 0 : count)
///   Mat  leading_columns(const Mat& from, index_t count) const  from(:, 0 : count), a new matrix
///   la::Matrix<T> project(const Mat& Q, const Mat& A) const  QᵀA, whole, on the rank that asked
///   la::Matrix<T> lift(const Mat& Q, const la::Matrix<T>& U, index_t k) const
///                                                             Q·U (U: Q.cols() × k), whole, on the rank that asked
///   template <class F> void on_root(F&& f) const             runs f where the small dense step runs
/// A distributed backend's operations are collective: every rank of the grid calls randomized_top with the
/// same plan (only the root's matrices hold data), so every rank takes the same branches.

#include <algorithm>

#include "qer/svd.hpp"

namespace srr::qer {

/// An orthonormal basis Q (A.rows() × plan.width at most) of the range of A's top singular directions, started
/// from Qm = orth(A·G) for the Gaussian sketch G (n × plan.sketch). Power iterations replace the basis by
/// orth(A·orth(Aᵀ·Q)) plan.iters times; block Krylov keeps every iterate side by side and orthonormalizes
/// their union at the end (stopping early once plan.width columns are kept). Collective for a distributed
/// backend.
template <class Backend, class Mat>
Mat range_basis(const Backend& b, const Mat& A, const Mat& G, const RangePlan& plan) {
  Mat Q = b.multiply(A, G, la::Op::N);
  b.orthonormalize(Q);
  Mat K = plan.krylov ? b.zeros(A.rows(), plan.width) : b.zeros(0, 0);  // block Krylov: every iterate's basis
  index_t filled = 0;
  const auto keep = [&](const Mat& block) {
    const index_t c = std::min(block.cols(), plan.width - filled);
    b.copy_columns(block, c, K, filled);
    filled += c;
  };
  if (plan.krylov) keep(Q);
  for (int it = 0; it < plan.iters && (!plan.krylov || filled < plan.width); ++it) {
    Mat Qn = b.multiply(A, Q, la::Op::T);
    b.orthonormalize(Qn);
    Q = b.multiply(A, Qn, la::Op::N);
    b.orthonormalize(Q);
    if (plan.krylov) keep(Q);
  }
  if (plan.krylov) {
    Q = b.leading_columns(K, filled);
    b.orthonormalize(Q);
  }
  return Q;
}

/// The randomized truncated SVD: the range basis Q above, the Rayleigh–Ritz step on B = QᵀA
/// (top_of_projection, on the root), and U = Q·U_B. The result is meaningful where on_root runs. Collective
/// for a distributed backend.
template <class T, class Backend, class Mat>
TruncatedSvd<T> randomized_top(const Backend& b, const Mat& A, const Mat& G, const RangePlan& plan, index_t k,
                               bool vectors) {
  const Mat Q = range_basis(b, A, G, plan);
  const Matrix<T> B = b.project(Q, A);  // l×n (block Krylov: up to width×n), small
  TruncatedSvd<T> out;
  b.on_root([&] { out = top_of_projection(B, k, vectors); });
  if (vectors) out.U = b.lift(Q, out.U, k);
  return out;
}

}  // namespace srr::qer
