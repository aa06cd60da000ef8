// SPDX-License-Identifier: MIT
#include "la/lapack.hpp"

#include <climits>
#include <cmath>

#include "la/fortran.hpp"

/// The one error macro for LAPACK: a non-zero info becomes a LapackError naming the routine.
#define SRR_LAPACK_CHECK(routine, info)                          \
  do {                                                           \
    if ((info) != 0) throw ::srr::la::LapackError(routine, info); \
  } while (0)

namespace srr::la {

LapackError::LapackError(const std::string& routine, int info)
    : Error(routine + " failed with info = " + std::to_string(info) +
            (info < 0 ? " (illegal argument " + std::to_string(-info) + ")"
                      : " (the algorithm did not converge or the matrix is singular / not positive definite)")),
      routine_(routine),
      info_(info) {}

int to_fortran_int(index_t value, const char* what) {
  if (value < 0 || value > INT_MAX)
    throw Error(std::string(what) + " = " + std::to_string(value) + " does not fit the LAPACK integer");
  return static_cast<int>(value);
}

namespace {

const char* op_char(Op op) { return op == Op::N ? "N" : "T"; }
const char* uplo_char(Uplo u) { return u == Uplo::Upper ? "U" : "L"; }
const char* side_char(Side s) { return s == Side::Left ? "L" : "R"; }
const char* diag_char(Diag d) { return d == Diag::Unit ? "U" : "N"; }

/// Dispatch from the element type to the s/d routine.
template <class T>
struct F;
template <>
struct F<float> {
  static constexpr auto gemm = sgemm_;
  static constexpr auto syrk = ssyrk_;
  static constexpr auto trsm = strsm_;
  static constexpr auto trmm = strmm_;
  static constexpr auto gesdd = sgesdd_;
  static constexpr auto syevd = ssyevd_;
  static constexpr auto geqrf = sgeqrf_;
  static constexpr auto orgqr = sorgqr_;
  static constexpr auto potrf = spotrf_;
  static constexpr auto pocon = spocon_;
  static constexpr auto gesv = sgesv_;
  static constexpr char prefix = 's';
};
template <>
struct F<double> {
  static constexpr auto gemm = dgemm_;
  static constexpr auto syrk = dsyrk_;
  static constexpr auto trsm = dtrsm_;
  static constexpr auto trmm = dtrmm_;
  static constexpr auto gesdd = dgesdd_;
  static constexpr auto syevd = dsyevd_;
  static constexpr auto geqrf = dgeqrf_;
  static constexpr auto orgqr = dorgqr_;
  static constexpr auto potrf = dpotrf_;
  static constexpr auto pocon = dpocon_;
  static constexpr auto gesv = dgesv_;
  static constexpr char prefix = 'd';
};

template <class T>
std::string name(const char* routine) {
  return std::string(1, F<T>::prefix) + routine;
}

/// LAPACK returns the optimal workspace size as a floating-point number; round up so that a value just
/// below an integer after conversion to float cannot under-allocate.
template <class T>
int workspace_size(T query) {
  return static_cast<int>(std::ceil(static_cast<double>(query) * (1.0 + 1e-6))) + 1;
}

}  // namespace

template <class T>
void gemm(Op ta, Op tb, index_t m, index_t n, index_t k, T alpha, const T* A, index_t lda, const T* B,
          index_t ldb, T beta, T* C, index_t ldc) {
  if (m == 0 || n == 0) return;
  const int im = to_fortran_int(m, "gemm m"), in = to_fortran_int(n, "gemm n"), ik = to_fortran_int(k, "gemm k");
  const int ilda = to_fortran_int(lda, "gemm lda"), ildb = to_fortran_int(ldb, "gemm ldb"),
            ildc = to_fortran_int(ldc, "gemm ldc");
  F<T>::gemm(op_char(ta), op_char(tb), &im, &in, &ik, &alpha, A, &ilda, B, &ildb, &beta, C, &ildc, 1, 1);
}

template <class T>
void gemm(Op ta, Op tb, T alpha, const Matrix<T>& A, const Matrix<T>& B, T beta, Matrix<T>& C) {
  const index_t m = ta == Op::N ? A.rows() : A.cols();
  const index_t k = ta == Op::N ? A.cols() : A.rows();
  const index_t kb = tb == Op::N ? B.rows() : B.cols();
  const index_t n = tb == Op::N ? B.cols() : B.rows();
  SRR_ASSERT(k == kb);
  if (C.rows() != m || C.cols() != n) {
    SRR_ASSERT(beta == T(0));
    C = Matrix<T>(m, n);
  }
  if (k == 0) {
    for (auto& v : C.values()) v *= beta;
    return;
  }
  gemm(ta, tb, m, n, k, alpha, A.data(), A.ld(), B.data(), B.ld(), beta, C.data(), C.ld());
}

template <class T>
Matrix<T> matmul(const Matrix<T>& A, const Matrix<T>& B, Op ta, Op tb) {
  Matrix<T> C;
  gemm(ta, tb, T(1), A, B, T(0), C);
  return C;
}

template <class T>
void syrk(Uplo uplo, Op trans, T alpha, const Matrix<T>& A, T beta, Matrix<T>& C) {
  const index_t n = trans == Op::N ? A.rows() : A.cols();
  const index_t k = trans == Op::N ? A.cols() : A.rows();
  SRR_ASSERT(C.rows() == n && C.cols() == n);
  if (n == 0 || k == 0) return;
  const int in = to_fortran_int(n, "syrk n"), ik = to_fortran_int(k, "syrk k");
  const int lda = to_fortran_int(A.ld(), "syrk lda"), ldc = to_fortran_int(C.ld(), "syrk ldc");
  F<T>::syrk(uplo_char(uplo), op_char(trans), &in, &ik, &alpha, A.data(), &lda, &beta, C.data(), &ldc, 1, 1);
}

template <class T>
Svd<T> gesdd(Matrix<T> A, bool vectors) {
  const int m = to_fortran_int(A.rows(), "gesdd m"), n = to_fortran_int(A.cols(), "gesdd n");
  const int mn = std::min(m, n);
  Svd<T> out;
  out.s.resize(static_cast<std::size_t>(mn));
  if (mn == 0) return out;
  const char* jobz = vectors ? "S" : "N";
  if (vectors) {
    out.U = Matrix<T>(m, mn);
    out.Vt = Matrix<T>(mn, n);
  }
  const int lda = to_fortran_int(A.ld(), "gesdd lda");
  const int ldu = vectors ? m : 1, ldvt = vectors ? mn : 1;
  T* u = vectors ? out.U.data() : nullptr;
  T* vt = vectors ? out.Vt.data() : nullptr;
  std::vector<int> iwork(8 * static_cast<std::size_t>(mn));
  int info = 0, lwork = -1;
  T query{};
  F<T>::gesdd(jobz, &m, &n, A.data(), &lda, out.s.data(), u, &ldu, vt, &ldvt, &query, &lwork, iwork.data(),
              &info, 1);
  SRR_LAPACK_CHECK(name<T>("gesdd"), info);
  lwork = workspace_size(query);
  std::vector<T> work(static_cast<std::size_t>(lwork));
  F<T>::gesdd(jobz, &m, &n, A.data(), &lda, out.s.data(), u, &ldu, vt, &ldvt, work.data(), &lwork,
              iwork.data(), &info, 1);
  SRR_LAPACK_CHECK(name<T>("gesdd"), info);
  return out;
}

template <class T>
Eig<T> syevd(Matrix<T> A, bool vectors) {
  SRR_ASSERT(A.rows() == A.cols());
  const int n = to_fortran_int(A.rows(), "syevd n");
  Eig<T> out;
  out.w.resize(static_cast<std::size_t>(n));
  if (n == 0) return out;
  const char* jobz = vectors ? "V" : "N";
  const int lda = to_fortran_int(A.ld(), "syevd lda");
  int info = 0, lwork = -1, liwork = -1, iquery = 0;
  T query{};
  F<T>::syevd(jobz, "L", &n, A.data(), &lda, out.w.data(), &query, &lwork, &iquery, &liwork, &info, 1, 1);
  SRR_LAPACK_CHECK(name<T>("syevd"), info);
  lwork = workspace_size(query);
  liwork = iquery;
  std::vector<T> work(static_cast<std::size_t>(lwork));
  std::vector<int> iwork(static_cast<std::size_t>(std::max(1, liwork)));
  F<T>::syevd(jobz, "L", &n, A.data(), &lda, out.w.data(), work.data(), &lwork, iwork.data(), &liwork, &info, 1,
              1);
  SRR_LAPACK_CHECK(name<T>("syevd"), info);
  if (vectors) out.Z = std::move(A);
  return out;
}

template <class T>
Matrix<T> orthonormalize(Matrix<T> A) {
  const int m = to_fortran_int(A.rows(), "geqrf m"), n = to_fortran_int(A.cols(), "geqrf n");
  SRR_ASSERT(m >= n);
  if (n == 0) return A;
  const int lda = to_fortran_int(A.ld(), "geqrf lda");
  std::vector<T> tau(static_cast<std::size_t>(n));
  int info = 0, lwork = -1;
  T query{};
  F<T>::geqrf(&m, &n, A.data(), &lda, tau.data(), &query, &lwork, &info);
  SRR_LAPACK_CHECK(name<T>("geqrf"), info);
  T query2{};
  F<T>::orgqr(&m, &n, &n, A.data(), &lda, tau.data(), &query2, &lwork, &info);
  SRR_LAPACK_CHECK(name<T>("orgqr"), info);
  lwork = std::max(workspace_size(query), workspace_size(query2));
  std::vector<T> work(static_cast<std::size_t>(lwork));
  F<T>::geqrf(&m, &n, A.data(), &lda, tau.data(), work.data(), &lwork, &info);
  SRR_LAPACK_CHECK(name<T>("geqrf"), info);
  F<T>::orgqr(&m, &n, &n, A.data(), &lda, tau.data(), work.data(), &lwork, &info);
  SRR_LAPACK_CHECK(name<T>("orgqr"), info);
  return A;
}

template <class T>
void potrf(Uplo uplo, Matrix<T>& A) {
  SRR_ASSERT(A.rows() == A.cols());
  const int n = to_fortran_int(A.rows(), "potrf n"), lda = to_fortran_int(A.ld(), "potrf lda");
  int info = 0;
  F<T>::potrf(uplo_char(uplo), &n, A.data(), &lda, &info, 1);
  SRR_LAPACK_CHECK(name<T>("potrf"), info);
}

template <class T>
double pocon(Uplo uplo, const Matrix<T>& factor, double norm1) {
  SRR_ASSERT(factor.rows() == factor.cols());
  const int n = to_fortran_int(factor.rows(), "pocon n"), lda = to_fortran_int(factor.ld(), "pocon lda");
  if (n == 0) return 1.0;
  const T anorm = static_cast<T>(norm1);
  T rcond{};
  std::vector<T> work(3 * static_cast<std::size_t>(n));
  std::vector<int> iwork(static_cast<std::size_t>(n));
  int info = 0;
  F<T>::pocon(uplo_char(uplo), &n, factor.data(), &lda, &anorm, &rcond, work.data(), iwork.data(), &info, 1);
  SRR_LAPACK_CHECK(name<T>("pocon"), info);
  return static_cast<double>(rcond);
}

template <class T>
void trsm(Side side, Uplo uplo, Op trans, Diag diag, T alpha, const Matrix<T>& A, Matrix<T>& B) {
  const int m = to_fortran_int(B.rows(), "trsm m"), n = to_fortran_int(B.cols(), "trsm n");
  SRR_ASSERT(A.rows() == A.cols() && A.rows() == (side == Side::Left ? B.rows() : B.cols()));
  if (m == 0 || n == 0) return;
  const int lda = to_fortran_int(A.ld(), "trsm lda"), ldb = to_fortran_int(B.ld(), "trsm ldb");
  F<T>::trsm(side_char(side), uplo_char(uplo), op_char(trans), diag_char(diag), &m, &n, &alpha, A.data(), &lda,
             B.data(), &ldb, 1, 1, 1, 1);
}

template <class T>
void trmm(Side side, Uplo uplo, Op trans, Diag diag, T alpha, const Matrix<T>& A, Matrix<T>& B) {
  const int m = to_fortran_int(B.rows(), "trmm m"), n = to_fortran_int(B.cols(), "trmm n");
  SRR_ASSERT(A.rows() == A.cols() && A.rows() == (side == Side::Left ? B.rows() : B.cols()));
  if (m == 0 || n == 0) return;
  const int lda = to_fortran_int(A.ld(), "trmm lda"), ldb = to_fortran_int(B.ld(), "trmm ldb");
  F<T>::trmm(side_char(side), uplo_char(uplo), op_char(trans), diag_char(diag), &m, &n, &alpha, A.data(), &lda,
             B.data(), &ldb, 1, 1, 1, 1);
}

template <class T>
void gesv(Matrix<T> A, Matrix<T>& B) {
  SRR_ASSERT(A.rows() == A.cols() && A.rows() == B.rows());
  const int n = to_fortran_int(A.rows(), "gesv n"), nrhs = to_fortran_int(B.cols(), "gesv nrhs");
  if (n == 0 || nrhs == 0) return;
  const int lda = to_fortran_int(A.ld(), "gesv lda"), ldb = to_fortran_int(B.ld(), "gesv ldb");
  std::vector<int> ipiv(static_cast<std::size_t>(n));
  int info = 0;
  F<T>::gesv(&n, &nrhs, A.data(), &lda, ipiv.data(), B.data(), &ldb, &info);
  SRR_LAPACK_CHECK(name<T>("gesv"), info);
}

template <class T>
double frobenius2(const T* data, index_t count) {
  double sum = 0.0;
  for (index_t i = 0; i < count; ++i) sum += static_cast<double>(data[i]) * static_cast<double>(data[i]);
  return sum;
}

#define SRR_INSTANTIATE(T)                                                                                    \
  template void gemm<T>(Op, Op, index_t, index_t, index_t, T, const T*, index_t, const T*, index_t, T, T*,   \
                        index_t);                                                                             \
  template void gemm<T>(Op, Op, T, const Matrix<T>&, const Matrix<T>&, T, Matrix<T>&);                       \
  template Matrix<T> matmul<T>(const Matrix<T>&, const Matrix<T>&, Op, Op);                                   \
  template void syrk<T>(Uplo, Op, T, const Matrix<T>&, T, Matrix<T>&);                                        \
  template Svd<T> gesdd<T>(Matrix<T>, bool);                                                                  \
  template Eig<T> syevd<T>(Matrix<T>, bool);                                                                  \
  template Matrix<T> orthonormalize<T>(Matrix<T>);                                                            \
  template void potrf<T>(Uplo, Matrix<T>&);                                                                   \
  template double pocon<T>(Uplo, const Matrix<T>&, double);                                                   \
  template void trsm<T>(Side, Uplo, Op, Diag, T, const Matrix<T>&, Matrix<T>&);                               \
  template void trmm<T>(Side, Uplo, Op, Diag, T, const Matrix<T>&, Matrix<T>&);                               \
  template void gesv<T>(Matrix<T>, Matrix<T>&);                                                               \
  template double frobenius2<T>(const T*, index_t);

SRR_INSTANTIATE(float)
SRR_INSTANTIATE(double)

}  // namespace srr::la
