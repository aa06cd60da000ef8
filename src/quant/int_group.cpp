// SPDX-License-Identifier: MIT
/// @file
/// INT-g: asymmetric w-bit integer quantization in groups of g consecutive elements along the input
/// dimension (down a column of W), the group-wise baseline next to MXINT. All arithmetic is float32.
///
/// Per group, with L = 2^w − 1 levels:
///   lo = min(min x, 0), hi = max(max x, 0)      (0 is in the range, so it is represented exactly)
///   scale = (hi − lo) / L                        (scale = 1, zero = 0 when that is 0, i.e. all zeros)
///   zero  = clamp(round(−lo / scale), 0, L)      (stored as uint8)
///   q     = clamp(round(x / scale) + zero, 0, L) (stored as the int8 code q − 2^(w−1))
///   x̂     = (q − zero) · scale
/// round = round half to even. Every x in [lo, hi] lands within scale/2 of x̂. A short last group is
/// treated as zero padded, which changes nothing because 0 is already inside [lo, hi].
/// Groups whose range exceeds FLT_MAX/2 are rejected: beyond that x̂ could overflow to Inf.

#include <cfloat>
#include <cmath>

#include "quant/kernels.hpp"

namespace srr::quant::detail {

namespace {

constexpr float max_group_range = FLT_MAX / 2;

float levels(int width) { return static_cast<float>((1 << width) - 1); }
int code_offset(int width) { return 1 << (width - 1); }

}  // namespace

GroupParams int_group_params(const float* x, index_t n, int width) {
  float lo = 0.0f, hi = 0.0f;
  for (index_t i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  require(hi - lo <= max_group_range, "quantize: INT-g group range [", lo, ", ", hi,
          "] is too large for float32 (must be at most ", max_group_range, ")");
  const float scale = (hi - lo) / levels(width);
  if (scale == 0.0f) return {};
  return {scale, static_cast<std::uint8_t>(std::clamp(round_half_even(-lo / scale), 0.0f, levels(width)))};
}

void int_encode_group(const float* x, index_t n, GroupParams p, int width, std::int8_t* codes) {
  const float top = levels(width);
  const float zero = p.zero;
  const int offset = code_offset(width);
  for (index_t i = 0; i < n; ++i) {
    // |x/scale| beyond L saturates q either way; clamping first keeps round_half_even in its exact range.
    const float t = std::clamp(x[i] / p.scale, -top, top);
    const float q = std::clamp(round_half_even(t) + zero, 0.0f, top);
    codes[i] = static_cast<std::int8_t>(static_cast<int>(q) - offset);
  }
}

void int_decode_group(const std::int8_t* codes, index_t n, GroupParams p, int width, float* out) {
  const int shift = code_offset(width) - p.zero;  // q − zero = code + 2^(w−1) − zero
  for (index_t i = 0; i < n; ++i) out[i] = static_cast<float>(codes[i] + shift) * p.scale;
}

Matrix<float> int_group_reference(const Matrix<float>& W, int width, int group) {
  const float top = levels(width);
  Matrix<float> out(W.rows(), W.cols());
  for (index_t j = 0; j < W.cols(); ++j)
    for (index_t g0 = 0; g0 < W.rows(); g0 += group) {
      const index_t g1 = std::min<index_t>(g0 + group, W.rows());
      float lo = 0.0f, hi = 0.0f;
      for (index_t i = g0; i < g1; ++i) {
        lo = std::min(lo, W(i, j));
        hi = std::max(hi, W(i, j));
      }
      require(hi - lo <= max_group_range, "quantize: INT-g group range too large at column ", j);
      float scale = (hi - lo) / top;
      float zero = 0.0f;
      if (scale == 0.0f)
        scale = 1.0f;
      else
        zero = std::clamp(std::nearbyint(-lo / scale), 0.0f, top);
      for (index_t i = g0; i < g1; ++i) {
        const float q = std::clamp(std::nearbyint(W(i, j) / scale) + zero, 0.0f, top);
        out(i, j) = static_cast<float>(static_cast<int>(q) - static_cast<int>(zero)) * scale;
      }
    }
  return out;
}

}  // namespace srr::quant::detail
