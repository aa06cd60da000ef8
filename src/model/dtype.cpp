// SPDX-License-Identifier: MIT
#include "model/dtype.hpp"

#include <bit>
#include <cstring>

#include "base/error.hpp"

static_assert(std::endian::native == std::endian::little, "the checkpoint readers assume a little-endian host");

namespace srr::model {

std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
  }
  SRR_ASSERT(false);
}

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
  }
  SRR_ASSERT(false);
}

bool parse_dtype(std::string_view s, DType& out) {
  if (s == "F32") out = DType::F32;
  else if (s == "F16") out = DType::F16;
  else if (s == "BF16") out = DType::BF16;
  else return false;
  return true;
}

float bf16_to_f32(std::uint16_t bits) { return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16); }

float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits = 0;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf or NaN, payload kept
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);  // rebias 15 -> 127
  } else if (mant == 0) {
    bits = sign;  // signed zero
  } else {
    // Subnormal half: normalise the mantissa; the value is mant·2^-24, a normal float32.
    exp = 113;  // 127 - 14
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

std::uint16_t f32_to_bf16(float v) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(v);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  const std::uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
  return static_cast<std::uint16_t>((x + rounding) >> 16);
}

std::uint16_t f32_to_f16(float v) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(v);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u);  // NaN
  if (ax >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (ax < 0x38800000u) {
    // Result is subnormal (or zero) in half: value / 2^-24 rounded to nearest even.
    if (ax < 0x33000000u) return sign;  // below half of the smallest subnormal: ±0
    const std::uint32_t e = ax >> 23;
    const std::uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126u - e;  // m·2^(e-150) / 2^-24 = m >> (126 - e)
    std::uint32_t r = m >> shift;
    const std::uint32_t rem = m & ((1u << shift) - 1u);
    const std::uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (r & 1u))) ++r;
    return static_cast<std::uint16_t>(sign | r);
  }
  // Normal: rebias and round the 13 dropped mantissa bits to nearest even (a carry may bump the exponent,
  // which is still right).
  const std::uint32_t rebiased = ax - (112u << 23);
  const std::uint32_t r = (rebiased + 0xfffu + ((rebiased >> 13) & 1u)) >> 13;
  return static_cast<std::uint16_t>(sign | r);
}

void convert_to_f32(const std::byte* src, DType t, std::span<float> out) {
  switch (t) {
    case DType::F32:
      if (!out.empty()) std::memcpy(out.data(), src, out.size() * 4);
      return;
    case DType::F16:
    case DType::BF16: {
      const bool bf = t == DType::BF16;
      for (std::size_t i = 0; i < out.size(); ++i) {
        std::uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = bf ? bf16_to_f32(h) : f16_to_f32(h);
      }
      return;
    }
  }
}

void convert_from_f32(std::span<const float> in, DType t, std::byte* dst) {
  switch (t) {
    case DType::F32:
      if (!in.empty()) std::memcpy(dst, in.data(), in.size() * 4);
      return;
    case DType::F16:
    case DType::BF16: {
      const bool bf = t == DType::BF16;
      for (std::size_t i = 0; i < in.size(); ++i) {
        const std::uint16_t h = bf ? f32_to_bf16(in[i]) : f32_to_f16(in[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    }
  }
}

}  // namespace srr::model
