// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The hyper-parameters of a Llama-family model, read from a HF config.json or a llama2.c header.

#include <nlohmann/json.hpp>
#include <string>

namespace srr::model {

struct LlamaConfig {
  int hidden = 0;
  int layers = 0;
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  int intermediate = 0;
  int vocab = 0;
  int max_pos = 0;
  double rope_theta = 1e4;
  double rms_eps = 1e-5;
  bool tied_embeddings = false;
  /// RoPE rotates pairs (x[2i], x[2i+1]) (llama2.c) instead of (x[i], x[i+d/2]) (HF rotate_half).
  bool rope_interleaved = false;

  int q_dim() const { return heads * head_dim; }
  int kv_dim() const { return kv_heads * head_dim; }
  bool operator==(const LlamaConfig&) const = default;
};

/// Checks that the dimensions are positive and consistent (heads divisible by kv_heads, even head_dim,
/// sizes that fit the index types); InputError naming `source` and the offending field otherwise.
void validate_config(const LlamaConfig& c, const std::string& source);

/// Reads a HF config.json object. Only the Llama family is accepted (model_type "llama" or an
/// architectures entry LlamaForCausalLM); anything else is an InputError naming the architecture.
LlamaConfig parse_hf_config(const nlohmann::json& j, const std::string& source);
LlamaConfig read_hf_config(const std::string& path);

/// The HF config.json for `c` (rotate_half RoPE: `c.rope_interleaved` must be false).
nlohmann::json hf_config_json(const LlamaConfig& c);

}  // namespace srr::model
