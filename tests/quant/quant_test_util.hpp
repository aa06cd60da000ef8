// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Deterministic test matrices and bit-exact comparisons shared by the quantizer tests.

#include <gtest/gtest.h>

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/rng.hpp"
#include "quant/quantizer.hpp"

namespace srr::quant::test {

/// A single column (in×1) holding the given values: one block or group of hand-built data.
inline Matrix<float> column(const std::vector<float>& v) {
  Matrix<float> m(static_cast<index_t>(v.size()), 1);
  std::copy(v.begin(), v.end(), m.data());
  return m;
}

/// Smooth data whose magnitude changes by powers of two from column to column and block to block, so that
/// blocks see many different shared exponents: (0.1 + 2 cos(0.37 k)) · 2^(((j + i/16) mod 11) − 5).
inline Matrix<float> wave_matrix(index_t in, index_t out) {
  Matrix<float> W(in, out);
  for (index_t j = 0; j < out; ++j)
    for (index_t i = 0; i < in; ++i) {
      const double k = static_cast<double>(i + j * in);
      W(i, j) = static_cast<float>((0.1 + 2.0 * std::cos(0.37 * k)) * std::ldexp(1.0, int((j + i / 16) % 11) - 5));
    }
  return W;
}

/// Gaussian data, the shape of real weights.
inline Matrix<float> normal_matrix(index_t in, index_t out, std::uint64_t seed) {
  Rng rng(seed);
  Matrix<float> W(in, out);
  for (auto& v : W.values()) v = static_cast<float>(0.02 * rng.normal());
  return W;
}

/// Multiples of 2^−(w−1) in (−2, 2): in every block with s = 1 (some |x| ≥ 1) the odd multiples are exact
/// rounding ties of the w-bit MXINT grid, the even ones are grid points.
inline Matrix<float> tie_matrix(index_t in, index_t out, int width, std::uint64_t seed) {
  Rng rng(seed);
  const double half_steps = std::ldexp(1.0, width - 1);  // ties sit at odd multiples of 1/2^(w−1)
  Matrix<float> W(in, out);
  for (auto& v : W.values()) {
    const double k = std::floor(rng.uniform() * 2.0 * half_steps);  // |x| in [0, 2)
    v = static_cast<float>((rng.uniform() < 0.5 ? -k : k) / half_steps);
  }
  return W;
}

/// Extreme magnitudes: near FLT_MAX, near FLT_MIN, subnormals, exact zeros and whole zero blocks.
inline Matrix<float> extreme_matrix(index_t in, index_t out, std::uint64_t seed) {
  Rng rng(seed);
  Matrix<float> W(in, out);
  for (index_t j = 0; j < out; ++j)
    for (index_t i = 0; i < in; ++i) {
      const double u = rng.uniform() * 2.0 - 1.0;
      switch ((i / 8 + j) % 6) {
        case 0: W(i, j) = static_cast<float>(u * 3.0e38); break;
        case 1: W(i, j) = static_cast<float>(u * 4.0 * FLT_MIN); break;
        case 2: W(i, j) = static_cast<float>(u * FLT_MIN); break;  // mostly subnormal
        case 3: W(i, j) = 0.0f; break;
        case 4: W(i, j) = static_cast<float>(u * std::ldexp(1.0, int(rng.next() % 200) - 100)); break;
        default: W(i, j) = static_cast<float>(u); break;
      }
    }
  return W;
}

/// Biased float32 exponent field (bits 23..30), computed independently of the library's bit tricks.
inline int biased_exponent(float x) {
  if (x == 0.0f || !std::isnormal(x)) return 0;
  int e = 0;
  std::frexp(x, &e);  // x = f·2^e, f in [0.5, 1)
  return e - 1 + 127;
}

/// Passes when both matrices have the same shape and identical bit patterns; names the first mismatch.
inline ::testing::AssertionResult bitwise_equal(const Matrix<float>& A, const Matrix<float>& B) {
  if (A.rows() != B.rows() || A.cols() != B.cols())
    return ::testing::AssertionFailure() << "shape " << A.rows() << "x" << A.cols() << " vs " << B.rows() << "x"
                                         << B.cols();
  for (index_t j = 0; j < A.cols(); ++j)
    for (index_t i = 0; i < A.rows(); ++i)
      if (std::bit_cast<std::uint32_t>(A(i, j)) != std::bit_cast<std::uint32_t>(B(i, j)))
        return ::testing::AssertionFailure() << "at (" << i << ", " << j << "): " << A(i, j) << " vs " << B(i, j);
  return ::testing::AssertionSuccess();
}

/// Passes when f throws srr::InputError whose message contains every given fragment.
inline ::testing::AssertionResult throws_input_error(const std::function<void()>& f,
                                                     const std::vector<std::string>& fragments) {
  try {
    f();
  } catch (const InputError& e) {
    const std::string what = e.what();
    for (const auto& frag : fragments)
      if (what.find(frag) == std::string::npos)
        return ::testing::AssertionFailure() << "message '" << what << "' lacks '" << frag << "'";
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "wrong exception type: " << e.what();
  }
  return ::testing::AssertionFailure() << "nothing thrown";
}

}  // namespace srr::quant::test
