// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Quantized weights for the forward pass, W ≈ Q + L·R per linear layer, from a store or computed on the
/// spot: the one place `quantize`, `eval` and the tests decompose layers.

#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "model/checkpoint.hpp"
#include "model/forward.hpp"
#include "parallel/mpi.hpp"
#include "qer/method.hpp"
#include "qer/scale.hpp"
#include "qer/svd.hpp"
#include "store/record.hpp"

namespace srr::pipeline {

/// Decomposes layers of one checkpoint: weights from the memory-mapped checkpoint, statistics from the
/// calibration file, scales cached by input in a small LRU (layers that share an input share its scale,
/// method.md §4.1; the scheduler sends an input's layers to one worker, and a few m×m scales are
/// all a rank should hold for a 70B model). The one place `quantize`, `eval` and the tests decompose layers.
/// The calibration file's checksums are pinned at construction: statistics read later must match them
/// (store::read_statistics), so a file rewritten during a run stops the run instead of mixing statistics.
class LayerQuantizer {
public:
  /// Scales kept (most recently used first); bench_schedule's simulation keeps as many.
  static constexpr std::size_t kCacheSize = 2;

  /// `calib` empty: identity scales. `engine` null: LAPACK on this rank (qer::LocalSvdEngine).
  LayerQuantizer(const model::Checkpoint& ckpt, qer::MethodSettings settings, std::filesystem::path calib = {},
                 std::unique_ptr<qer::SvdEngine> engine = nullptr);
  /// The decomposition of one linear layer; depends only on (weights, statistics, settings, seed, name).
  /// Its timings include "read", "scale" and "layer" (the whole call).
  store::LayerRecord run(const std::string& name) { return run(name, settings_.layer); }
  /// The same with other layer settings (bits, rank, k rule) on the same scale: what `srr allocate` and
  /// per-layer plans need, without rebuilding the input's scale.
  store::LayerRecord run(const std::string& name, const qer::LayerSettings& layer);
  /// tr(WᵀR_xxW) of layer `name`: the activation energy its relative activation-aware error is measured
  /// against. InputError when the calibration file holds no XᵀX.
  double activation_energy(const std::string& name);
  const qer::MethodSettings& settings() const { return settings_; }
  std::int64_t scales_built() const { return scales_built_; }

private:
  struct Input {
    std::string key;
    std::unique_ptr<qer::Scale> scale;
    std::unique_ptr<la::Matrix<double>> rxx;  ///< null without XᵀX in the calibration file
  };
  const Input& input_for(const std::string& key, const std::string& layer, la::index_t in);

  const model::Checkpoint& ckpt_;
  qer::MethodSettings settings_;
  std::filesystem::path calib_;
  std::map<std::string, std::string> pinned_;  ///< each input's checksum when this object was made
  std::unique_ptr<qer::SvdEngine> engine_;
  std::deque<Input> cache_;  ///< most recently used first
  std::int64_t scales_built_ = 0;
};


}  // namespace srr::pipeline
