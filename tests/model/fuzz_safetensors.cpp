// SPDX-License-Identifier: MIT
// libFuzzer target for the untrusted-file parsers: the bytes are a whole safetensors file (and, for a
// little extra coverage, a llama2.c header). Rejection must be an srr::InputError; any other exception,
// crash or sanitizer report is a bug. Built with clang++ by tests/model/extra.cmake.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/error.hpp"
#include "model/llama2c.hpp"
#include "model/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto header = srr::model::parse_safetensors(bytes, "fuzz input");
    // An accepted header must describe readable data: convert every tensor (ASan checks the bounds).
    for (const auto& [name, t] : header.tensors) {
      std::vector<float> values(t.count);
      srr::model::convert_to_f32(bytes.data() + header.data_start + t.begin, t.dtype, values);
    }
  } catch (const srr::InputError&) {
  }
  try {
    const auto layout = srr::model::parse_llama2c(bytes, "fuzz input");
    for (const auto& t : layout.tensors) {
      std::uint64_t count = 1;
      for (auto d : t.shape) count *= static_cast<std::uint64_t>(d);
      std::vector<float> values(count);
      srr::model::convert_to_f32(bytes.data() + t.offset, srr::model::DType::F32, values);
    }
  } catch (const srr::InputError&) {
  }
  return 0;
}
