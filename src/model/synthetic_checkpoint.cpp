// SPDX-License-Identifier: MIT
#include "model/synthetic_checkpoint.hpp"

#include <cmath>
#include <cstdio>
#include <map>

#include "base/error.hpp"
#include "base/files.hpp"
#include "base/rng.hpp"
#include "model/checkpoint.hpp"
#include "model/safetensors.hpp"
#include "model/tokenizer.hpp"

namespace srr::model {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {


LlamaConfig shape(int hidden, int layers, int heads, int kv_heads, int intermediate, int vocab, int max_pos,
                  double rope_theta) {
  LlamaConfig c;
  c.hidden = hidden;
  c.layers = layers;
  c.heads = heads;
  c.kv_heads = kv_heads;
  c.head_dim = hidden / heads;
  c.intermediate = intermediate;
  c.vocab = vocab;
  c.max_pos = max_pos;
  c.rope_theta = rope_theta;
  c.rms_eps = 1e-5;
  return c;
}

const std::map<std::string, LlamaConfig>& shapes() {
  static const std::map<std::string, LlamaConfig> table = {
      {"llama2-7b", shape(4096, 32, 32, 32, 11008, 32000, 4096, 1e4)},
      {"llama2-13b", shape(5120, 40, 40, 40, 13824, 32000, 4096, 1e4)},
      {"llama2-70b", shape(8192, 80, 64, 8, 28672, 32000, 4096, 1e4)},
      {"llama3-8b", shape(4096, 32, 32, 8, 14336, 128256, 8192, 5e5)},
      {"tinyllama-1.1b", shape(2048, 22, 32, 4, 5632, 32000, 2048, 1e4)},
  };
  return table;
}

/// Every tensor of the checkpoint in file order: embedding, then each decoder layer (norms, attention,
/// MLP), the final norm and, when untied, lm_head.
std::vector<TensorSpec> tensor_specs(const SyntheticCheckpointSettings& s) {
  const LlamaConfig& c = s.config;
  std::vector<std::string> names{k_embed};
  const auto linear = linear_layer_names(c);
  for (int i = 0; i < c.layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    names.push_back(p + "input_layernorm.weight");
    names.push_back(p + "post_attention_layernorm.weight");
    for (int j = 0; j < 7; ++j) names.push_back(linear[7 * i + j] + ".weight");
  }
  names.push_back("model.norm.weight");
  if (!c.tied_embeddings) names.push_back(k_lm_head);
  std::vector<TensorSpec> specs;
  for (auto& n : names) specs.push_back({n, s.dtype, expected_shape(c, n)});
  return specs;
}

std::uint64_t element_count(const TensorSpec& t) {
  std::uint64_t n = 1;
  for (auto d : t.shape) n *= static_cast<std::uint64_t>(d);
  return n;
}

std::uint64_t tensor_bytes(const TensorSpec& t) { return element_count(t) * dtype_size(t.dtype); }

/// Consecutive runs of tensors, each at most `max_bytes` (a larger tensor alone); one run when 0.
std::vector<std::vector<TensorSpec>> shard(const std::vector<TensorSpec>& specs, std::uint64_t max_bytes) {
  std::vector<std::vector<TensorSpec>> shards(1);
  std::uint64_t bytes = 0;
  for (const auto& t : specs) {
    if (max_bytes > 0 && !shards.back().empty() && bytes + tensor_bytes(t) > max_bytes) {
      shards.emplace_back();
      bytes = 0;
    }
    shards.back().push_back(t);
    bytes += tensor_bytes(t);
  }
  return shards;
}

void write_tensors(const fs::path& file, const std::vector<TensorSpec>& specs, std::uint64_t seed) {
  SafetensorsWriter writer(file, specs, {{"format", "pt"}});
  std::vector<float> chunk;
  for (const auto& t : specs) {
    Rng rng(seed, t.name, "synthetic");
    const bool vector = t.shape.size() == 1;
    const double scale = t.name == k_embed ? 0.02 : vector ? 0.01 : 1.0 / std::sqrt(double(t.shape[1]));
    for (std::uint64_t left = element_count(t); left > 0; left -= chunk.size()) {
      chunk.resize(std::min<std::uint64_t>(left, 1 << 20));
      for (auto& v : chunk) v = static_cast<float>((vector ? 1.0 : 0.0) + scale * rng.normal());
      writer.append(chunk);
    }
  }
  writer.commit();
}

std::string shard_name(std::size_t i, std::size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return buf;
}

}  // namespace

std::vector<std::string> named_shape_names() {
  std::vector<std::string> out;
  for (const auto& [name, c] : shapes()) out.push_back(name);
  return out;
}

LlamaConfig named_shape(const std::string& name) {
  const auto it = shapes().find(name);
  if (it != shapes().end()) return it->second;
  std::string list;
  for (const auto& n : named_shape_names()) list += (list.empty() ? "" : ", ") + n;
  throw InputError("--shape: unknown shape '" + name + "' (known: " + list + ")");
}

std::uint64_t synthetic_tensor_bytes(const SyntheticCheckpointSettings& s) {
  std::uint64_t bytes = 0;
  for (const auto& t : tensor_specs(s)) bytes += tensor_bytes(t);
  return bytes;
}

std::string synthetic_tokenizer_json(int vocab) {
  json tokens = json::object();
  std::vector<std::string> texts{"<unk>", "<s>", "</s>"};
  for (int b = 0; b < 256; ++b) texts.push_back(byte_token_text(static_cast<unsigned char>(b)));
  texts.push_back("\xe2\x96\x81");  // ▁, the normalized space
  for (char ch = 0x21; ch < 0x7f; ++ch) texts.push_back(std::string(1, ch));
  require(vocab >= static_cast<int>(texts.size()), "a synthetic tokenizer needs a vocabulary of at least ",
          texts.size(), " entries, got ", vocab);
  for (int i = static_cast<int>(texts.size()); i < vocab; ++i) texts.push_back("<extra_" + std::to_string(i) + ">");
  for (std::size_t i = 0; i < texts.size(); ++i) tokens[texts[i]] = i;

  json added = json::array();
  for (int id = 0; id < 3; ++id)
    added.push_back({{"id", id}, {"content", texts[id]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  const json replace_space = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xe2\x96\x81"}};
  json root = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers", json::array({{{"type", "Prepend"}, {"prepend", "\xe2\x96\x81"}}, replace_space})}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
        {"pair", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                              {{"SpecialToken", {{"id", "<s>"}, {"type_id", 1}}}},
                              {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}})},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", json::array({1})}, {"tokens", json::array({"<s>"})}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", "\xe2\x96\x81"}}}, {"content", " "}},
                                  {{"type", "ByteFallback"}},
                                  {{"type", "Fuse"}},
                                  {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", "<unk>"},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"ignore_merges", false},
        {"vocab", tokens},
        {"merges", json::array()}}}};
  return root.dump(1) + "\n";
}

