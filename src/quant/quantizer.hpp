// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Base quantizers 𝒬 of method.md §3 (MXINT) and a group-wise integer quantizer (INT-g).
///
/// Orientation: W is the paper's in×out matrix, column-major (see la/matrix.hpp), so one column is one
/// output row of the checkpoint and blocks/groups run down a column, i.e. along the input dimension —
/// exactly the block axis −1 of the reference code on W_t[out][in]. When `in` is not a multiple of the
/// block size, the last block of each column is zero-padded (the padding is never stored or returned).

#include <cstdint>
#include <string>
#include <vector>

#include "la/matrix.hpp"

namespace srr::quant {

using la::index_t;
using la::Matrix;

enum class Scheme { Mxint, IntGroup };

struct QuantSettings {
  Scheme scheme = Scheme::Mxint;
  int width = 3;   ///< bits per element, 2..8
  int block = 32;  ///< MXINT block size / INT-g group size, along the input dimension
};

/// Throws InputError naming the option when width or block is out of range.
void validate(const QuantSettings& s);

/// Storage cost in bits per weight: MXINT w + 8/B (one 8-bit shared exponent per block);
/// INT-g w + 40/g (a float32 scale and an 8-bit zero point per group).
double bits_per_weight(const QuantSettings& s);

std::string to_string(Scheme s);
Scheme scheme_from_string(const std::string& name);  ///< "mxint" | "int"; InputError otherwise

/// Encoded form, as written to the store. Codes are stored column by column (output row by output row),
/// `in` codes per column, no padding.
struct Encoded {
  QuantSettings settings;
  index_t in = 0, out = 0;
  std::vector<std::int8_t> codes;      ///< MXINT: signed mantissa in [-(2^(w-1)-1), 2^(w-1)-1]; INT: unsigned code q in [0, 2^w-1] minus 2^(w-1)
  std::vector<std::uint8_t> exponents; ///< MXINT: biased float32 exponent e* per block (blocks_per_col × out)
  std::vector<float> scales;           ///< INT-g: scale per group
  std::vector<std::uint8_t> zeros;     ///< INT-g: integer zero point per group, in [0, 2^w - 1]
  index_t blocks_per_column() const { return (in + settings.block - 1) / settings.block; }
};

/// Quantize–dequantize (the fast path). Computation is in float32 as in the reference code.
Matrix<float> quantize(const Matrix<float>& W, const QuantSettings& s);
/// Same for a double matrix: cast to float32, quantize, widen back (exact).
Matrix<double> quantize(const Matrix<double>& W, const QuantSettings& s);

/// The scalar reference implementation, written for clarity; the fast path must agree bit for bit.
Matrix<float> quantize_reference(const Matrix<float>& W, const QuantSettings& s);

Encoded encode(const Matrix<float>& W, const QuantSettings& s);
Matrix<float> decode(const Encoded& e);

}  // namespace srr::quant
