// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// One read-only view over a Llama-family checkpoint in any supported format (docs/checkpoints.md): a
/// llama2.c .bin file, a .safetensors file with config.json beside it, or a HF model directory (single file
/// or shards listed by model.safetensors.index.json). Tensors are exposed under canonical HF names and read
/// straight from memory-mapped files, converted exactly to float32.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "la/matrix.hpp"
#include "model/config.hpp"
#include "model/dtype.hpp"

namespace srr::model {

/// Canonical names of the embedding and the classifier (an alias of the embedding when tied).
inline constexpr const char* k_embed = "model.embed_tokens.weight";
inline constexpr const char* k_lm_head = "lm_head.weight";

class Checkpoint {
public:
  /// Opens and validates a checkpoint: the format's own checks, then every tensor the Llama forward pass
  /// needs must be present with the shape the config implies. InputError naming the file otherwise.
  static Checkpoint open(const std::filesystem::path& path);

  const LlamaConfig& config() const { return config_; }
  /// Canonical HF names of every tensor, sorted; with tied embeddings both model.embed_tokens.weight and
  /// lm_head.weight are listed (one is an alias of the other).
  std::vector<std::string> tensor_names() const;
  bool has(const std::string& name) const;
  std::vector<std::int64_t> shape(const std::string& name) const;
  DType dtype(const std::string& name) const;
  /// The tensor in storage order (row-major), converted exactly from F32/F16/BF16.
  std::vector<float> read_f32(const std::string& name) const;
  /// Rows [first, first + count) of a 2-D tensor in storage order, converted as read_f32: what the forward
  /// pass reads of an embedding or a head without converting the whole table.
  std::vector<float> read_rows_f32(const std::string& name, std::int64_t first, std::int64_t count) const;
  /// Drops this process's mapped pages of the tensor (madvise MADV_DONTNEED; they stay in the page cache and
  /// are read again if touched), so that reading a model layer by layer keeps one layer resident, not all
  /// the layers read so far. Advisory: never fails.
  void release_pages(const std::string& name) const;

  /// A linear layer as the paper's W (in×out, y = x·W). `name` is one of linear_layer_names(), with or
  /// without the ".weight" suffix; anything else is an InputError listing valid names. Releases the
  /// tensor's mapped pages once converted (release_pages).
  la::Matrix<float> linear_weight(const std::string& name) const;
  /// q, k, v, o, gate, up, down of every layer, layer by layer; never embeddings or lm_head.
  std::vector<std::string> linear_layer_names() const;

  /// JSON text {"path", "files": [{"name", "bytes"}], "header_sha256"} that recognises this checkpoint:
  /// the hash covers every safetensors header (and the shard index), or for llama2.c, which has no
  /// descriptive header, the first and last MiB of the file.
  std::string identity() const { return identity_; }

private:
  struct TensorRef {
    const std::byte* data = nullptr;
    DType dtype = DType::F32;
    std::vector<std::int64_t> shape;
    std::uint64_t count = 0;
  };
  Checkpoint() = default;
  static Checkpoint open_llama2c(const std::filesystem::path& file);
  /// `source` is the .safetensors file, or the shard index when `index` is not empty.
  static Checkpoint open_safetensors(const std::filesystem::path& source, const std::filesystem::path& index);
  const TensorRef& find(const std::string& name) const;
  void resolve_tied_embeddings(const std::map<std::string, std::string>& aliases);
  void check_tensors() const;

  std::string source_;  ///< path as given, for messages
  LlamaConfig config_;
  std::vector<std::shared_ptr<const void>> owners_;  ///< keeps the mappings alive; copies share them
  std::map<std::string, TensorRef> tensors_;
  std::string identity_;
};

/// The canonical names of one layer's linear layers, in the order of linear_layer_names().
std::vector<std::string> linear_layer_names(const LlamaConfig& c);

/// [out, in] storage shape of a canonical tensor for config `c`; empty when `name` is not a tensor of
/// the Llama architecture.
std::vector<std::int64_t> expected_shape(const LlamaConfig& c, const std::string& name);

}  // namespace srr::model