SyntheticCheckpointResult write_synthetic_checkpoint(const fs::path& dir, const SyntheticCheckpointSettings& s) {
  validate_config(s.config, "synthetic config");
  require(s.dtype == DType::BF16 || s.dtype == DType::F16 || s.dtype == DType::F32,
          "a synthetic checkpoint is stored as bf16, fp16 or fp32");
  SyntheticCheckpointResult result;
  const auto specs = tensor_specs(s);
  for (const auto& t : specs) result.tensor_bytes += tensor_bytes(t);

  json config = hf_config_json(s.config);
  config["torch_dtype"] = s.dtype == DType::BF16 ? "bfloat16" : s.dtype == DType::F16 ? "float16" : "float32";
  if (s.tokenizer) {
    config["bos_token_id"] = 1;
    config["eos_token_id"] = 2;
  }
  write_file_atomic(dir / "config.json", config.dump(2) + "\n");
  result.files.push_back("config.json");
  if (s.tokenizer) {
    write_file_atomic(dir / "tokenizer.json", synthetic_tokenizer_json(s.config.vocab));
    const json tc = {{"bos_token", "<s>"},     {"eos_token", "</s>"},
                     {"unk_token", "<unk>"},   {"add_bos_token", true},
                     {"add_eos_token", false}, {"tokenizer_class", "LlamaTokenizerFast"},
                     {"model_max_length", s.config.max_pos}};
    write_file_atomic(dir / "tokenizer_config.json", tc.dump(2) + "\n");
    result.files.push_back("tokenizer.json");
    result.files.push_back("tokenizer_config.json");
  }

  const auto shards = shard(specs, s.max_shard_bytes);
  if (s.max_shard_bytes == 0) {
    write_tensors(dir / "model.safetensors", shards.front(), s.seed);
    result.files.push_back("model.safetensors");
    return result;
  }
  json weight_map = json::object();
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const std::string name = shard_name(i, shards.size());
    write_tensors(dir / name, shards[i], s.seed);
    result.files.push_back(name);
    for (const auto& t : shards[i]) weight_map[t.name] = name;
  }
  // The index last: a directory with an index always has every shard it lists.
  const json index = {{"metadata", {{"total_size", result.tensor_bytes}}}, {"weight_map", weight_map}};
  write_file_atomic(dir / "model.safetensors.index.json", index.dump(2) + "\n");
  result.files.push_back("model.safetensors.index.json");
  return result;
}

void write_synthetic_llama(const fs::path& dir, const LlamaConfig& c, std::uint64_t seed, DType dtype) {
  fs::create_directories(dir);
  SyntheticCheckpointSettings s;
  s.config = c;
  s.seed = seed;
  s.dtype = dtype;
  write_synthetic_checkpoint(dir, s);
}

}  // namespace srr::model
