// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Typed C++ wrappers over BLACS, PBLAS and ScaLAPACK, for float and double, in the style of la/lapack.hpp:
/// sizes are narrowed to the Fortran integer with a check, workspace queries are done here, and a non-zero
/// `info` becomes a ScalapackError naming the routine. Nothing above la/ sees a prototype.
///
/// Every wrapper works on whole distributed matrices (IA = JA = 1): that is all the distributed kernels
/// need, and it keeps 1-based sub-matrix offsets out of the C++ code.
///
/// Collectiveness: BLACS grid creation and destruction are collective over the system handle's
/// communicator; PBLAS and ScaLAPACK routines are collective over the processes of the descriptors'
/// context (for p?gemr2d: of the union context). Each function below says which.

#include <mpi.h>

#include <array>
#include <span>
#include <string>
#include <vector>

#include "la/lapack.hpp"

namespace srr::la {

/// A ScaLAPACK routine returned info != 0, or a wrapper found an argument the library would reject.
/// info < 0 follows ScaLAPACK: −i for scalar argument i, −(100·i + j) for entry j of array argument i.
class ScalapackError : public Error {
public:
  ScalapackError(const std::string& routine, int info);
  const std::string& routine() const { return routine_; }
  int info() const { return info_; }

private:
  std::string routine_;
  int info_;
};

/// A ScaLAPACK array descriptor (DTYPE, CTXT, M, N, MB, NB, RSRC, CSRC, LLD), for a block-cyclic
/// matrix whose first block sits on process (0, 0).
struct Descriptor {
  std::array<int, 9> v{};

  const int* data() const { return v.data(); }
  int context() const { return v[1]; }
  index_t rows() const { return v[2]; }
  index_t cols() const { return v[3]; }
  index_t row_block() const { return v[4]; }
  index_t col_block() const { return v[5]; }
  index_t lld() const { return v[8]; }
  /// False on processes outside the descriptor's grid (CTXT = −1): they hold no part of the matrix but
  /// still take part in p?gemr2d over a union context.
  bool in_context() const { return v[1] >= 0; }
};

/// Number of rows (or columns) of an n-long dimension, split in blocks of nb cyclically over nprocs
/// processes starting at process 0, that process iproc owns (numroc). Local, not collective.
index_t numroc(index_t n, index_t nb, int iproc, int nprocs);

/// A descriptor for an m×n matrix in mb×nb blocks on `context`, local leading dimension lld (descinit).
/// Local, not collective. Throws ScalapackError("descinit") for an inconsistent argument.
Descriptor descinit(index_t m, index_t n, index_t mb, index_t nb, int context, index_t lld);

/// The descriptor a process outside `context`'s grid passes for the same matrix (CTXT = −1).
Descriptor descriptor_outside(index_t m, index_t n, index_t mb, index_t nb);

/// The BLACS: system handles and process grids (contexts). A context is −1 on processes outside its grid.
namespace blacs {

/// BLACS system handle of an MPI communicator (Csys2blacs_handle). Local. BLACS looks handles up by
/// communicator value, so two live grids must not share one communicator (parallel::ProcessGrid duplicates).
int system_handle(MPI_Comm comm);
/// Releases a system handle (Cfree_blacs_system_handle), after every grid made from it has exited. Local.
void free_system_handle(int handle);

/// A rows×cols grid in row-major order over ranks 0..rows·cols−1 of the handle's communicator
/// (Cblacs_gridinit). Collective over the handle's communicator. Returns −1 on ranks outside the grid.
int gridinit(int handle, int rows, int cols);
/// A rows×cols grid whose process (i, j) is rank ranks[i + j·rows] of the handle's communicator
/// (Cblacs_gridmap). Collective over the handle's communicator. Returns −1 on ranks outside the grid.
int gridmap(int handle, std::span<const int> ranks, int rows, int cols);

struct GridInfo {
  int rows = 0, cols = 0, row = -1, col = -1;
};
/// Shape of a context's grid and this process's coordinates (−1 outside it). Local.
GridInfo gridinfo(int context);
/// Releases a context (Cblacs_gridexit). Call only on processes inside the grid. Local.
void gridexit(int context);
/// Frees the BLACS's internal buffers and contexts without finalizing MPI (Cblacs_exit(1); never
/// Cblacs_exit(0), which would call MPI_Finalize behind the MPI environment's back). Local.
void release();

}  // namespace blacs

/// C = alpha·op(A)·op(B) + beta·C for whole distributed matrices (p?gemm). Collective over the context of
/// the descriptors, which must all be the same. PBLAS aborts the program on a bad argument instead of
/// returning, so the shapes and contexts are checked here first and a mismatch throws ScalapackError.
template <class T>
void pgemm(Op ta, Op tb, T alpha, const T* A, const Descriptor& da, const T* B, const Descriptor& db, T beta,
           T* C, const Descriptor& dc);

/// B ← op(A)·B (p?trmm) and B ← op(A)⁻¹·B (p?trsm) for the upper triangular, non-unit A (its strictly
/// lower part is not read). Collective over the descriptors' context; shapes and contexts are checked
/// first (PBLAS aborts on a bad argument) and a mismatch throws ScalapackError.
template <class T>
void ptrmm_upper(Op ta, const T* A, const Descriptor& da, T* B, const Descriptor& db);
template <class T>
void ptrsm_upper(Op ta, const T* A, const Descriptor& da, T* B, const Descriptor& db);

/// Upper Cholesky factor in place (p?potrf 'U'; the strictly lower part is left as it was). Returns
/// p?potrf's info: 0, or k > 0 when the leading minor of order k is not positive definite. That value is
/// not guaranteed to be the same on every process: callers reduce it over the grid before acting on it.
/// Collective over the descriptor's context.
template <class T>
int ppotrf_upper(T* A, const Descriptor& da);

/// QR factorization in place (p?geqrf): R in the upper triangle, Householder vectors below, and the
/// returned local part of tau. Collective over the descriptor's context.
template <class T>
std::vector<T> pgeqrf(T* A, const Descriptor& da);

/// Overwrites the output of pgeqrf (m×n, m ≥ n) with the first n columns of Q (p?orgqr). Collective over
/// the descriptor's context.
template <class T>
void porgqr(T* A, const Descriptor& da, const std::vector<T>& tau);

/// Symmetric eigendecomposition of the lower triangle of A, eigenvectors into Z (p?syevd; ScaLAPACK's
/// divide and conquer always computes vectors). Returns all n eigenvalues, ascending, on every process.
/// A is destroyed. Collective over the descriptors' context.
template <class T>
std::vector<T> psyevd(T* A, const Descriptor& da, T* Z, const Descriptor& dz);

/// Singular values only (p?gesvd 'N','N'), descending, on every process. A is destroyed. Collective over
/// the descriptor's context. (With vectors p?gesvd is far too slow for layers: toolchain.md P10.)
template <class T>
std::vector<T> pgesvd_values(T* A, const Descriptor& da);

/// Copies the m×n block of A starting at (ia, ja) (layout da) into B at (ib, jb) (layout db), possibly on
/// a different grid (p?gemr2d; offsets are 0-based here). Collective over `union_context`, a context
/// containing every process of both grids; a process outside one of the grids passes that matrix's
/// descriptor_outside() and a null pointer.
template <class T>
void pgemr2d(index_t m, index_t n, const T* A, index_t ia, index_t ja, const Descriptor& da, T* B, index_t ib,
             index_t jb, const Descriptor& db, int union_context);

}  // namespace srr::la
