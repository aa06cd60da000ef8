// SPDX-License-Identifier: MIT
#pragma once
// Shared test helpers for qer/: deterministic matrices and independent float64 references.
#include <cmath>
#include <limits>

#include "../common/matrices.hpp"
#include "la/lapack.hpp"
#include "qer/synthetic.hpp"

namespace srr::qer::test {

using srr::test::gaussian;
using srr::test::rel_diff;

/// A random orthogonal matrix (Q factor of a Gaussian).
inline Matrix<double> random_orthogonal(index_t m, std::uint64_t seed) {
  return la::orthonormalize(gaussian(m, m, seed));
}

template <class T>
Matrix<T> product(const Matrix<T>& L, const Matrix<T>& R) {
  if (L.cols() == 0) return Matrix<T>(L.rows(), R.cols());
  return la::matmul(L, R);
}

constexpr double eps64 = std::numeric_limits<double>::epsilon();
constexpr double eps32 = std::numeric_limits<float>::epsilon();

}  // namespace srr::qer::test
