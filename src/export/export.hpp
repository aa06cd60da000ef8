// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// What `srr export` writes and `srr eval --adapter` reads back (docs/store.md, "Export"): a Hugging Face
/// Llama directory whose linear layers hold the dequantized Q, and a PEFT LoRA adapter holding L and R, so
/// that base + adapter computes x·Q + (x·L)·R exactly as the store does.
///
/// This file holds the pieces export_store.hpp (the whole export) and `srr eval` build on: a stored layer as
/// the forward pass's override, the checks that a store may be exported against a checkpoint, the llama2.c →
/// HF RoPE row order, PEFT's file names and config, the
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

/// Q (decoded), L and R of a stored or freshly computed layer, as the forward pass applies them.
model::LinearOverride to_override(const LayerRecord& record);

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

/// How an export scales and balances its LoRA factors (docs/qpeft.md). Either way base + scaling·B·A equals
/// the store's Q + L·R (to float32 rounding for Release).
/// * Srr: lora_alpha = r (PEFT scaling 1); lora_A = Lᵀ and lora_B = Rᵀ bit for bit as the store keeps them.
/// * Release: the SRR release's QPEFT convention (method.md §7): lora_alpha = 2r, so scaling = 2 and B is
///   stored as (its share of L·R)/2; and the release's balance of the factors: for QER/SRR every column of
///   lora_B has unit norm and lora_A carries the singular values (the release's lora_B = U_r, lora_A =
///   Σ_r·V_rᵀ·S⁻¹), for LoftQ √Σ stays on both sides as the store has it.
enum class PeftConvention { Srr, Release };
PeftConvention peft_convention_from_string(const std::string& s);  ///< srr|release; InputError otherwise
std::string to_string(PeftConvention c);
/// lora_alpha of a rank-`rank` adapter in the convention: r or 2r.
la::index_t peft_lora_alpha(PeftConvention c, la::index_t rank);

/// Rewrites one layer's factors, L (in×r) and R (r×out) as the store keeps them, into the convention.
/// `sqrt_balanced` says the store split Σ as √Σ on both factors (LoftQ); otherwise R's rows carry it.
/// A component whose R row is zero is left as it is.
void apply_peft_convention(PeftConvention c, bool sqrt_balanced, la::Matrix<float>& L, la::Matrix<float>& R);

/// Singular values of the product L·R (in×out, rank ≤ r), descending, computed in float64 without forming
/// the product: L = Q_L·(Q_Lᵀ·L), Rᵀ = Q_R·(Q_Rᵀ·Rᵀ), and the r×r core (Q_Lᵀ·L)·(R·Q_R) has the same
/// singular values. These are the release's `s_vals` (method.md §7): the spectrum of the initial B·A.
std::vector<double> product_singular_values(const la::Matrix<float>& L, const la::Matrix<float>& R);

/// A base_model_name_or_path that names the model without a path of the exporting machine: the
/// `_name_or_path` of the model's config.json when it is set and not an absolute path, else the name of the
/// model's directory (a Hugging Face directory, or the directory of a .safetensors file), else, for a
/// single-file checkpoint (llama2.c .bin), the file's name.
std::string portable_model_name(const std::filesystem::path& model);

/// PEFT's adapter_config.json for a LoRA of rank `rank` on the given projections (e.g. "q_proj"). With
/// lora_alpha = rank (the default) PEFT's scaling alpha/r is exactly 1: base + B·A = Q + L·R.
nlohmann::json peft_lora_config(la::index_t rank, const std::vector<std::string>& target_modules,
                                const std::string& base_model, la::index_t lora_alpha = 0);

/// The QPEFT metadata of an export (qpeft.json, format in docs/qpeft.md), and the release's own
/// freeze_rank_dict.json ({module: k*}) beside it so that the release's trainer reads the split too.
inline constexpr const char* kQpeftFile = "qpeft.json";
inline constexpr const char* kFreezeRankFile = "freeze_rank_dict.json";
inline constexpr int kQpeftFormatVersion = 1;

/// One layer's entry: k* (the release's freeze_rank: the first k* LoRA components are the preserved ones)
/// and the singular values of its initial product L·R.
struct QpeftLayer {
  std::string name;
  la::index_t freeze_rank = 0;
  std::vector<double> s_vals;
  la::index_t rank = 0;  ///< the layer's own (a plan may give each layer its own)
};

/// qpeft.json: format and version, the convention (r, lora_alpha, scaling), the store's method settings,
/// the component order as a sentence, and every layer's QpeftLayer, keyed by module name.
nlohmann::json qpeft_metadata(PeftConvention c, la::index_t rank, const nlohmann::json& store_config,
                              const std::vector<QpeftLayer>& layers);
/// freeze_rank_dict.json of the release: module name → k*.
nlohmann::json freeze_rank_dict(const std::vector<QpeftLayer>& layers);

/// One layer of a PEFT LoRA adapter: lora_A [r][in] and lora_B [out][r], row-major, as stored.
struct LoraFactors {
  la::index_t in = 0, out = 0, rank = 0;
  double scaling = 1;  ///< lora_alpha / r (or / √r with use_rslora), with the module's rank and alpha patterns
  std::vector<float> lora_A, lora_B;
};

struct PeftAdapter {
  std::map<std::string, LoraFactors> layers;  ///< by module name without PEFT's prefix, e.g. model.layers.0.mlp.up_proj
};

/// The key of a layer in PEFT's rank_pattern and alpha_pattern: its name without the first component
/// ("layers.0.mlp.up_proj" for "model.layers.0.mlp.up_proj"). PEFT matches a key against a module name
/// with ".*\.KEY$" (before 0.14) or "(.*\.)?KEY$" (since): this form is matched by both, and by that layer only.
std::string peft_pattern_key(const std::string& layer);

/// Sets a LoRA config's rank_pattern to `ranks` (layer name → rank, for the layers whose rank is not the
/// config's `r`) and alpha_pattern to their lora_alpha where it differs from the config's (the convention's
/// alpha of their rank).
void set_rank_pattern(nlohmann::json& config, const std::map<std::string, la::index_t>& ranks, PeftConvention c);

/// Reads `dir`/adapter_config.json and `dir`/adapter_model.safetensors. Only plain LoRA on linear layers
/// is accepted (peft_type LORA, no DoRA, no fan_in_fan_out, bias none); rank_pattern and alpha_pattern
/// keys are taken as module names or their trailing components (as srr export writes them: no regular
/// expressions), and a key that names no module is refused. Anything else, or tensors whose names or shapes
/// do not fit, is an InputError naming the file.
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
