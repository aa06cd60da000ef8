// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// A dense matrix distributed 2-D block-cyclically over a ProcessGrid, in ScaLAPACK's layout: square
/// nb×nb blocks, the first block on process (0, 0), and on each process a column-major local array of
/// local_rows × local_cols with leading dimension lld = max(1, local_rows) (toolchain.md P4).
///
/// Index maps (global i, local l, block nb, P process rows, this process's row p):
///   owner_row(i) = (i / nb) mod P,   local_row(i) = (i / (nb·P))·nb + i mod nb,
///   global_row(l) = ((l / nb)·P + p)·nb + l mod nb;   the same for columns with Q and q.
///
/// Scatter and gather use explicit MPI messages, one per process, packed on the root straight from and
/// into the whole matrix: p?gemr2d, the general redistribution, was measured 10× slower for this case
/// (1.8 s for a 4096×11008 double matrix on one rank, most of a randomized SVD's time). p?gemr2d remains
/// behind copy(), between blocks of matrices on one grid.

#include <vector>

#include "parallel/grid.hpp"
#include "la/lapack.hpp"
#include "la/scalapack.hpp"

namespace srr::parallel {

using la::index_t;
using la::Matrix;
using la::Op;

/// ScaLAPACK's customary block: large enough for BLAS-3 on the local blocks, small enough to balance.
inline constexpr index_t default_block = 64;

/// The 1-D block-cyclic maps behind both dimensions (first block on process 0): the process owning
/// global index g, g's local index there, and the global index of local index l on process p.
inline int block_cyclic_owner(index_t g, index_t nb, int nprocs) { return static_cast<int>((g / nb) % nprocs); }
inline index_t block_cyclic_local(index_t g, index_t nb, int nprocs) { return (g / (nb * nprocs)) * nb + g % nb; }
inline index_t block_cyclic_global(index_t l, index_t nb, int p, int nprocs) {
  return ((l / nb) * nprocs + p) * nb + l % nb;
}

template <class T>
class DistMatrix {
public:
  /// An m×n zero matrix on `grid` (numroc + descinit). Local: no communication. The grid must outlive
  /// the matrix.
  DistMatrix(const ProcessGrid& grid, index_t rows, index_t cols, index_t block = default_block);

  const ProcessGrid& grid() const { return *grid_; }
  index_t rows() const { return desc_.rows(); }
  index_t cols() const { return desc_.cols(); }
  index_t block() const { return desc_.row_block(); }
  const la::Descriptor& descriptor() const { return desc_; }

  index_t local_rows() const { return local_rows_; }
  index_t local_cols() const { return local_cols_; }
  index_t lld() const { return desc_.lld(); }
  T* local_data() { return local_.data(); }
  const T* local_data() const { return local_.data(); }
  T& local(index_t li, index_t lj) { return local_[static_cast<std::size_t>(li + lj * lld())]; }
  const T& local(index_t li, index_t lj) const { return local_[static_cast<std::size_t>(li + lj * lld())]; }

  /// Grid row / column of the process that owns global row i / column j.
  int owner_row(index_t i) const { return block_cyclic_owner(i, block(), grid_->rows()); }
  int owner_col(index_t j) const { return block_cyclic_owner(j, block(), grid_->cols()); }
  /// Local index of a global row / column; meaningful only on its owner.
  index_t local_row(index_t i) const { return block_cyclic_local(i, block(), grid_->rows()); }
  index_t local_col(index_t j) const { return block_cyclic_local(j, block(), grid_->cols()); }
  /// Global index of a local row / column of this process.
  index_t global_row(index_t li) const { return block_cyclic_global(li, block(), grid_->row(), grid_->rows()); }
  index_t global_col(index_t lj) const { return block_cyclic_global(lj, block(), grid_->col(), grid_->cols()); }
  bool is_local(index_t i, index_t j) const {
    return owner_row(i) == grid_->row() && owner_col(j) == grid_->col();
  }

  /// Sets every local element from its global position: a = f(i, j). Local.
  template <class F>
  void fill(F&& f) {
    for (index_t lj = 0; lj < local_cols_; ++lj)
      for (index_t li = 0; li < local_rows_; ++li) local(li, lj) = static_cast<T>(f(global_row(li), global_col(lj)));
  }

  /// Distributes the whole matrix A, held by `root` (a rank of the grid's communicator), into this
  /// matrix. Only root's A is read; it must be rows()×cols(). Collective over the grid's communicator.
  void scatter_from(const Matrix<T>& A, int root = 0);

  /// The whole matrix on `root`, an empty matrix elsewhere. Collective over the grid's communicator.
  Matrix<T> gather_to(int root = 0) const;

private:
  const ProcessGrid* grid_;
  la::Descriptor desc_;
  index_t local_rows_ = 0, local_cols_ = 0;
  std::vector<T> local_;
};

/// B(ib : ib+m, jb : jb+n) = A(ia : ia+m, ja : ja+n), 0-based, both on one grid (p?gemr2d). Collective
/// over the grid's communicator.
template <class T>
void copy(const DistMatrix<T>& A, index_t ia, index_t ja, index_t m, index_t n, DistMatrix<T>& B, index_t ib,
          index_t jb);

/// C = alpha·op(A)·op(B) + beta·C (p?gemm); all three on one grid with one block size. Collective over
/// the grid's communicator.
template <class T>
void gemm(Op ta, Op tb, T alpha, const DistMatrix<T>& A, const DistMatrix<T>& B, T beta, DistMatrix<T>& C);

/// Returns op(A)·op(B) as a new matrix on A's grid with A's block size. Collective over the grid's
/// communicator.
template <class T>
DistMatrix<T> matmul(const DistMatrix<T>& A, const DistMatrix<T>& B, Op ta = Op::N, Op tb = Op::N);

/// Replaces A (m×n, m ≥ n) by an orthonormal basis of its columns, by p?geqrf + p?orgqr: the distributed
/// twin of la::orthonormalize. Collective over the grid's communicator.
template <class T>
void orthonormalize(DistMatrix<T>& A);

}  // namespace srr::parallel
