// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The stages of one layer whose wall time srr measures, named once. qer::decompose_layer times its own
/// stages (sw_svd … total); the pipeline adds the stages around it (read, scale, layer). The store keeps
/// the times as one float64 per stage in the order of Stage (docs/store.md, `seconds`).

#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <span>
#include <string_view>

namespace srr::qer {

/// read: W from the checkpoint; scale: building S (0 when cached); sw_svd: σ(S·W); k_select: choosing the
/// preserved set; quantize, scale_residual (S·(W − Q)), recon_svd: the reconstruction loop; metrics: the
/// errors; total: all of decompose_layer; layer: the worker's wall time for the whole layer.
enum class Stage { Read, Scale, SwSvd, KSelect, Quantize, ScaleResidual, ReconSvd, Metrics, Total, Layer };

/// The names of the stages, in the order of Stage: the keys of the JSON reports and of the store's
/// `timing_stages` attribute.
inline constexpr std::array<std::string_view, 10> kStageNames = {
    "read", "scale", "sw_svd", "k_select", "quantize", "scale_residual", "recon_svd", "metrics", "total", "layer"};
inline constexpr std::size_t kStageCount = kStageNames.size();
static_assert(static_cast<std::size_t>(Stage::Layer) + 1 == kStageCount, "kStageNames must name every Stage");

inline constexpr std::string_view to_string(Stage s) { return kStageNames[static_cast<std::size_t>(s)]; }
/// The stage called `name`, if any.
inline std::optional<Stage> stage_from_string(std::string_view name) {
  for (std::size_t i = 0; i < kStageCount; ++i)
    if (kStageNames[i] == name) return static_cast<Stage>(i);
  return std::nullopt;
}

/// Wall seconds per stage; a stage that did not run is NaN ("not measured"). Not deterministic: never
/// compared between runs.
class StageTimes {
public:
  StageTimes() { seconds_.fill(std::numeric_limits<double>::quiet_NaN()); }

  bool measured(Stage s) const { return !std::isnan(at(s)); }
  /// The stage's seconds, or `fallback` when it was not measured.
  double get(Stage s, double fallback = 0) const { return measured(s) ? at(s) : fallback; }
  void set(Stage s, double seconds) { at(s) = seconds; }
  /// Accumulates a stage that runs more than once (the reconstruction loop's stages).
  void add(Stage s, double seconds) { at(s) = get(s) + seconds; }

  /// Calls f(name, seconds) for every measured stage, in the order of Stage.
  template <class F>
  void for_each_measured(F&& f) const {
    for (std::size_t i = 0; i < kStageCount; ++i)
      if (!std::isnan(seconds_[i])) f(kStageNames[i], seconds_[i]);
  }

  /// Every stage's value in the order of Stage (NaN = not measured): how the store and the wire keep them.
  std::span<double, kStageCount> values() { return seconds_; }
  std::span<const double, kStageCount> values() const { return seconds_; }

private:
  double& at(Stage s) { return seconds_[static_cast<std::size_t>(s)]; }
  double at(Stage s) const { return seconds_[static_cast<std::size_t>(s)]; }
  std::array<double, kStageCount> seconds_;
};

}  // namespace srr::qer
