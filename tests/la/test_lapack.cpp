// SPDX-License-Identifier: MIT
// The typed LAPACK layer against independent float64 loops and mathematical identities.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "base/rng.hpp"
#include "la/lapack.hpp"

using namespace srr::la;

namespace {

template <class T>
Matrix<T> random_matrix(index_t m, index_t n, std::uint64_t seed) {
  srr::Rng rng(seed);
  Matrix<T> A(m, n);
  for (auto& v : A.values()) v = static_cast<T>(rng.normal());
  return A;
}

/// Naive triple loop in double: the independent reference for gemm.
template <class T>
Matrix<double> reference_product(const Matrix<T>& A, const Matrix<T>& B, bool ta, bool tb) {
  const index_t m = ta ? A.cols() : A.rows(), k = ta ? A.rows() : A.cols(), n = tb ? B.rows() : B.cols();
  Matrix<double> C(m, n);
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < n; ++j) {
      double s = 0;
      for (index_t p = 0; p < k; ++p)
        s += static_cast<double>(ta ? A(p, i) : A(i, p)) * static_cast<double>(tb ? B(j, p) : B(p, j));
      C(i, j) = s;
    }
  return C;
}

template <class T>
constexpr double eps = std::numeric_limits<T>::epsilon();

template <class T>
class LapackTyped : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(LapackTyped, Types);

}  // namespace

TYPED_TEST(LapackTyped, GemmMatchesTripleLoopForEveryTranspose) {
  using T = TypeParam;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      auto A = random_matrix<T>(ta ? 7 : 13, ta ? 13 : 7, 1);
      auto B = random_matrix<T>(tb ? 5 : 7, tb ? 7 : 5, 2);
      auto C = matmul(A, B, ta ? Op::T : Op::N, tb ? Op::T : Op::N);
      auto R = reference_product(A, B, ta, tb);
      ASSERT_EQ(C.rows(), 13);
      ASSERT_EQ(C.cols(), 5);
      for (index_t i = 0; i < 13; ++i)
        for (index_t j = 0; j < 5; ++j) EXPECT_NEAR(C(i, j), R(i, j), 50 * eps<T> * 7);
    }
}

TYPED_TEST(LapackTyped, GesddReconstructsAndIsOrthonormal) {
  using T = TypeParam;
  for (auto [m, n] : {std::pair<index_t, index_t>{30, 12}, {12, 30}}) {
    auto A = random_matrix<T>(m, n, 3);
    auto svd = gesdd(A);
    const index_t k = std::min(m, n);
    ASSERT_EQ(static_cast<index_t>(svd.s.size()), k);
    for (index_t i = 1; i < k; ++i) EXPECT_GE(svd.s[i - 1], svd.s[i]);
    Matrix<T> US = svd.U;
    for (index_t j = 0; j < k; ++j)
      for (index_t i = 0; i < m; ++i) US(i, j) *= svd.s[j];
    auto R = matmul(US, svd.Vt);
    double diff = 0;
    for (index_t i = 0; i < A.size(); ++i) diff += std::pow(double(R.data()[i]) - double(A.data()[i]), 2);
    EXPECT_LT(std::sqrt(diff / frobenius2(A)), 100 * eps<T>);
    auto UtU = matmul(svd.U, svd.U, Op::T, Op::N);
    for (index_t i = 0; i < k; ++i)
      for (index_t j = 0; j < k; ++j) EXPECT_NEAR(UtU(i, j), i == j ? 1.0 : 0.0, 100 * eps<T>);
    auto values = gesdd(A, false);
    for (index_t i = 0; i < k; ++i) EXPECT_NEAR(values.s[i], svd.s[i], 100 * eps<T> * svd.s[0]);
  }
}

