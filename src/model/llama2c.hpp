// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The llama2.c "legacy" (v0) checkpoint: 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
/// vocab_size, seq_len), then float32 arrays tok_emb, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3,
/// rms_final, freq_cis_real, freq_cis_imag and, only when vocab_size < 0, wcls. Matrices are [out][in].

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/config.hpp"

namespace srr::model {

/// One tensor of the file under its canonical HF name; `offset` is in bytes from the start of the file.
struct Llama2cTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::uint64_t offset = 0;
};

struct Llama2cLayout {
  LlamaConfig config;
  std::vector<Llama2cTensor> tensors;  ///< in file order; no lm_head when the classifier is shared
  std::uint64_t expected_size = 0;     ///< exact file size implied by the header
};

inline constexpr std::size_t k_llama2c_header_bytes = 28;

/// Parses the header of a whole llama2.c file held in memory and lays out its tensors. The dimensions
/// must be positive and consistent and the file size must be exactly the size they imply (the format has
/// no other integrity check); InputError naming `source` otherwise.
Llama2cLayout parse_llama2c(std::span<const std::byte> file, const std::string& source);

}  // namespace srr::model
