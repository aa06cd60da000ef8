// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Which linear layers share an input (method.md §4.1): q/k/v read the same normalised hidden state,
/// gate/up the same one; o and down have their own. Calibration statistics and scales are keyed by these
/// input names, so a scale is computed once per input and reused by the layers that share it.

#include <string>

#include "base/error.hpp"

namespace srr::model {

/// "model.layers.3.self_attn.k_proj" → "model.layers.3.self_attn.qkv_input";
/// o_proj → "...self_attn.o_proj_input"; gate/up → "...mlp.gate_up_input"; down → "...mlp.down_proj_input".
inline std::string statistics_key(const std::string& linear_name) {
  std::string name = linear_name;
  if (name.size() > 7 && name.ends_with(".weight")) name.resize(name.size() - 7);
  const auto dot = name.rfind('.');
  require(dot != std::string::npos, "not a linear layer name: '", linear_name, "'");
  const std::string prefix = name.substr(0, dot), leaf = name.substr(dot + 1);
  if (leaf == "q_proj" || leaf == "k_proj" || leaf == "v_proj") return prefix + ".qkv_input";
  if (leaf == "o_proj") return prefix + ".o_proj_input";
  if (leaf == "gate_proj" || leaf == "up_proj") return prefix + ".gate_up_input";
  if (leaf == "down_proj") return prefix + ".down_proj_input";
  throw InputError("not a linear layer of a Llama decoder: '" + linear_name + "'");
}

}  // namespace srr::model
