// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The floating-point element types a checkpoint may store, and their exact conversions to float32.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace srr::model {

enum class DType { F32, F16, BF16 };

/// Bytes per element.
std::size_t dtype_size(DType t);
/// The safetensors spelling: "F32", "F16", "BF16".
std::string_view dtype_name(DType t);
/// Parses the safetensors spelling; returns false for anything else (I64, F64, BOOL, …).
bool parse_dtype(std::string_view s, DType& out);

/// Exact widening conversions (every bf16 and every f16 value, subnormals, infinities and NaN payloads
/// included, has a float32 representation).
float bf16_to_f32(std::uint16_t bits);
float f16_to_f32(std::uint16_t bits);
/// Narrowing conversions with round-to-nearest-even, as torch does; NaN stays NaN.
std::uint16_t f32_to_bf16(float v);
std::uint16_t f32_to_f16(float v);

/// Converts `out.size()` little-endian elements of type `t` starting at `src` (no alignment needed:
/// safetensors data is only byte-aligned) into float32.
void convert_to_f32(const std::byte* src, DType t, std::span<float> out);
/// The inverse, for the writer: `dst` must hold out.size()·dtype_size(t) bytes.
void convert_from_f32(std::span<const float> in, DType t, std::byte* dst);

}  // namespace srr::model
