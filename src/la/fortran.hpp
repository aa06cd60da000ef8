// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The Fortran BLAS/LAPACK prototypes. Private to la/: include only from la/*.cpp.
/// Character arguments carry gfortran's hidden length arguments (size_t) at the end.

#include <cstddef>

extern "C" {
using fstrlen = std::size_t;

void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*, const float*, const int*,
            const float*, const int*, const float*, float*, const int*, fstrlen, fstrlen);
void dgemm_(const char*, const char*, const int*, const int*, const int*, const double*, const double*,
            const int*, const double*, const int*, const double*, double*, const int*, fstrlen, fstrlen);
void ssyrk_(const char*, const char*, const int*, const int*, const float*, const float*, const int*,
            const float*, float*, const int*, fstrlen, fstrlen);
void dsyrk_(const char*, const char*, const int*, const int*, const double*, const double*, const int*,
            const double*, double*, const int*, fstrlen, fstrlen);
void strsm_(const char*, const char*, const char*, const char*, const int*, const int*, const float*,
            const float*, const int*, float*, const int*, fstrlen, fstrlen, fstrlen, fstrlen);
void dtrsm_(const char*, const char*, const char*, const char*, const int*, const int*, const double*,
            const double*, const int*, double*, const int*, fstrlen, fstrlen, fstrlen, fstrlen);
void strmm_(const char*, const char*, const char*, const char*, const int*, const int*, const float*,
            const float*, const int*, float*, const int*, fstrlen, fstrlen, fstrlen, fstrlen);
void dtrmm_(const char*, const char*, const char*, const char*, const int*, const int*, const double*,
            const double*, const int*, double*, const int*, fstrlen, fstrlen, fstrlen, fstrlen);

void sgesdd_(const char*, const int*, const int*, float*, const int*, float*, float*, const int*, float*,
             const int*, float*, const int*, int*, int*, fstrlen);
void dgesdd_(const char*, const int*, const int*, double*, const int*, double*, double*, const int*, double*,
             const int*, double*, const int*, int*, int*, fstrlen);
void ssyevd_(const char*, const char*, const int*, float*, const int*, float*, float*, const int*, int*,
             const int*, int*, fstrlen, fstrlen);
void dsyevd_(const char*, const char*, const int*, double*, const int*, double*, double*, const int*, int*,
             const int*, int*, fstrlen, fstrlen);
void sgeqrf_(const int*, const int*, float*, const int*, float*, float*, const int*, int*);
void dgeqrf_(const int*, const int*, double*, const int*, double*, double*, const int*, int*);
void sorgqr_(const int*, const int*, const int*, float*, const int*, const float*, float*, const int*, int*);
void dorgqr_(const int*, const int*, const int*, double*, const int*, const double*, double*, const int*, int*);
void spotrf_(const char*, const int*, float*, const int*, int*, fstrlen);
void dpotrf_(const char*, const int*, double*, const int*, int*, fstrlen);
void spocon_(const char*, const int*, const float*, const int*, const float*, float*, float*, int*, int*, fstrlen);
void dpocon_(const char*, const int*, const double*, const int*, const double*, double*, double*, int*, int*,
             fstrlen);
void sgesv_(const int*, const int*, float*, const int*, int*, float*, const int*, int*);
void dgesv_(const int*, const int*, double*, const int*, int*, double*, const int*, int*);
}
