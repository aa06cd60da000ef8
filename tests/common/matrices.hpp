// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Matrices the linear-algebra tests share: deterministic Gaussian matrices every rank can rebuild, and
/// the relative Frobenius difference that fails the test on a shape mismatch instead of reading past an end.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "base/rng.hpp"
#include "la/lapack.hpp"
#include "la/matrix.hpp"

namespace srr::test {

/// m×n with independent standard normal entries from Rng(seed), column by column.
inline la::Matrix<double> gaussian(la::index_t m, la::index_t n, std::uint64_t seed) {
  Rng rng(seed);
  la::Matrix<double> A(m, n);
  for (auto& v : A.values()) v = rng.normal();
  return A;
}

/// ‖A − B‖_F / ‖B‖_F in double (‖A − B‖_F when B = 0); a shape mismatch fails the test and returns ∞.
template <class T>
double rel_diff(const la::Matrix<T>& A, const la::Matrix<T>& B) {
  EXPECT_EQ(A.rows(), B.rows());
  EXPECT_EQ(A.cols(), B.cols());
  if (A.rows() != B.rows() || A.cols() != B.cols()) return std::numeric_limits<double>::infinity();
  double d = 0;
  for (la::index_t i = 0; i < A.size(); ++i) d += std::pow(double(A.data()[i]) - double(B.data()[i]), 2);
  const double n = la::frobenius2(B);
  return n > 0 ? std::sqrt(d / n) : std::sqrt(d);
}

}  // namespace srr::test
