// SPDX-License-Identifier: MIT
/// @file
/// Emulated MXINT, method.md §3: blocks of B elements along the input dimension share a power-of-two scale
/// s = 2^(e* − 127), e* the largest biased float32 exponent field in the block (1 for an all-zero block);
/// each element keeps a sign and a mantissa m = clamp(round_half_even(|x|/s · 2^(w−2)), 0, 2^(w−1) − 1).
/// All arithmetic is float32; |x| below FLT_MIN is flushed to zero first.
///
/// Two details that the spec leaves implicit, fixed here so that every path agrees bit for bit:
///  * the dequantized value is (signed m) / 2^(w−2) · s, evaluated so that it is exact: m·s alone would
///    overflow for e* = 254, while the exact product m·2^(e*−127−(w−2)) is always a float (≥ 2^−132);
///  * a value whose mantissa rounds to 0 dequantizes to +0, whatever its sign, because a signed integer
///    code cannot carry the sign of zero (decode(encode(W)) must equal quantize(W)).

#include <bit>
#include <cfloat>
#include <cmath>

#include "quant/kernels.hpp"

namespace srr::quant::detail {

namespace {

constexpr std::uint32_t abs_mask = 0x7fffffffu;
constexpr std::uint32_t min_normal_bits = 0x00800000u;  ///< bit pattern of FLT_MIN
constexpr int exponent_shift = 23;
constexpr int max_finite_exponent = 254;

std::uint32_t abs_bits(float x) { return std::bit_cast<std::uint32_t>(x) & abs_mask; }

float mantissa_steps(int width) { return static_cast<float>(1 << (width - 2)); }
float top_mantissa(int width) { return static_cast<float>((1 << (width - 1)) - 1); }

}  // namespace

int mxint_encode_block(const float* x, index_t n, int width, std::int8_t* codes) {
  // The exponent field is monotone in the magnitude bits, so the max of |x|'s bits carries e*. Subnormals
  // have field 0, exactly like the zeros they are flushed to.
  std::uint32_t max_bits = 0;
  for (index_t i = 0; i < n; ++i) max_bits = std::max(max_bits, abs_bits(x[i]));
  const int exponent = std::max(static_cast<int>(max_bits >> exponent_shift), 1);
  SRR_ASSERT(exponent <= max_finite_exponent);  // callers reject Inf/NaN

  // 2^(w−2)/s itself overflows float when e* < w − 2, so it is applied as two exact power-of-two factors.
  // |x|·(1/s) only rounds when it underflows, and then |x|/s · 2^(w−2) < 2^−120 rounds to 0 either way.
  const float inv_scale = std::ldexp(1.0f, 127 - exponent);
  const float steps = mantissa_steps(width);
  const float top = top_mantissa(width);
  for (index_t i = 0; i < n; ++i) {
    const std::uint32_t bits = abs_bits(x[i]);
    const float magnitude = bits < min_normal_bits ? 0.0f : std::bit_cast<float>(bits);
    // Clamping before rounding is equivalent (top is an integer) and keeps round_half_even in range.
    const float m = round_half_even(std::min(magnitude * inv_scale * steps, top));
    const auto code = static_cast<std::int32_t>(m);
    codes[i] = static_cast<std::int8_t>(x[i] < 0.0f ? -code : code);
  }
  return exponent;
}

void mxint_decode_block(const std::int8_t* codes, index_t n, int exponent, int width, float* out) {
  const float step = std::ldexp(1.0f, exponent - 127 - (width - 2));
  for (index_t i = 0; i < n; ++i) out[i] = static_cast<float>(codes[i]) * step;
}

Matrix<float> mxint_reference(const Matrix<float>& W, int width, int block) {
  const index_t in = W.rows();
  const index_t padded = (in + block - 1) / block * block;
  const float steps = std::ldexp(1.0f, width - 2);
  const float top = std::ldexp(1.0f, width - 1) - 1.0f;
  Matrix<float> out(in, W.cols());
  std::vector<float> column(static_cast<std::size_t>(padded));
  for (index_t j = 0; j < W.cols(); ++j) {
    // Step 2: append zeros to a whole number of blocks.
    std::fill(column.begin(), column.end(), 0.0f);
    for (index_t i = 0; i < in; ++i) column[static_cast<std::size_t>(i)] = W(i, j);
    for (index_t b0 = 0; b0 < padded; b0 += block) {
      // Steps 4–5: flush, biased exponent fields, their max; an all-zero block uses 1.
      int shared = 0;
      for (index_t i = b0; i < b0 + block; ++i) {
        const float a = std::fabs(column[static_cast<std::size_t>(i)]);
        const int field = a < FLT_MIN ? 0 : std::ilogb(a) + 127;
        shared = std::max(shared, field);
      }
      if (shared == 0) shared = 1;
      SRR_ASSERT(shared <= max_finite_exponent);
      const float s = std::ldexp(1.0f, shared - 127);
      // Steps 6–7 for the stored elements only (the padding is cropped).
      for (index_t i = b0; i < std::min(b0 + block, in); ++i) {
        const float x = column[static_cast<std::size_t>(i)];
        const float a = std::fabs(x) < FLT_MIN ? 0.0f : std::fabs(x);
        const float m = std::clamp(std::nearbyint(a / s * steps), 0.0f, top);
        const int signed_m = x < 0.0f ? -static_cast<int>(m) : static_cast<int>(m);
        out(i, j) = static_cast<float>(signed_m) / steps * s;
      }
    }
  }
  return out;
}

}  // namespace srr::quant::detail
