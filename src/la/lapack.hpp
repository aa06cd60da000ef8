// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Typed C++ wrappers over BLAS and LAPACK, for float and double. Each wrapper narrows sizes to the
/// Fortran integer with a check, does the workspace query where the routine has one, and turns a non-zero
/// `info` into a LapackError that names the routine. Nothing above la/ sees a Fortran prototype.

#include <string>
#include <vector>

#include "base/error.hpp"
#include "la/matrix.hpp"

namespace srr::la {

/// A LAPACK routine returned info != 0.
class LapackError : public Error {
public:
  LapackError(const std::string& routine, int info);
  const std::string& routine() const { return routine_; }
  int info() const { return info_; }

private:
  std::string routine_;
  int info_;
};

enum class Op { N, T };
enum class Uplo { Upper, Lower };
enum class Side { Left, Right };
enum class Diag { NonUnit, Unit };

/// C = alpha·op(A)·op(B) + beta·C on raw column-major storage.
template <class T>
void gemm(Op ta, Op tb, index_t m, index_t n, index_t k, T alpha, const T* A, index_t lda, const T* B,
          index_t ldb, T beta, T* C, index_t ldc);

/// C = alpha·op(A)·op(B) + beta·C. C must already have the right shape when beta != 0.
template <class T>
void gemm(Op ta, Op tb, T alpha, const Matrix<T>& A, const Matrix<T>& B, T beta, Matrix<T>& C);

/// Returns op(A)·op(B).
template <class T>
Matrix<T> matmul(const Matrix<T>& A, const Matrix<T>& B, Op ta = Op::N, Op tb = Op::N);

/// C = alpha·op(A)·op(A)ᵀ + beta·C, only the `uplo` triangle of C is referenced and updated.
template <class T>
void syrk(Uplo uplo, Op trans, T alpha, const Matrix<T>& A, T beta, Matrix<T>& C);

/// Thin SVD A = U·diag(s)·Vt with s descending (divide and conquer, ?gesdd).
/// With vectors = false only s is computed (U and Vt stay empty).
template <class T>
struct Svd {
  Matrix<T> U;
  std::vector<T> s;
  Matrix<T> Vt;
};
template <class T>
Svd<T> gesdd(Matrix<T> A, bool vectors = true);

/// Symmetric eigendecomposition A = Z·diag(w)·Zᵀ with w ascending (?syevd, lower triangle read).
template <class T>
struct Eig {
  std::vector<T> w;
  Matrix<T> Z;
};
template <class T>
Eig<T> syevd(Matrix<T> A, bool vectors = true);

/// Orthonormal basis Q (m×n, m ≥ n) of the columns of A, by ?geqrf + ?orgqr.
template <class T>
Matrix<T> orthonormalize(Matrix<T> A);

/// Cholesky factor in place (?potrf); the other triangle is left as it was.
template <class T>
void potrf(Uplo uplo, Matrix<T>& A);

/// Reciprocal condition number, in the 1-norm, of the symmetric positive definite A whose Cholesky factor
/// (from potrf with the same uplo) is `factor`, given ‖A‖₁ = `norm1` (?pocon: an O(n²) estimate, never
/// more than a small factor from the true value).
template <class T>
double pocon(Uplo uplo, const Matrix<T>& factor, double norm1);

/// B = alpha·op(A)⁻¹·B (Left) or alpha·B·op(A)⁻¹ (Right) for triangular A (?trsm).
template <class T>
void trsm(Side side, Uplo uplo, Op trans, Diag diag, T alpha, const Matrix<T>& A, Matrix<T>& B);

/// B = alpha·op(A)·B (Left) or alpha·B·op(A) (Right) for triangular A (?trmm).
template <class T>
void trmm(Side side, Uplo uplo, Op trans, Diag diag, T alpha, const Matrix<T>& A, Matrix<T>& B);

/// Solves A·X = B in place of B by LU with partial pivoting (?gesv).
template <class T>
void gesv(Matrix<T> A, Matrix<T>& B);

/// Frobenius norm squared, accumulated in double whatever T is.
template <class T>
double frobenius2(const T* data, index_t count);
template <class T>
double frobenius2(const Matrix<T>& A) {
  return frobenius2(A.data(), A.size());
}

/// Narrows a 64-bit size to the Fortran integer; throws naming `what` when it does not fit.
int to_fortran_int(index_t value, const char* what);

}  // namespace srr::la
