// SPDX-License-Identifier: MIT
#pragma once
// Shared test helpers for qer/: deterministic matrices and independent float64 references.
#include <cmath>
#include <limits>

#include "base/rng.hpp"
#include "la/lapack.hpp"
#include "qer/synthetic.hpp"

namespace srr::qer::test {

inline Matrix<double> gaussian(index_t m, index_t n, std::uint64_t seed) {
  Rng rng(seed);
  Matrix<double> A(m, n);
  for (auto& v : A.values()) v = rng.normal();
  return A;
}

/// A random orthogonal matrix (Q factor of a Gaussian).
inline Matrix<double> random_orthogonal(index_t m, std::uint64_t seed) {
  return la::orthonormalize(gaussian(m, m, seed));
}

template <class T>
double rel_diff(const Matrix<T>& A, const Matrix<T>& B) {
  double d = 0;
  for (index_t i = 0; i < A.size(); ++i) d += std::pow(double(A.data()[i]) - double(B.data()[i]), 2);
  const double n = la::frobenius2(B);
  return n > 0 ? std::sqrt(d / n) : std::sqrt(d);
}

template <class T>
Matrix<T> product(const Matrix<T>& L, const Matrix<T>& R) {
  if (L.cols() == 0) return Matrix<T>(L.rows(), R.cols());
  return la::matmul(L, R);
}

constexpr double eps64 = std::numeric_limits<double>::epsilon();
constexpr double eps32 = std::numeric_limits<float>::epsilon();

}  // namespace srr::qer::test
