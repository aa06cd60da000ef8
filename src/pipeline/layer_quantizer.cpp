// SPDX-License-Identifier: MIT
#include "pipeline/layer_quantizer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/error.hpp"
#include "base/timer.hpp"
#include "la/lapack.hpp"
#include "model/linear_inputs.hpp"
#include "qer/layer.hpp"
#include "store/calibration.hpp"
#include "export/export.hpp"
#include "store/store.hpp"

namespace srr::pipeline {

using la::index_t;

LayerQuantizer::LayerQuantizer(const model::Checkpoint& ckpt, qer::MethodSettings settings, std::filesystem::path calib,
                               std::unique_ptr<qer::SvdEngine> engine)
    : ckpt_(ckpt), settings_(std::move(settings)), calib_(std::move(calib)), engine_(std::move(engine)) {
  if (!engine_) engine_ = std::make_unique<qer::LocalSvdEngine>(settings_.svd);
  const bool needs_stats = settings_.scale.kind != qer::ScaleKind::Identity && settings_.layer.method != qer::Method::Loftq &&
                           settings_.layer.method != qer::Method::WeightOnly;
  require(!needs_stats || !calib_.empty(), "--scale ", qer::to_string(settings_.scale.kind),
          " needs calibration statistics: give --calib FILE (from srr calibrate)");
  // The checksums as they are now: every input read later must still match them.
  if (!calib_.empty())
    for (const auto& [key, entry] : store::describe_calibration(calib_).inputs) pinned_[key] = entry.sha256;
}

const LayerQuantizer::Input& LayerQuantizer::input_for(const std::string& key, const std::string& layer, index_t in) {
  for (auto it = cache_.begin(); it != cache_.end(); ++it)
    if (it->key == key) {
      std::rotate(cache_.begin(), it, it + 1);
      return cache_.front();
    }
  Input input{key, nullptr, nullptr};
  if (calib_.empty()) {
    input.scale = std::make_unique<qer::Scale>(qer::Scale::identity(in));
  } else {
    const auto pinned = pinned_.find(key);
    const qer::InputStatistics stats =
        store::read_statistics(calib_, key, pinned == pinned_.end() ? std::string() : pinned->second);
    require(stats.dim == in, "calibration file '", calib_.string(), "': input '", key, "' has dimension ", stats.dim,
            " but layer ", layer, " has ", in, " inputs (statistics of another model?)");
    input.scale = std::make_unique<qer::Scale>(qer::build_scale(stats, settings_.scale, key, engine_.get()));
    if (stats.has_xtx()) input.rxx = std::make_unique<la::Matrix<double>>(stats.rxx());
  }
  ++scales_built_;
  cache_.push_front(std::move(input));
  if (cache_.size() > kCacheSize) cache_.pop_back();
  return cache_.front();
}

double LayerQuantizer::activation_energy(const std::string& name) {
  const auto W = ckpt_.linear_weight(name).cast<double>();
  const Input& input = input_for(model::statistics_key(name), name, W.rows());
  require(input.rxx != nullptr, "layer ", name, ": the calibration file holds no XᵀX (rerun srr calibrate without --no-xtx)");
  const auto RW = la::matmul(*input.rxx, W);
  double energy = 0;
  for (index_t i = 0; i < W.size(); ++i) energy += W.data()[i] * RW.data()[i];
  return energy;
}

namespace {
/// Refuses weights the decomposition cannot take: non-finite ones, and ones so large that ‖W‖²_F overflows
/// float32 (LAPACK then fails with a bare "info = -4"). Real weights are many orders of magnitude smaller.
void require_decomposable(const la::Matrix<float>& W, const std::string& layer) {
  double max_abs = 0;
  for (index_t j = 0; j < W.cols(); ++j)
    for (index_t i = 0; i < W.rows(); ++i) {
      const float w = W(i, j);
      require(std::isfinite(w), "layer ", layer, ": weight [", j, "][", i, "] is ", w, " (the checkpoint is damaged)");
      max_abs = std::max(max_abs, static_cast<double>(std::fabs(w)));
    }
  const double bound = std::sqrt(static_cast<double>(std::numeric_limits<float>::max()) /
                                 (static_cast<double>(W.rows()) * static_cast<double>(W.cols())));
  require(max_abs <= bound, "layer ", layer, ": weights up to ", max_abs, " in magnitude overflow float32 arithmetic ",
          "(the sum of their squares exceeds ", std::numeric_limits<float>::max(), "; at most ", bound,
          " is usable): the checkpoint is damaged or not a weight file");
}
}  // namespace

store::LayerRecord LayerQuantizer::run(const std::string& name, const qer::LayerSettings& layer) {
  Stopwatch all, read_time;
  const auto W = ckpt_.linear_weight(name);
  require_decomposable(W, name);
  const double read_seconds = read_time.seconds();
  Stopwatch scale_time;
  const Input& input = input_for(model::statistics_key(name), name, W.rows());
  const double scale_seconds = scale_time.seconds();
  const auto& S = *input.scale;
  store::LayerRecord record =
      settings_.float64
          ? store::make_record(qer::decompose_layer(W.cast<double>(), S, layer, name, *engine_, input.rxx.get()),
                               S.report())
          : store::make_record(qer::decompose_layer(W, S, layer, name, *engine_, input.rxx.get()), S.report());
  record.seconds.set(qer::Stage::Read, read_seconds);
  record.seconds.set(qer::Stage::Scale, scale_seconds);
  record.seconds.set(qer::Stage::Layer, all.seconds());
  return record;
}

}  // namespace srr::pipeline
