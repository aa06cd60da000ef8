// SPDX-License-Identifier: MIT
#include "la/scalapack.hpp"

#include <algorithm>
#include <cmath>

#include "la/scalapack_fortran.hpp"

/// The one error macro for ScaLAPACK: a non-zero info becomes a ScalapackError naming the routine.
#define SRR_SCALAPACK_CHECK(routine, info)                              \
  do {                                                                  \
    if ((info) != 0) throw ::srr::la::ScalapackError(routine, info);    \
  } while (0)

namespace srr::la {

namespace {

std::string describe(int info) {
  if (info > 0) return " (the algorithm did not converge or the matrix is singular)";
  const int code = -info;
  if (code >= 100)
    return " (entry " + std::to_string(code % 100) + " of array argument " + std::to_string(code / 100) +
           " is illegal)";
  return " (illegal argument " + std::to_string(code) + ")";
}

const char* op_char(Op op) { return op == Op::N ? "N" : "T"; }

/// Dispatch from the element type to the s/d routine.
template <class T>
struct P;
template <>
struct P<float> {
  static constexpr auto gemm = psgemm_;
  static constexpr auto gemr2d = psgemr2d_;
  static constexpr auto geqrf = psgeqrf_;
  static constexpr auto orgqr = psorgqr_;
  static constexpr auto syevd = pssyevd_;
  static constexpr auto potrf = pspotrf_;
  static constexpr auto trmm = pstrmm_;
  static constexpr auto trsm = pstrsm_;
  static constexpr auto gesvd = psgesvd_;
  static constexpr char type = 's';
};
template <>
struct P<double> {
  static constexpr auto gemm = pdgemm_;
  static constexpr auto gemr2d = pdgemr2d_;
  static constexpr auto geqrf = pdgeqrf_;
  static constexpr auto orgqr = pdorgqr_;
  static constexpr auto syevd = pdsyevd_;
  static constexpr auto potrf = pdpotrf_;
  static constexpr auto trmm = pdtrmm_;
  static constexpr auto trsm = pdtrsm_;
  static constexpr auto gesvd = pdgesvd_;
  static constexpr char type = 'd';
};

template <class T>
std::string name(const char* routine) {
  return std::string("p") + P<T>::type + routine;
}

/// ScaLAPACK returns the optimal workspace as a floating-point number; round up with a margin so that a
/// value that lost its last digits in float cannot under-allocate.
template <class T>
int workspace_size(T query) {
  return static_cast<int>(std::ceil(static_cast<double>(query) * (1.0 + 1e-6))) + 1;
}

constexpr int one = 1;

}  // namespace

ScalapackError::ScalapackError(const std::string& routine, int info)
    : Error(routine + " failed with info = " + std::to_string(info) + describe(info)),
      routine_(routine),
      info_(info) {}

index_t numroc(index_t n, index_t nb, int iproc, int nprocs) {
  const int in = to_fortran_int(n, "numroc n"), inb = to_fortran_int(nb, "numroc nb");
  const int zero = 0;
  return numroc_(&in, &inb, &iproc, &zero, &nprocs);
}

Descriptor descinit(index_t m, index_t n, index_t mb, index_t nb, int context, index_t lld) {
  const int im = to_fortran_int(m, "descinit m"), in = to_fortran_int(n, "descinit n");
  const int imb = to_fortran_int(mb, "descinit mb"), inb = to_fortran_int(nb, "descinit nb");
  const int illd = to_fortran_int(lld, "descinit lld");
  const int zero = 0;
  Descriptor d;
  int info = 0;
  descinit_(d.v.data(), &im, &in, &imb, &inb, &zero, &zero, &context, &illd, &info);
  SRR_SCALAPACK_CHECK("descinit", info);
  return d;
}

Descriptor descriptor_outside(index_t m, index_t n, index_t mb, index_t nb) {
  Descriptor d;
  d.v = {1,
         -1,
         to_fortran_int(m, "descriptor m"),
         to_fortran_int(n, "descriptor n"),
         to_fortran_int(mb, "descriptor mb"),
         to_fortran_int(nb, "descriptor nb"),
         0,
         0,
         1};
  return d;
}

namespace blacs {

int system_handle(MPI_Comm comm) {
  int me = 0, nprocs = 0;
  Cblacs_pinfo(&me, &nprocs);  // initialises the BLACS on first use; harmless afterwards
  return Csys2blacs_handle(comm);
}

void free_system_handle(int handle) { Cfree_blacs_system_handle(handle); }

int gridinit(int handle, int rows, int cols) {
  int context = handle;
  Cblacs_gridinit(&context, "Row", rows, cols);
  return context;
}

int gridmap(int handle, std::span<const int> ranks, int rows, int cols) {
  SRR_ASSERT(static_cast<index_t>(ranks.size()) == static_cast<index_t>(rows) * cols);
  std::vector<int> map(ranks.begin(), ranks.end());  // the BLACS take a non-const map
  int context = handle;
  Cblacs_gridmap(&context, map.data(), rows, rows, cols);
  return context;
}

GridInfo gridinfo(int context) {
  GridInfo g;
  Cblacs_gridinfo(context, &g.rows, &g.cols, &g.row, &g.col);
  return g;
}

void gridexit(int context) { Cblacs_gridexit(context); }

void release() { Cblacs_exit(1); }

}  // namespace blacs

template <class T>
void pgemm(Op ta, Op tb, T alpha, const T* A, const Descriptor& da, const T* B, const Descriptor& db, T beta,
           T* C, const Descriptor& dc) {
  const std::string routine = name<T>("gemm");
  const index_t m = dc.rows(), n = dc.cols();
  const index_t am = ta == Op::N ? da.rows() : da.cols(), k = ta == Op::N ? da.cols() : da.rows();
  const index_t bk = tb == Op::N ? db.rows() : db.cols(), bn = tb == Op::N ? db.cols() : db.rows();
  // Argument numbers as in the p?gemm documentation (DESCA is 10, DESCB 14, DESCC 19; entry 2 = CTXT).
  if (da.context() != dc.context()) throw ScalapackError(routine, -1002);
  if (db.context() != dc.context()) throw ScalapackError(routine, -1402);
  if (am != m) throw ScalapackError(routine, -3);
  if (bn != n) throw ScalapackError(routine, -4);
  if (bk != k) throw ScalapackError(routine, -5);
  if (m == 0 || n == 0) return;
  const int im = to_fortran_int(m, "pgemm m"), in = to_fortran_int(n, "pgemm n"),
            ik = to_fortran_int(k, "pgemm k");
  P<T>::gemm(op_char(ta), op_char(tb), &im, &in, &ik, &alpha, A, &one, &one, da.data(), B, &one, &one, db.data(),
             &beta, C, &one, &one, dc.data());
}

namespace {
/// p?trmm / p?trsm: B ← op(A)·B or op(A)⁻¹·B, A triangular (upper, non-unit), both whole matrices.
template <class T, class F>
void triangular_left(F routine_fn, const char* what, Op ta, const T* A, const Descriptor& da, T* B,
                     const Descriptor& db) {
  const std::string routine = name<T>(what);
  // Argument numbers as in the p?trmm documentation (DESCA is 11, DESCB 15; entry 2 = CTXT).
  if (da.context() != db.context()) throw ScalapackError(routine, -1502);
  if (da.rows() != da.cols() || da.rows() != db.rows()) throw ScalapackError(routine, -5);
  const index_t m = db.rows(), n = db.cols();
  if (m == 0 || n == 0) return;
  const int im = to_fortran_int(m, "p?trmm m"), in = to_fortran_int(n, "p?trmm n");
  const T alpha = 1;
  routine_fn("L", "U", op_char(ta), "N", &im, &in, &alpha, A, &one, &one, da.data(), B, &one, &one, db.data());
}
}  // namespace

template <class T>
void ptrmm_upper(Op ta, const T* A, const Descriptor& da, T* B, const Descriptor& db) {
  triangular_left(P<T>::trmm, "trmm", ta, A, da, B, db);
}

template <class T>
void ptrsm_upper(Op ta, const T* A, const Descriptor& da, T* B, const Descriptor& db) {
  triangular_left(P<T>::trsm, "trsm", ta, A, da, B, db);
}

template <class T>
int ppotrf_upper(T* A, const Descriptor& da) {
  SRR_ASSERT(da.in_context());
  if (da.rows() != da.cols()) throw ScalapackError(name<T>("potrf"), -2);
  const int n = to_fortran_int(da.rows(), "ppotrf n");
  if (n == 0) return 0;
  int info = 0;
  P<T>::potrf("U", &n, A, &one, &one, da.data(), &info, 1);
  if (info < 0) throw ScalapackError(name<T>("potrf"), info);
  return info;
}

template <class T>
std::vector<T> pgeqrf(T* A, const Descriptor& da) {
  SRR_ASSERT(da.in_context());
  const int m = to_fortran_int(da.rows(), "pgeqrf m"), n = to_fortran_int(da.cols(), "pgeqrf n");
  const auto g = blacs::gridinfo(da.context());
  // tau has LOCc(min(m, n)) entries; LOCc(n) ≥ that.
  std::vector<T> tau(static_cast<std::size_t>(std::max<index_t>(1, numroc(n, da.col_block(), g.col, g.cols))));
  if (m == 0 || n == 0) return tau;
  int info = 0, lwork = -1;
  T query{};
  P<T>::geqrf(&m, &n, A, &one, &one, da.data(), tau.data(), &query, &lwork, &info);
  SRR_SCALAPACK_CHECK(name<T>("geqrf"), info);
  lwork = workspace_size(query);
  std::vector<T> work(static_cast<std::size_t>(lwork));
  P<T>::geqrf(&m, &n, A, &one, &one, da.data(), tau.data(), work.data(), &lwork, &info);
  SRR_SCALAPACK_CHECK(name<T>("geqrf"), info);
  return tau;
}

template <class T>
void porgqr(T* A, const Descriptor& da, const std::vector<T>& tau) {
  SRR_ASSERT(da.in_context());
  const int m = to_fortran_int(da.rows(), "porgqr m"), n = to_fortran_int(da.cols(), "porgqr n");
  if (m < n) throw ScalapackError(name<T>("orgqr"), -2);
  if (n == 0) return;
  int info = 0, lwork = -1;
  T query{};
  P<T>::orgqr(&m, &n, &n, A, &one, &one, da.data(), tau.data(), &query, &lwork, &info);
  SRR_SCALAPACK_CHECK(name<T>("orgqr"), info);
  lwork = workspace_size(query);
  std::vector<T> work(static_cast<std::size_t>(lwork));
  P<T>::orgqr(&m, &n, &n, A, &one, &one, da.data(), tau.data(), work.data(), &lwork, &info);
  SRR_SCALAPACK_CHECK(name<T>("orgqr"), info);
}

template <class T>
std::vector<T> psyevd(T* A, const Descriptor& da, T* Z, const Descriptor& dz) {
  SRR_ASSERT(da.in_context() && dz.in_context());
  const std::string routine = name<T>("syevd");
  if (da.rows() != da.cols()) throw ScalapackError(routine, -(700 + 3));
  const int n = to_fortran_int(da.rows(), "psyevd n");
  std::vector<T> w(static_cast<std::size_t>(n));
  if (n == 0) return w;
  int info = 0, lwork = -1, liwork = -1, iquery = 0;
  T query{};
  P<T>::syevd("V", "L", &n, A, &one, &one, da.data(), w.data(), Z, &one, &one, dz.data(), &query, &lwork, &iquery,
              &liwork, &info, 1, 1);
  SRR_SCALAPACK_CHECK(routine, info);
  lwork = workspace_size(query);
  liwork = std::max(1, iquery);
  std::vector<T> work(static_cast<std::size_t>(lwork));
  std::vector<int> iwork(static_cast<std::size_t>(liwork));
  P<T>::syevd("V", "L", &n, A, &one, &one, da.data(), w.data(), Z, &one, &one, dz.data(), work.data(), &lwork,
              iwork.data(), &liwork, &info, 1, 1);
  SRR_SCALAPACK_CHECK(routine, info);
  return w;
}

template <class T>
std::vector<T> pgesvd_values(T* A, const Descriptor& da) {
  SRR_ASSERT(da.in_context());
  const std::string routine = name<T>("gesvd");
  const int m = to_fortran_int(da.rows(), "pgesvd m"), n = to_fortran_int(da.cols(), "pgesvd n");
  std::vector<T> s(static_cast<std::size_t>(std::min(m, n)));
  if (s.empty()) return s;
  // U and VT are not referenced with 'N','N'; A's descriptor stands in for theirs.
  T dummy{};
  int info = 0, lwork = -1;
  T query{};
  P<T>::gesvd("N", "N", &m, &n, A, &one, &one, da.data(), s.data(), &dummy, &one, &one, da.data(), &dummy, &one,
              &one, da.data(), &query, &lwork, &info, 1, 1);
  SRR_SCALAPACK_CHECK(routine, info);
  lwork = workspace_size(query);
  std::vector<T> work(static_cast<std::size_t>(lwork));
  P<T>::gesvd("N", "N", &m, &n, A, &one, &one, da.data(), s.data(), &dummy, &one, &one, da.data(), &dummy, &one,
              &one, da.data(), work.data(), &lwork, &info, 1, 1);
  SRR_SCALAPACK_CHECK(routine, info);
  return s;
}

template <class T>
void pgemr2d(index_t m, index_t n, const T* A, index_t ia, index_t ja, const Descriptor& da, T* B, index_t ib,
             index_t jb, const Descriptor& db, int union_context) {
  const std::string routine = name<T>("gemr2d");
  // The redistribution does not validate its arguments; a block outside a matrix would corrupt memory.
  if (m < 0) throw ScalapackError(routine, -1);
  if (n < 0) throw ScalapackError(routine, -2);
  if (ia < 0 || ia + m > da.rows()) throw ScalapackError(routine, -4);
  if (ja < 0 || ja + n > da.cols()) throw ScalapackError(routine, -5);
  if (ib < 0 || ib + m > db.rows()) throw ScalapackError(routine, -8);
  if (jb < 0 || jb + n > db.cols()) throw ScalapackError(routine, -9);
  if (m == 0 || n == 0) return;
  const int im = to_fortran_int(m, "pgemr2d m"), in = to_fortran_int(n, "pgemr2d n");
  const int fia = to_fortran_int(ia + 1, "pgemr2d ia"), fja = to_fortran_int(ja + 1, "pgemr2d ja");
  const int fib = to_fortran_int(ib + 1, "pgemr2d ib"), fjb = to_fortran_int(jb + 1, "pgemr2d jb");
  // p?gemr2d reads A only; its prototype is non-const.
  P<T>::gemr2d(&im, &in, const_cast<T*>(A), &fia, &fja, da.data(), B, &fib, &fjb, db.data(), &union_context);
}

#define SRR_INSTANTIATE(T)                                                                                    \
  template void pgemm<T>(Op, Op, T, const T*, const Descriptor&, const T*, const Descriptor&, T, T*,         \
                         const Descriptor&);                                                                  \
  template std::vector<T> pgeqrf<T>(T*, const Descriptor&);                                                  \
  template void ptrmm_upper<T>(Op, const T*, const Descriptor&, T*, const Descriptor&);                       \
  template void ptrsm_upper<T>(Op, const T*, const Descriptor&, T*, const Descriptor&);                       \
  template int ppotrf_upper<T>(T*, const Descriptor&);                                                       \
  template void porgqr<T>(T*, const Descriptor&, const std::vector<T>&);                                     \
  template std::vector<T> psyevd<T>(T*, const Descriptor&, T*, const Descriptor&);                           \
  template std::vector<T> pgesvd_values<T>(T*, const Descriptor&);                                           \
  template void pgemr2d<T>(index_t, index_t, const T*, index_t, index_t, const Descriptor&, T*, index_t, index_t, \
                           const Descriptor&, int);

SRR_INSTANTIATE(float)
SRR_INSTANTIATE(double)

}  // namespace srr::la
