// SPDX-License-Identifier: MIT
#include "model/llama2c.hpp"

#include <climits>
#include <cstring>

#include "base/error.hpp"
#include "model/checked.hpp"

namespace srr::model {

using detail::checked_add;
using detail::checked_mul;

Llama2cLayout parse_llama2c(std::span<const std::byte> file, const std::string& source) {
  require(file.size() >= k_llama2c_header_bytes, source, ": ", file.size(),
          " bytes is too short for a llama2.c checkpoint (28-byte header)");
  std::int32_t h[7];
  std::memcpy(h, file.data(), sizeof h);
  const char* names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  for (int i = 0; i < 7; ++i)
    require(i == 5 ? (h[i] != 0 && h[i] != INT_MIN) : h[i] > 0, source, ": llama2.c header field ", names[i],
            " = ", h[i], " is invalid");
  const bool shared = h[5] > 0;

  Llama2cLayout out;
  LlamaConfig& c = out.config;
  c.hidden = h[0];
  c.intermediate = h[1];
  c.layers = h[2];
  c.heads = h[3];
  c.kv_heads = h[4];
  c.vocab = shared ? h[5] : -h[5];
  c.max_pos = h[6];
  require(c.hidden % c.heads == 0, source, ": dim ", c.hidden, " is not a multiple of n_heads ", c.heads);
  c.head_dim = c.hidden / c.heads;
  c.rope_theta = 1e4;
  c.rms_eps = 1e-5;
  c.tied_embeddings = shared;
  c.rope_interleaved = true;
  validate_config(c, source);

  const std::uint64_t dim = c.hidden, hid = c.intermediate, layers = c.layers, vocab = c.vocab;
  const std::uint64_t kv = c.kv_dim();
  // Two passes over the layout: the first only sums sizes, so that a header claiming millions of layers is
  // rejected by the size check before any per-layer entry is allocated; the second records the tensors.
  std::uint64_t offset = 0;
  bool emit = false;
  // Lays out `count` consecutive float32 arrays of shape `shape` (one per layer when the name has "{}").
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape, std::uint64_t count) {
    std::uint64_t elems = 1;
    for (auto d : shape) elems = checked_mul(elems, static_cast<std::uint64_t>(d), name + " size", source);
    const std::uint64_t bytes = checked_mul(elems, 4, name + " size", source);
    if (!emit) {
      offset = checked_add(offset, checked_mul(bytes, count, name + " size", source), "file size", source);
      return;
    }
    for (std::uint64_t i = 0; i < count; ++i) {
      const auto p = name.find("{}");
      const std::string full =
          p == std::string::npos ? name : name.substr(0, p) + std::to_string(i) + name.substr(p + 2);
      out.tensors.push_back({full, shape, offset});
      offset += bytes;
    }
  };
  auto sz = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
  // freq_cis_real and freq_cis_imag [seq_len][head_size/2]: legacy, recomputed by the forward pass.
  const std::uint64_t freq = checked_mul(static_cast<std::uint64_t>(c.max_pos),
                                         static_cast<std::uint64_t>(c.head_dim / 2), "freq_cis size", source);
  const std::uint64_t freq_bytes = checked_mul(freq, 8, "freq_cis size", source);
  for (int pass = 0; pass < 2; ++pass) {
    emit = pass == 1;
    offset = k_llama2c_header_bytes;
    add("model.embed_tokens.weight", {sz(vocab), sz(dim)}, 1);
    add("model.layers.{}.input_layernorm.weight", {sz(dim)}, layers);
    add("model.layers.{}.self_attn.q_proj.weight", {sz(dim), sz(dim)}, layers);
    add("model.layers.{}.self_attn.k_proj.weight", {sz(kv), sz(dim)}, layers);
    add("model.layers.{}.self_attn.v_proj.weight", {sz(kv), sz(dim)}, layers);
    add("model.layers.{}.self_attn.o_proj.weight", {sz(dim), sz(dim)}, layers);
    add("model.layers.{}.post_attention_layernorm.weight", {sz(dim)}, layers);
    add("model.layers.{}.mlp.gate_proj.weight", {sz(hid), sz(dim)}, layers);  // w1
    add("model.layers.{}.mlp.down_proj.weight", {sz(dim), sz(hid)}, layers);  // w2
    add("model.layers.{}.mlp.up_proj.weight", {sz(hid), sz(dim)}, layers);    // w3
    add("model.norm.weight", {sz(dim)}, 1);
    offset = checked_add(offset, freq_bytes, "file size", source);
    if (!shared) add("lm_head.weight", {sz(vocab), sz(dim)}, 1);
    if (emit) break;
    out.expected_size = offset;
    require(file.size() == out.expected_size, source, ": llama2.c header (dim ", c.hidden, ", hidden_dim ",
            c.intermediate, ", n_layers ", c.layers, ", n_heads ", c.heads, ", n_kv_heads ", c.kv_heads,
            ", vocab_size ", h[5], ", seq_len ", c.max_pos, ") implies ", out.expected_size,
            " bytes, but the file has ", file.size());
  }
  return out;
}

}  // namespace srr::model
