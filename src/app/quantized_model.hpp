// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Quantized weights for the forward pass, W ≈ Q + L·R per linear layer, from a store or computed on the
/// spot with `srr layer` settings.

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "app/cli.hpp"
#include "dist/mpi.hpp"
#include "model/checkpoint.hpp"
#include "model/forward.hpp"
#include "qer/scale.hpp"
#include "store/record.hpp"

namespace srr::app {

/// Decomposes layers of one checkpoint, building each input's scale once (layers that share an input
/// share it, method.md §4.1) from the calibration file.
class LayerQuantizer {
public:
  LayerQuantizer(const model::Checkpoint& ckpt, MethodConfig config, std::optional<std::filesystem::path> calib);
  /// The decomposition of one linear layer; depends only on (weights, statistics, settings, seed, name).
  store::LayerRecord run(const std::string& name);
  const MethodConfig& config() const { return config_; }

private:
  const qer::Scale& scale_for(const std::string& key, la::index_t dim);
  const model::Checkpoint& ckpt_;
  MethodConfig config_;
  std::optional<std::filesystem::path> calib_;
  std::map<std::string, qer::Scale> scales_;
  std::map<std::string, la::Matrix<double>> rxx_;
};

/// Q (decoded), L and R of a stored or freshly computed layer.
model::LinearOverride to_override(const store::LayerRecord& record);

/// Collective over `comm`: every rank gets the overrides of every linear layer. Layer i is computed (or
/// read) by rank i mod size and broadcast, so the work is spread and the result is the same on any rank count.
std::map<std::string, model::LinearOverride> quantize_all(const model::Checkpoint& ckpt, LayerQuantizer& q,
                                                          const dist::Communicator& comm);
/// Reads every layer of a finished store (each rank may call it: read-only opens are allowed in parallel).
std::map<std::string, model::LinearOverride> load_store(const std::filesystem::path& store);

}  // namespace srr::app
