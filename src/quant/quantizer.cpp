// SPDX-License-Identifier: MIT
/// @file
/// Settings, dispatch and the encoded form. The numerical kernels are in mxint.cpp and int_group.cpp.

#include <cmath>

#include "quant/kernels.hpp"

namespace srr::quant {

namespace {

constexpr int min_width = 2;
constexpr int max_width = 8;
constexpr double mxint_overhead_bits = 8;  ///< one biased exponent byte per block
constexpr double int_overhead_bits = 40;   ///< float32 scale + uint8 zero point per group
constexpr int min_exponent = 1, max_exponent = 254;  ///< biased e* of a finite block (0 and 255 never occur)

/// One place for the per-block bookkeeping of every entry point: the index of block b of column j in the
/// exponents/scales/zeros arrays, and the offset of its first code.
struct BlockIndex {
  index_t per_col, in, block;
  std::size_t meta(index_t j, index_t b) const { return static_cast<std::size_t>(j * per_col + b); }
  std::size_t code(index_t j, index_t b) const { return static_cast<std::size_t>(j * in + b * block); }
};

BlockIndex block_index(const Encoded& e) { return {e.blocks_per_column(), e.in, e.settings.block}; }

void check_mxint_metadata(const Encoded& e, std::size_t blocks) {
  require(e.exponents.size() == blocks, "decode: expected ", blocks, " exponents, got ", e.exponents.size());
  for (std::uint8_t x : e.exponents)
    require(x >= min_exponent && x <= max_exponent, "decode: MXINT exponent ", int(x), " out of ", min_exponent,
            "..", max_exponent);
  const int top = (1 << (e.settings.width - 1)) - 1;
  for (std::int8_t c : e.codes) require(c >= -top && c <= top, "decode: MXINT code ", int(c), " out of range");
}

void check_int_metadata(const Encoded& e, std::size_t blocks) {
  require(e.scales.size() == blocks && e.zeros.size() == blocks, "decode: expected ", blocks,
          " scales and zero points, got ", e.scales.size(), " and ", e.zeros.size());
  for (float s : e.scales) require(std::isfinite(s) && s > 0.0f, "decode: INT-g scale ", s, " is not positive");
  const int levels = 1 << e.settings.width, half = levels / 2;
  for (std::uint8_t z : e.zeros) require(z < levels, "decode: INT-g zero point ", int(z), " out of range");
  for (std::int8_t c : e.codes) require(c >= -half && c < half, "decode: INT-g code ", int(c), " out of range");
}

/// An Encoded usually comes from a store file, so every inconsistency is the user's (InputError).
void check_encoded(const Encoded& e) {
  validate(e.settings);
  require(e.in >= 0 && e.out >= 0, "decode: negative shape ", e.in, "x", e.out);
  const auto codes = static_cast<std::size_t>(e.in * e.out);
  require(e.codes.size() == codes, "decode: expected ", codes, " codes, got ", e.codes.size());
  const auto blocks = static_cast<std::size_t>(e.blocks_per_column() * e.out);
  if (e.settings.scheme == Scheme::Mxint)
    check_mxint_metadata(e, blocks);
  else
    check_int_metadata(e, blocks);
}

}  // namespace

void validate(const QuantSettings& s) {
  require(s.width >= min_width && s.width <= max_width, "--bits must be in ", min_width, "..", max_width,
          ", got ", s.width);
  require(s.block > 0, "--block must be positive, got ", s.block);
}

double bits_per_weight(const QuantSettings& s) {
  validate(s);
  const double overhead = s.scheme == Scheme::Mxint ? mxint_overhead_bits : int_overhead_bits;
  return s.width + overhead / s.block;
}

std::string to_string(Scheme s) { return s == Scheme::Mxint ? "mxint" : "int"; }

Scheme scheme_from_string(const std::string& name) {
  if (name == "mxint") return Scheme::Mxint;
  if (name == "int") return Scheme::IntGroup;
  throw InputError("unknown quantizer scheme '" + name + "' (expected mxint or int)");
}

Encoded encode(const Matrix<float>& W, const QuantSettings& s) {
  validate(s);
  detail::require_finite(W, "encode");
  Encoded e{s, W.rows(), W.cols(), std::vector<std::int8_t>(static_cast<std::size_t>(W.size())), {}, {}, {}};
  const BlockIndex at = block_index(e);
  const auto n_blocks = static_cast<std::size_t>(e.blocks_per_column() * e.out);
  if (s.scheme == Scheme::Mxint) {
    e.exponents.resize(n_blocks);
    detail::for_each_block(W, s.block, [&](index_t j, index_t b, const float* x, index_t n) {
      e.exponents[at.meta(j, b)] =
          static_cast<std::uint8_t>(detail::mxint_encode_block(x, n, s.width, &e.codes[at.code(j, b)]));
    });
  } else {
    e.scales.resize(n_blocks);
    e.zeros.resize(n_blocks);
    detail::for_each_block(W, s.block, [&](index_t j, index_t b, const float* x, index_t n) {
      const detail::GroupParams p = detail::int_group_params(x, n, s.width);
      detail::int_encode_group(x, n, p, s.width, &e.codes[at.code(j, b)]);
      e.scales[at.meta(j, b)] = p.scale;
      e.zeros[at.meta(j, b)] = p.zero;
    });
  }
  return e;
}

Matrix<float> decode(const Encoded& e) {
  check_encoded(e);
  Matrix<float> out(e.in, e.out);
  const BlockIndex at = block_index(e);
  const int w = e.settings.width;
  detail::for_each_block(out, e.settings.block, [&](index_t j, index_t b, const float*, index_t n) {
    float* dst = out.col(j) + b * e.settings.block;
    const std::int8_t* codes = &e.codes[at.code(j, b)];
    if (e.settings.scheme == Scheme::Mxint)
      detail::mxint_decode_block(codes, n, e.exponents[at.meta(j, b)], w, dst);
    else
      detail::int_decode_group(codes, n, {e.scales[at.meta(j, b)], e.zeros[at.meta(j, b)]}, w, dst);
  });
  return out;
}

Matrix<float> quantize(const Matrix<float>& W, const QuantSettings& s) {
  validate(s);
  detail::require_finite(W, "quantize");
  Matrix<float> out(W.rows(), W.cols());
  // Codes of one block at a time, reused; never larger than a column (the block size is user input).
  std::vector<std::int8_t> codes(static_cast<std::size_t>(std::min<index_t>(s.block, W.rows())));
  const int w = s.width;
  detail::for_each_block(W, s.block, [&](index_t j, index_t b, const float* x, index_t n) {
    float* dst = out.col(j) + b * s.block;
    if (s.scheme == Scheme::Mxint) {
      detail::mxint_decode_block(codes.data(), n, detail::mxint_encode_block(x, n, w, codes.data()), w, dst);
    } else {
      const detail::GroupParams p = detail::int_group_params(x, n, w);
      detail::int_encode_group(x, n, p, w, codes.data());
      detail::int_decode_group(codes.data(), n, p, w, dst);
    }
  });
  return out;
}

Matrix<double> quantize(const Matrix<double>& W, const QuantSettings& s) {
  return quantize(W.cast<float>(), s).cast<double>();
}

Matrix<float> quantize_reference(const Matrix<float>& W, const QuantSettings& s) {
  validate(s);
  detail::require_finite(W, "quantize");
  return s.scheme == Scheme::Mxint ? detail::mxint_reference(W, s.width, s.block)
                                   : detail::int_group_reference(W, s.width, s.block);
}

namespace detail {

void require_finite(const Matrix<float>& W, const char* caller) {
  for (index_t j = 0; j < W.cols(); ++j)
    for (index_t i = 0; i < W.rows(); ++i)
      require(std::isfinite(W(i, j)), caller, ": non-finite value at row ", i, ", column ", j);
}

}  // namespace detail

}  // namespace srr::quant
