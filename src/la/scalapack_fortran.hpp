// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The BLACS, PBLAS and ScaLAPACK prototypes. Private to la/: include only from la/scalapack.cpp.
///
/// Debian ships no headers for these libraries (toolchain.md P2), so the prototypes are ours. Conventions:
/// - BLACS C entry points have no trailing underscore and take values (`Cblacs_gridinit`).
/// - PBLAS (`p?gemm_`) and the redistribution routines (`p?gemr2d_`) are written in C: pointers only, no
///   hidden string lengths.
/// - ScaLAPACK drivers are Fortran: pointers only, and every CHARACTER argument has a hidden `size_t`
///   length appended at the end (gfortran ≥ 8), which we pass explicitly as the standards-correct choice.
/// - Debian's ScaLAPACK is LP64: every integer, descriptor entry and context is a 32-bit `int` (P3).

#include <mpi.h>

#include <cstddef>

extern "C" {
using fstrlen = std::size_t;

// ---- BLACS ----
void Cblacs_pinfo(int* mypnum, int* nprocs);
void Cblacs_gridinit(int* context, const char* order, int nprow, int npcol);
void Cblacs_gridmap(int* context, int* usermap, int ldumap, int nprow, int npcol);
void Cblacs_gridinfo(int context, int* nprow, int* npcol, int* myrow, int* mycol);
void Cblacs_gridexit(int context);
void Cblacs_exit(int not_done);
int Csys2blacs_handle(MPI_Comm comm);
void Cfree_blacs_system_handle(int handle);

// ---- ScaLAPACK tools ----
int numroc_(const int* n, const int* nb, const int* iproc, const int* isrcproc, const int* nprocs);
void descinit_(int* desc, const int* m, const int* n, const int* mb, const int* nb, const int* irsrc,
               const int* icsrc, const int* ictxt, const int* lld, int* info);

// ---- PBLAS (C) ----
void psgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
             const float* alpha, const float* a, const int* ia, const int* ja, const int* desca, const float* b,
             const int* ib, const int* jb, const int* descb, const float* beta, float* c, const int* ic,
             const int* jc, const int* descc);
void pdgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
             const double* alpha, const double* a, const int* ia, const int* ja, const int* desca,
             const double* b, const int* ib, const int* jb, const int* descb, const double* beta, double* c,
             const int* ic, const int* jc, const int* descc);
void pstrmm_(const char* side, const char* uplo, const char* transa, const char* diag, const int* m, const int* n,
             const float* alpha, const float* a, const int* ia, const int* ja, const int* desca, float* b,
             const int* ib, const int* jb, const int* descb);
void pdtrmm_(const char* side, const char* uplo, const char* transa, const char* diag, const int* m, const int* n,
             const double* alpha, const double* a, const int* ia, const int* ja, const int* desca, double* b,
             const int* ib, const int* jb, const int* descb);
void pstrsm_(const char* side, const char* uplo, const char* transa, const char* diag, const int* m, const int* n,
             const float* alpha, const float* a, const int* ia, const int* ja, const int* desca, float* b,
             const int* ib, const int* jb, const int* descb);
void pdtrsm_(const char* side, const char* uplo, const char* transa, const char* diag, const int* m, const int* n,
             const double* alpha, const double* a, const int* ia, const int* ja, const int* desca, double* b,
             const int* ib, const int* jb, const int* descb);

// ---- redistribution (C). The source is read only, but the library declares it non-const. ----
void psgemr2d_(const int* m, const int* n, float* a, const int* ia, const int* ja, const int* desca, float* b,
               const int* ib, const int* jb, const int* descb, const int* ictxt);
void pdgemr2d_(const int* m, const int* n, double* a, const int* ia, const int* ja, const int* desca, double* b,
               const int* ib, const int* jb, const int* descb, const int* ictxt);

// ---- ScaLAPACK drivers (Fortran) ----
void psgeqrf_(const int* m, const int* n, float* a, const int* ia, const int* ja, const int* desca, float* tau,
              float* work, const int* lwork, int* info);
void pdgeqrf_(const int* m, const int* n, double* a, const int* ia, const int* ja, const int* desca,
              double* tau, double* work, const int* lwork, int* info);
void psorgqr_(const int* m, const int* n, const int* k, float* a, const int* ia, const int* ja, const int* desca,
              const float* tau, float* work, const int* lwork, int* info);
void pdorgqr_(const int* m, const int* n, const int* k, double* a, const int* ia, const int* ja,
              const int* desca, const double* tau, double* work, const int* lwork, int* info);
void pspotrf_(const char* uplo, const int* n, float* a, const int* ia, const int* ja, const int* desca, int* info,
              fstrlen);
void pdpotrf_(const char* uplo, const int* n, double* a, const int* ia, const int* ja, const int* desca, int* info,
              fstrlen);
void pssyevd_(const char* jobz, const char* uplo, const int* n, float* a, const int* ia, const int* ja,
              const int* desca, float* w, float* z, const int* iz, const int* jz, const int* descz, float* work,
              const int* lwork, int* iwork, const int* liwork, int* info, fstrlen, fstrlen);
void pdsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* ia, const int* ja,
              const int* desca, double* w, double* z, const int* iz, const int* jz, const int* descz,
              double* work, const int* lwork, int* iwork, const int* liwork, int* info, fstrlen, fstrlen);
void psgesvd_(const char* jobu, const char* jobvt, const int* m, const int* n, float* a, const int* ia,
              const int* ja, const int* desca, float* s, float* u, const int* iu, const int* ju, const int* descu,
              float* vt, const int* ivt, const int* jvt, const int* descvt, float* work, const int* lwork,
              int* info, fstrlen, fstrlen);
void pdgesvd_(const char* jobu, const char* jobvt, const int* m, const int* n, double* a, const int* ia,
              const int* ja, const int* desca, double* s, double* u, const int* iu, const int* ju,
              const int* descu, double* vt, const int* ivt, const int* jvt, const int* descvt, double* work,
              const int* lwork, int* info, fstrlen, fstrlen);
}
