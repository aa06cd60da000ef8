// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// `srr export` as a library call: a finished store as a Hugging Face Llama checkpoint (the dequantized Q in
/// every linear layer, everything else copied) plus a PEFT LoRA adapter (L and R), so that base + adapter
/// computes x·Q + (x·L)·R exactly as `srr eval --store` does. Format and guarantees in docs/store.md, "Export".
///
/// Everything streams: one tensor of the source and one layer of the store at a time, written straight into
/// the two safetensors files (whose tensor orders are fixed up front), so a 70B export needs the memory of
/// one layer, not of the model. The output directory appears under its name only when complete
/// (StagingDirectory).

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "export/export.hpp"
#include "model/dtype.hpp"

namespace srr::store {

struct ExportSettings {
  std::filesystem::path store;  ///< from srr quantize; every layer done
  std::filesystem::path model;  ///< the checkpoint the store was quantized from
  std::filesystem::path out;    ///< directory to create (it must not exist, or be empty)
  model::DType dtype = model::DType::F32;  ///< of the dequantized linear weights: F32 or BF16 (MXINT only)
  bool adapter_only = false;    ///< only the PEFT adapter and the QPEFT metadata
  PeftConvention convention = PeftConvention::Srr;
  /// base_model_name_or_path of adapter_config.json; empty: the export directory's name, or with
  /// adapter_only the model's portable_model_name. Never a path of this machine.
  std::string base_model_name;
  std::function<void(const std::string& layer)> on_layer;  ///< called after each exported layer (may be empty)
};

struct ExportSummary {
  std::filesystem::path out;  ///< the published directory
  std::size_t layers = 0;
  la::index_t rank = 0;
  quant::Scheme scheme = quant::Scheme::Mxint;
  bool rope_permuted = false;  ///< q_proj/k_proj rows permuted from llama2.c's interleaved RoPE to rotate_half
  std::vector<std::pair<std::string, std::uintmax_t>> files;  ///< name and bytes of every file written, sorted
  double seconds = 0;
};

/// Writes the export. InputError (naming the store, the option or the layer) when the store is not
/// complete, belongs to another checkpoint, cannot be exported in the dtype (INT-g in bf16), or has no
/// adapter for --adapter-only; when the output exists and is not empty, or the disk is too full.
ExportSummary export_store(const ExportSettings& settings);

/// The summary `srr export` prints: command, store, model, out, dtype, adapter_only, peft_convention,
/// layers, rank, quant_scheme, rope, files {name: bytes}, seconds.
nlohmann::json to_json(const ExportSettings& settings, const ExportSummary& summary);

}  // namespace srr::store
