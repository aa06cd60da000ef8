// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// What `srr export` writes and `srr eval --adapter` reads back (docs/store.md, "Export"): a Hugging Face
/// Llama directory whose linear layers hold the dequantized Q, and a PEFT LoRA adapter holding L and R, so
/// that base + adapter computes x·Q + (x·L)·R exactly as the store does.
///
/// This file holds the pieces that do not depend on the command line: the checks that a store may be
/// exported against a checkpoint, the llama2.c → HF RoPE row order, PEFT's file names and config, the
/// adapter reader, and the directory that appears under its final name only when it is complete.

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "la/matrix.hpp"
#include "model/checkpoint.hpp"
#include "model/forward.hpp"
#include "store/store.hpp"

namespace srr::store {

/// File names of an export directory (the names transformers and PEFT look for).
inline constexpr const char* kExportModelFile = "model.safetensors";
inline constexpr const char* kExportConfigFile = "config.json";
inline constexpr const char* kAdapterModelFile = "adapter_model.safetensors";
inline constexpr const char* kAdapterConfigFile = "adapter_config.json";
/// PEFT's prefix of every adapter tensor: the LoraModel wraps the causal LM as `base_model.model`.
inline constexpr const char* kPeftPrefix = "base_model.model.";

/// Refuses (InputError, naming the store) a store that cannot stand for `ckpt`: one with a layer not done
/// (the first in plan order is named), one made from another checkpoint (compared as `srr quantize` compares
/// them: files and header hash, not the path), or one whose layers are not exactly the checkpoint's linear
/// layers with their shapes.
void require_exportable(const Store& store, const model::Checkpoint& ckpt);

/// True for the weights whose output rows follow the RoPE layout: q_proj and k_proj.
bool is_rope_projection(const std::string& name);

/// llama2.c rotates adjacent pairs (2i, 2i+1) of each head; HF's rotate_half rotates (i, i + head_dim/2)
/// with the same frequency θ^(−2i/head_dim). Reordering the output rows of q_proj and k_proj maps one onto
/// the other (transformers' convert_llama_weights_to_hf `permute`): HF row h·d + p·d/2 + i is llama2.c row
/// h·d + 2i + p. Returns, for each HF row, its source row.
std::vector<la::index_t> hf_rope_row_order(int heads, int head_dim);

/// Reorders the columns of an in×out matrix (= the rows of its [out][in] storage): column j of the result
/// is column order[j] of `m`. This is how Q (in×out) and R (r×out) follow a permutation of output rows.
la::Matrix<float> permute_columns(const la::Matrix<float>& m, const std::vector<la::index_t>& order);

/// PEFT's adapter_config.json for a LoRA of rank `rank` on the given projections (e.g. "q_proj"), with
/// lora_alpha = rank so that PEFT's scaling alpha/r is exactly 1: base + B·A = Q + L·R with no rescaling.
nlohmann::json peft_lora_config(la::index_t rank, const std::vector<std::string>& target_modules,
                                const std::string& base_model);

/// One layer of a PEFT LoRA adapter: lora_A [r][in] and lora_B [out][r], row-major, as stored.
struct LoraFactors {
  la::index_t in = 0, out = 0, rank = 0;
  std::vector<float> lora_A, lora_B;
};

struct PeftAdapter {
  double scaling = 1;  ///< lora_alpha / r (or / √r with use_rslora)
  std::map<std::string, LoraFactors> layers;  ///< by module name without PEFT's prefix, e.g. model.layers.0.mlp.up_proj
};

/// Reads `dir`/adapter_config.json and `dir`/adapter_model.safetensors. Only plain LoRA on linear layers
/// is accepted (peft_type LORA, no DoRA, no fan_in_fan_out, bias none, no per-module rank or alpha
/// patterns); anything else, or tensors whose names or shapes do not fit, is an InputError naming the file.
PeftAdapter read_peft_adapter(const std::filesystem::path& dir);

/// The adapter applied to the linear layers of `base`: Q = the base's own weight, L = lora_A read as in×r
/// column-major (the same bytes), R = scaling · lora_B read as r×out column-major. InputError when the
/// adapter names a module that is not a linear layer of `base` or whose shape disagrees with it.
std::map<std::string, model::LinearOverride> adapter_overrides(const PeftAdapter& adapter,
                                                               const model::Checkpoint& base);

/// A directory published under its final name only once complete: files are written (and fsynced) into a
/// new sibling `<final>.partial.<random>` (base/files.hpp: an unpredictable name, created by mkdir so nothing
/// planted is reused), and commit() fsyncs it, renames it to `<final>` and fsyncs the parent. A killed
/// process leaves only the `.partial.<random>` directory, never a `<final>` that looks complete; an object
/// destroyed before commit() removes its staging directory. Like every srr output, the parent of `<final>`
/// must exist: it is never created.
class StagingDirectory {
public:
  /// InputError when `final_path` exists and is not an empty directory (nothing is ever overwritten), or when
  /// its parent directory does not exist.
  explicit StagingDirectory(std::filesystem::path final_path);
  StagingDirectory(const StagingDirectory&) = delete;
  StagingDirectory& operator=(const StagingDirectory&) = delete;
  ~StagingDirectory();

  /// Where to write: the staging directory.
  const std::filesystem::path& path() const { return staging_; }
  const std::filesystem::path& final_path() const { return final_; }
  /// Writes a small file into the staging directory (srr::write_file_atomic).
  void write_file(const std::string& name, const std::string& content) const;
  void commit();

private:
  std::filesystem::path final_, staging_;
  bool committed_ = false;
};

}  // namespace srr::store
