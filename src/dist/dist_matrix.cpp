// SPDX-License-Identifier: MIT
#include "dist/dist_matrix.hpp"

#include <algorithm>

namespace srr::dist {

template <class T>
DistMatrix<T>::DistMatrix(const ProcessGrid& grid, index_t rows, index_t cols, index_t block) : grid_(&grid) {
  SRR_ASSERT(rows >= 0 && cols >= 0 && block >= 1);
  local_rows_ = la::numroc(rows, block, grid.row(), grid.rows());
  local_cols_ = la::numroc(cols, block, grid.col(), grid.cols());
  const index_t lld = std::max<index_t>(1, local_rows_);
  desc_ = la::descinit(rows, cols, block, block, grid.context(), lld);
  local_.assign(static_cast<std::size_t>(lld) * static_cast<std::size_t>(local_cols_), T(0));
}

namespace {

/// The descriptor of the whole matrix as held by one process: its own 1×1 context there, and the
/// "not in this grid" descriptor on every other process.
la::Descriptor whole_on_one(const BlacsContext& single, index_t rows, index_t cols, index_t block) {
  return single.member() ? la::descinit(rows, cols, block, block, single.get(), std::max<index_t>(1, rows))
                         : la::descriptor_outside(rows, cols, block, block);
}

}  // namespace

template <class T>
void DistMatrix<T>::scatter_from(const Matrix<T>& A, int root) {
  const BlacsContext single = grid_->single_process_context(root);
  if (single.member()) SRR_ASSERT(A.rows() == rows() && A.cols() == cols());
  const la::Descriptor whole = whole_on_one(single, rows(), cols(), block());
  la::pgemr2d(rows(), cols(), single.member() ? A.data() : nullptr, 0, 0, whole, local_.data(), 0, 0, desc_,
              grid_->context());
}

template <class T>
Matrix<T> DistMatrix<T>::gather_to(int root) const {
  const BlacsContext single = grid_->single_process_context(root);
  Matrix<T> out = single.member() ? Matrix<T>(rows(), cols()) : Matrix<T>();
  const la::Descriptor whole = whole_on_one(single, rows(), cols(), block());
  la::pgemr2d(rows(), cols(), local_.data(), 0, 0, desc_, single.member() ? out.data() : nullptr, 0, 0, whole,
              grid_->context());
  return out;
}

template <class T>
void copy(const DistMatrix<T>& A, index_t ia, index_t ja, index_t m, index_t n, DistMatrix<T>& B, index_t ib,
          index_t jb) {
  SRR_ASSERT(&A.grid() == &B.grid());
  la::pgemr2d(m, n, A.local_data(), ia, ja, A.descriptor(), B.local_data(), ib, jb, B.descriptor(),
              A.grid().context());
}

template <class T>
void gemm(Op ta, Op tb, T alpha, const DistMatrix<T>& A, const DistMatrix<T>& B, T beta, DistMatrix<T>& C) {
  SRR_ASSERT(&A.grid() == &B.grid() && &A.grid() == &C.grid());
  la::pgemm(ta, tb, alpha, A.local_data(), A.descriptor(), B.local_data(), B.descriptor(), beta, C.local_data(),
            C.descriptor());
}

template <class T>
DistMatrix<T> matmul(const DistMatrix<T>& A, const DistMatrix<T>& B, Op ta, Op tb) {
  DistMatrix<T> C(A.grid(), ta == Op::N ? A.rows() : A.cols(), tb == Op::N ? B.cols() : B.rows(), A.block());
  gemm(ta, tb, T(1), A, B, T(0), C);
  return C;
}

template <class T>
void orthonormalize(DistMatrix<T>& A) {
  SRR_ASSERT(A.rows() >= A.cols());
  const auto tau = la::pgeqrf(A.local_data(), A.descriptor());
  la::porgqr(A.local_data(), A.descriptor(), tau);
}

#define SRR_INSTANTIATE(T)                                                                              \
  template class DistMatrix<T>;                                                                         \
  template void copy<T>(const DistMatrix<T>&, index_t, index_t, index_t, index_t, DistMatrix<T>&, index_t,   \
                        index_t);                                                                       \
  template void gemm<T>(Op, Op, T, const DistMatrix<T>&, const DistMatrix<T>&, T, DistMatrix<T>&);      \
  template DistMatrix<T> matmul<T>(const DistMatrix<T>&, const DistMatrix<T>&, Op, Op);                 \
  template void orthonormalize<T>(DistMatrix<T>&);

SRR_INSTANTIATE(float)
SRR_INSTANTIATE(double)

}  // namespace srr::dist
