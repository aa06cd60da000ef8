// SPDX-License-Identifier: MIT
#include "parallel/dist_matrix.hpp"

#include <algorithm>

namespace srr::parallel {

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

/// Tag of the scatter/gather messages: the grid's communicator is private to the grid, and collectives
/// never match point-to-point messages, so one fixed tag cannot be confused with other traffic.
constexpr int transfer_tag = 0x5ca7;

/// Walks the part of an m×n matrix that grid process (p, q) of a P×Q grid owns, in its local column-major
/// order (leading dimension = its local rows), calling f(gi, gj, li, lj, run) for each run of `run`
/// consecutive rows (at most one block).
template <class F>
void for_each_local_run(index_t m, index_t n, index_t nb, int p, int P, int q, int Q, F&& f) {
  const index_t mloc = la::numroc(m, nb, p, P), nloc = la::numroc(n, nb, q, Q);
  for (index_t lj = 0; lj < nloc; ++lj) {
    const index_t gj = block_cyclic_global(lj, nb, q, Q);
    for (index_t li = 0; li < mloc; li += nb)
      f(block_cyclic_global(li, nb, p, P), gj, li, lj, std::min(nb, mloc - li));
  }
}

}  // namespace

template <class T>
void DistMatrix<T>::scatter_from(const Matrix<T>& A, int root) {
  const auto& comm = grid_->communicator();
  SRR_ASSERT(root >= 0 && root < grid_->size());
  if (grid_->rank() != root) {
    // lld = local_rows whenever the local part is not empty, so it arrives contiguous, in place.
    if (local_rows_ * local_cols_ > 0) comm.recv(std::span<T>(local_), root, transfer_tag);
    return;
  }
  SRR_ASSERT(A.rows() == rows() && A.cols() == cols());
  std::vector<T> pack;
  for (int r = 0; r < grid_->size(); ++r) {
    const int p = r / grid_->cols(), q = r % grid_->cols();  // row-major grid (ProcessGrid)
    const index_t mloc = la::numroc(rows(), block(), p, grid_->rows());
    const index_t nloc = la::numroc(cols(), block(), q, grid_->cols());
    if (mloc * nloc == 0) continue;
    if (r != root) pack.resize(static_cast<std::size_t>(mloc * nloc));
    T* out = r == root ? local_.data() : pack.data();
    for_each_local_run(rows(), cols(), block(), p, grid_->rows(), q, grid_->cols(),
                       [&](index_t gi, index_t gj, index_t li, index_t lj, index_t run) {
                         std::copy_n(A.col(gj) + gi, run, out + li + lj * mloc);
                       });
    if (r != root) comm.send(std::span<const T>(pack), r, transfer_tag);
  }
}

template <class T>
Matrix<T> DistMatrix<T>::gather_to(int root) const {
  const auto& comm = grid_->communicator();
  SRR_ASSERT(root >= 0 && root < grid_->size());
  if (grid_->rank() != root) {
    if (local_rows_ * local_cols_ > 0) comm.send(std::span<const T>(local_), root, transfer_tag);
    return Matrix<T>();
  }
  Matrix<T> out(rows(), cols());
  std::vector<T> pack;
  for (int r = 0; r < grid_->size(); ++r) {
    const int p = r / grid_->cols(), q = r % grid_->cols();
    const index_t mloc = la::numroc(rows(), block(), p, grid_->rows());
    const index_t nloc = la::numroc(cols(), block(), q, grid_->cols());
    if (mloc * nloc == 0) continue;
    const T* in = local_.data();
    if (r != root) {
      pack.resize(static_cast<std::size_t>(mloc * nloc));
      comm.recv(std::span<T>(pack), r, transfer_tag);
      in = pack.data();
    }
    for_each_local_run(rows(), cols(), block(), p, grid_->rows(), q, grid_->cols(),
                       [&](index_t gi, index_t gj, index_t li, index_t lj, index_t run) {
                         std::copy_n(in + li + lj * mloc, run, out.col(gj) + gi);
                       });
  }
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

}  // namespace srr::parallel
