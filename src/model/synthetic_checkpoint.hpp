// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Random Llama-family checkpoints with the shapes of public models, laid out as Hugging Face saves them
/// (config.json, model.safetensors or shards listed by model.safetensors.index.json, a tokenizer), so a user
/// can rehearse a cluster job — calibrate, quantize, eval, export — before downloading a model. The weights
/// are random (nothing about their values is realistic); their shapes, dtypes, file sizes and layout are.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "model/config.hpp"
#include "model/dtype.hpp"

namespace srr::model {

/// A public model's shape by name: llama2-7b, llama2-13b, llama2-70b, llama3-8b, tinyllama-1.1b (the values
/// of their HF config.json). InputError listing the names for anything else.
LlamaConfig named_shape(const std::string& name);
std::vector<std::string> named_shape_names();

struct SyntheticCheckpointSettings {
  LlamaConfig config;
  std::uint64_t seed = 1;
  DType dtype = DType::BF16;
  /// Tensors are packed into shards of at most this many bytes, in file order (one tensor larger than this
  /// gets a shard of its own); 0 = one model.safetensors without an index. 5 GB is save_pretrained's default.
  std::uint64_t max_shard_bytes = 0;
  /// Also write tokenizer.json + tokenizer_config.json (a byte-fallback BPE with config.vocab entries).
  bool tokenizer = false;
};

struct SyntheticCheckpointResult {
  std::vector<std::string> files;  ///< every file written, in writing order
  std::uint64_t tensor_bytes = 0;  ///< the tensors' data, summed over shards
};

/// Bytes of tensor data the checkpoint will hold (for a disk-space check before writing).
std::uint64_t synthetic_tensor_bytes(const SyntheticCheckpointSettings& s);

/// Writes the checkpoint into the existing directory `dir`. Linear weights and lm_head are N(0, 1/in), the
/// embedding N(0, 0.02²) (the HF initializer range), norms 1 + N(0, 0.01²); each tensor's stream is keyed
/// by (seed, name), so the values do not depend on the sharding, and tensors are streamed to disk one at a
/// time (a 70B shape never sits in memory). With tied embeddings only model.embed_tokens.weight is written.
/// Every file appears under its final name only when complete.
SyntheticCheckpointResult write_synthetic_checkpoint(const std::filesystem::path& dir,
                                                     const SyntheticCheckpointSettings& s);

/// One-file checkpoint without a tokenizer, for tests and benchmarks.
void write_synthetic_llama(const std::filesystem::path& dir, const LlamaConfig& c, std::uint64_t seed,
                           DType dtype = DType::BF16);

/// The tokenizer.json text of a byte-fallback BPE with `vocab` entries in the layout of a sentencepiece-
/// converted Llama tokenizer: <unk> = 0, <s> = 1, </s> = 2, the 256 byte tokens <0x00>..<0xFF>, "▁" and the
/// printable ASCII characters, then unused <extra_i> tokens up to `vocab` (at least 354). No merges: a text
/// becomes one token per character, which is all a rehearsal needs.
std::string synthetic_tokenizer_json(int vocab);

}  // namespace srr::model