TYPED_TEST(LapackTyped, SyevdDiagonalizesSymmetricMatrix) {
  using T = TypeParam;
  auto X = random_matrix<T>(20, 9, 4);
  Matrix<T> A(9, 9);
  syrk(Uplo::Lower, Op::T, T(1), X, T(0), A);
  for (index_t j = 0; j < 9; ++j)
    for (index_t i = 0; i < j; ++i) A(i, j) = A(j, i);
  auto eig = syevd(A);
  for (index_t i = 1; i < 9; ++i) EXPECT_LE(eig.w[i - 1], eig.w[i]);
  EXPECT_GT(eig.w[0], 0);
  // A·z = w·z for every pair.
  auto AZ = matmul(A, eig.Z);
  for (index_t j = 0; j < 9; ++j)
    for (index_t i = 0; i < 9; ++i) EXPECT_NEAR(AZ(i, j), eig.w[j] * eig.Z(i, j), 200 * eps<T> * eig.w[8]);
}

TYPED_TEST(LapackTyped, OrthonormalizeSpansTheColumns) {
  using T = TypeParam;
  auto A = random_matrix<T>(25, 6, 5);
  auto Q = orthonormalize(A);
  auto QtQ = matmul(Q, Q, Op::T, Op::N);
  for (index_t i = 0; i < 6; ++i)
    for (index_t j = 0; j < 6; ++j) EXPECT_NEAR(QtQ(i, j), i == j ? 1.0 : 0.0, 100 * eps<T>);
  // A = Q·(QᵀA): the projection leaves A unchanged.
  auto P = matmul(Q, matmul(Q, A, Op::T, Op::N));
  for (index_t i = 0; i < A.size(); ++i) EXPECT_NEAR(P.data()[i], A.data()[i], 200 * eps<T>);
}

TYPED_TEST(LapackTyped, CholeskyTrsmTrmmRoundTrip) {
  using T = TypeParam;
  auto X = random_matrix<T>(30, 8, 6);
  Matrix<T> A(8, 8);
  syrk(Uplo::Upper, Op::T, T(1), X, T(0), A);
  Matrix<T> U = A;
  potrf(Uplo::Upper, U);
  for (index_t j = 0; j < 8; ++j)
    for (index_t i = j + 1; i < 8; ++i) U(i, j) = 0;
  auto UtU = matmul(U, U, Op::T, Op::N);
  for (index_t j = 0; j < 8; ++j)
    for (index_t i = 0; i <= j; ++i) EXPECT_NEAR(UtU(i, j), A(i, j), 200 * eps<T> * A(j, j));
  auto B = random_matrix<T>(8, 3, 7);
  Matrix<T> C = B;
  trmm(Side::Left, Uplo::Upper, Op::N, Diag::NonUnit, T(1), U, C);
  trsm(Side::Left, Uplo::Upper, Op::N, Diag::NonUnit, T(1), U, C);
  for (index_t i = 0; i < B.size(); ++i) EXPECT_NEAR(C.data()[i], B.data()[i], 1e3 * eps<T>);
}

TYPED_TEST(LapackTyped, GesvSolves) {
  using T = TypeParam;
  auto A = random_matrix<T>(10, 10, 8);
  auto X = random_matrix<T>(10, 2, 9);
  auto B = matmul(A, X);
  gesv(A, B);
  for (index_t i = 0; i < X.size(); ++i) EXPECT_NEAR(B.data()[i], X.data()[i], 1e4 * eps<T>);
}

TEST(Lapack, ErrorsNameTheRoutine) {
  Matrix<double> A(3, 3, 0.0);
  A(0, 0) = -1;  // not positive definite
  try {
    potrf(Uplo::Lower, A);
    FAIL() << "expected LapackError";
  } catch (const LapackError& e) {
    EXPECT_EQ(e.routine(), "dpotrf");
    EXPECT_EQ(e.info(), 1);
    EXPECT_NE(std::string(e.what()).find("dpotrf"), std::string::npos);
  }
  Matrix<double> S(2, 2, 0.0);
  Matrix<double> B(2, 1, 1.0);
  EXPECT_THROW(gesv(S, B), LapackError);
}

TEST(Lapack, NarrowingIsChecked) {
  EXPECT_THROW(to_fortran_int(index_t(1) << 40, "n"), srr::Error);
  EXPECT_EQ(to_fortran_int(42, "n"), 42);
}
