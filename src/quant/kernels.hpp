// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Block kernels shared by quantize(), encode() and decode() (internal to src/quant).
///
/// Every public entry point is a loop over (column, block) that calls one of these kernels, so the fast
/// quantize–dequantize path is literally decode_block(encode_block(x)): the encoded form cannot drift from
/// the values the rest of the pipeline sees. The scalar references live next to the kernels and share
/// nothing with them except the finiteness check.

#include <algorithm>
#include <cstdint>

#include "quant/quantizer.hpp"

namespace srr::quant::detail {

/// Throws InputError naming the first non-finite element (row, column), scanning column by column.
void require_finite(const Matrix<float>& W, const char* caller);

/// Calls f(j, b, x, n) for block b of column j, where x points at its first element and n ≤ block is the
/// number of stored (unpadded) elements.
template <class F>
void for_each_block(const Matrix<float>& W, int block, F&& f) {
  const index_t in = W.rows();
  const index_t per_col = (in + block - 1) / block;
  for (index_t j = 0; j < W.cols(); ++j)
    for (index_t b = 0; b < per_col; ++b) {
      const index_t i0 = b * block;
      f(j, b, W.col(j) + i0, std::min<index_t>(block, in - i0));
    }
}

// ---- MXINT (method.md §3) ----

/// Encodes n elements of one block into signed mantissas; returns the shared biased exponent e* (1..254).
/// The zero padding of a short block is implicit: zeros never raise e* above the 1 of an all-zero block.
int mxint_encode_block(const float* x, index_t n, int width, std::int8_t* codes);
/// x̂ = code · 2^(e* − 127 − (w − 2)); a single exact multiply (the result is always representable).
void mxint_decode_block(const std::int8_t* codes, index_t n, int exponent, int width, float* out);
/// Element-by-element transcription of method.md §3 (padding, flush, max exponent, RNE, clamp).
Matrix<float> mxint_reference(const Matrix<float>& W, int width, int block);

// ---- INT-g (asymmetric, group-wise; see int_group.cpp) ----

struct GroupParams {
  float scale = 1.0f;
  std::uint8_t zero = 0;
};

/// Scale and zero point of one group (n elements; zero padding does not change them).
GroupParams int_group_params(const float* x, index_t n, int width);
/// Codes q − 2^(w−1), q = clamp(round(x/scale) + zero, 0, 2^w − 1).
void int_encode_group(const float* x, index_t n, GroupParams p, int width, std::int8_t* codes);
/// x̂ = (q − zero) · scale.
void int_decode_group(const std::int8_t* codes, index_t n, GroupParams p, int width, float* out);
/// Element-by-element transcription of the INT-g definition.
Matrix<float> int_group_reference(const Matrix<float>& W, int width, int group);

/// Round half to even without a libm call, so loops using it vectorize. Exact RNE (under the default
/// rounding mode) for |v| < 2^22: adding 1.5·2^23 moves v into [2^23, 2^24), where the float spacing is 1.
inline float round_half_even(float v) {
  constexpr float shift = 0x1.8p23f;
  return (v + shift) - shift;
}

}  // namespace srr::quant::detail
