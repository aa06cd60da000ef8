// SPDX-License-Identifier: MIT
#include "model/config.hpp"

#include <climits>

#include "base/error.hpp"
#include "model/json_input.hpp"

namespace srr::model {

using nlohmann::json;

void validate_config(const LlamaConfig& c, const std::string& source) {
  auto positive = [&](int v, const char* name) {
    require(v > 0, source, ": ", name, " must be positive, got ", v);
  };
  positive(c.hidden, "hidden size");
  positive(c.layers, "number of layers");
  positive(c.heads, "number of attention heads");
  positive(c.kv_heads, "number of key/value heads");
  positive(c.head_dim, "head dimension");
  positive(c.intermediate, "intermediate size");
  positive(c.vocab, "vocabulary size");
  positive(c.max_pos, "maximum sequence length");
  require(c.heads % c.kv_heads == 0, source, ": ", c.heads, " attention heads are not a multiple of ",
          c.kv_heads, " key/value heads");
  require(c.head_dim % 2 == 0, source, ": RoPE needs an even head dimension, got ", c.head_dim);
  require(static_cast<long long>(c.heads) * c.head_dim <= INT_MAX, source, ": heads × head_dim too large");
  require(c.rope_theta > 0, source, ": rope_theta must be positive, got ", c.rope_theta);
  require(c.rms_eps >= 0, source, ": rms_norm_eps must be non-negative, got ", c.rms_eps);
}

LlamaConfig parse_hf_config(const json& j, const std::string& source) {
  require(j.is_object(), source, ": config must be a JSON object");
  std::string model_type;
  if (auto it = j.find("model_type"); it != j.end() && it->is_string()) model_type = it->get<std::string>();
  std::string architectures;
  bool llama_arch = false;
  if (auto it = j.find("architectures"); it != j.end() && it->is_array()) {
    for (const auto& a : *it) {
      if (!a.is_string()) continue;
      const auto name = a.get<std::string>();
      architectures += (architectures.empty() ? "" : ",") + name;
      llama_arch = llama_arch || name == "LlamaForCausalLM";
    }
  }
  if (model_type != "llama" && !llama_arch)
    throw InputError(source + ": only Llama-family models are supported, this is model_type \"" + model_type +
                     "\", architectures [" + architectures + "]");

  namespace f = json_field;
  const std::int64_t big = INT_MAX;
  LlamaConfig c;
  c.hidden = static_cast<int>(f::integer(j, "hidden_size", source, 1, big));
  c.layers = static_cast<int>(f::integer(j, "num_hidden_layers", source, 1, big));
  c.heads = static_cast<int>(f::integer(j, "num_attention_heads", source, 1, big));
  const std::int64_t heads = c.heads;
  c.kv_heads = static_cast<int>(f::integer(j, "num_key_value_heads", source, 1, big, &heads));
  c.intermediate = static_cast<int>(f::integer(j, "intermediate_size", source, 1, big));
  c.vocab = static_cast<int>(f::integer(j, "vocab_size", source, 1, big));
  const std::int64_t default_max_pos = 2048;  // the transformers LlamaConfig default
  c.max_pos = static_cast<int>(f::integer(j, "max_position_embeddings", source, 1, big, &default_max_pos));
  require(c.hidden % c.heads == 0 || j.contains("head_dim"), source, ": hidden_size ", c.hidden,
          " is not a multiple of num_attention_heads ", c.heads, " and no head_dim is given");
  const std::int64_t default_head_dim = c.hidden / c.heads;
  c.head_dim = static_cast<int>(f::integer(j, "head_dim", source, 1, big, &default_head_dim));
  const double default_theta = 1e4, default_eps = 1e-6;  // transformers defaults
  c.rope_theta = f::number(j, "rope_theta", source, &default_theta);
  c.rms_eps = f::number(j, "rms_norm_eps", source, &default_eps);
  c.tied_embeddings = f::boolean(j, "tie_word_embeddings", source, false);
  c.rope_interleaved = false;
  if (auto it = j.find("rope_scaling"); it != j.end() && !it->is_null())
    throw InputError(source + ": rope_scaling " + it->dump() + " is not supported");
  require(!f::boolean(j, "attention_bias", source, false) && !f::boolean(j, "mlp_bias", source, false), source,
          ": linear layers with bias are not supported");
  if (auto it = j.find("hidden_act"); it != j.end() && !it->is_null())
    require(*it == "silu", source, ": only the silu activation is supported, got ", it->dump());
  validate_config(c, source);
  return c;
}

LlamaConfig read_hf_config(const std::string& path) { return parse_hf_config(read_json_file(path), path); }

json hf_config_json(const LlamaConfig& c) {
  require(!c.rope_interleaved, "a HF config.json describes rotate_half RoPE; interleaved RoPE (llama2.c) "
          "weights would need their q/k rows permuted first");
  return json{{"architectures", json::array({"LlamaForCausalLM"})},
              {"model_type", "llama"},
              {"hidden_act", "silu"},
              {"hidden_size", c.hidden},
              {"num_hidden_layers", c.layers},
              {"num_attention_heads", c.heads},
              {"num_key_value_heads", c.kv_heads},
              {"head_dim", c.head_dim},
              {"intermediate_size", c.intermediate},
              {"vocab_size", c.vocab},
              {"max_position_embeddings", c.max_pos},
              {"rope_theta", c.rope_theta},
              {"rms_norm_eps", c.rms_eps},
              {"tie_word_embeddings", c.tied_embeddings},
              {"attention_bias", false},
              {"mlp_bias", false},
              {"torch_dtype", "float32"}};
}

}  // namespace srr::model
