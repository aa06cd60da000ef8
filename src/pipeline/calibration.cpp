// SPDX-License-Identifier: MIT
#include "pipeline/calibration.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "base/error.hpp"
#include "base/files.hpp"
#include "base/timer.hpp"
#include "la/lapack.hpp"
#include "model/forward.hpp"
#include "model/linear_inputs.hpp"
#include "pipeline/log.hpp"
#include "pipeline/ranks.hpp"

namespace srr::pipeline {

using la::index_t;
using la::Matrix;

// ---- StatisticsMap ----

void StatisticsMap::begin(const std::string& key, const qer::InputStatistics& s) {
  qer::InputStatistics copy = s;
  copy.xtx = Matrix<double>();
  stats[key] = std::move(copy);
  current_ = key;
}

void StatisticsMap::write_xtx_columns(index_t j0, index_t j1, std::span<const double> packed) {
  auto& s = stats.at(current_);
  if (s.xtx.empty()) s.xtx = Matrix<double>(s.dim, s.dim);
  const double* p = packed.data();
  for (index_t j = j0; j < j1; ++j) {
    std::copy(p, p + (s.dim - j), s.xtx.col(j) + j);
    p += s.dim - j;
  }
}

void StatisticsMap::end() {
  auto& s = stats.at(current_);
  if (s.has_xtx()) s.symmetrize();
}

// ---- the layer loop ----

std::vector<std::pair<std::string, index_t>> layer_inputs(const model::Checkpoint& ckpt, int layer) {
  std::vector<std::pair<std::string, index_t>> out;
  const auto names = model::linear_layer_names(ckpt.config());
  for (std::size_t j = 0; j < 7; ++j) {
    const std::string& name = names[static_cast<std::size_t>(layer) * 7 + j];
    const std::string key = model::statistics_key(name);
    if (out.empty() || out.back().first != key)  // q/k/v and gate/up are adjacent in linear_layer_names()
      out.emplace_back(key, static_cast<index_t>(ckpt.shape(name + ".weight").at(1)));
  }
  return out;
}

namespace {

/// Packs, in place, columns 0..w−1 of the (M × w) panel P (leading dimension M) into the lower-triangle
/// layout: column c keeps rows c..M−1. Every destination lies at or before its source, so a forward pass
/// with memmove is safe. Returns the packed length.
std::size_t pack_in_place(double* P, index_t M, index_t w) {
  std::size_t at = 0;
  for (index_t c = 0; c < w; ++c) {
    const auto n = static_cast<std::size_t>(M - c);
    std::memmove(P + at, P + static_cast<std::size_t>(c) * M + c, n * sizeof(double));
    at += n;
  }
  return at;
}

}  // namespace

index_t xtx_panel_width(index_t m, std::size_t panel_bytes) {
  // A panel's GEMM also computes the strict upper half of its w×w top block, which is dropped: about w/m of
  // the work over all panels. At most m/16 columns (≥ 256, the GEMM's efficient size) keeps that ≤ 6 %.
  const auto by_bytes = static_cast<index_t>(panel_bytes / (sizeof(double) * static_cast<std::size_t>(m)));
  return std::clamp<index_t>(std::min(by_bytes, std::max<index_t>(256, m / 16)), 1, m);
}

std::size_t xtx_panel(const Matrix<double>& X, index_t rows, index_t j0, index_t w, double* panel) {
  const index_t m = X.cols(), M = m - j0;
  if (rows > 0) {
    // Rows j0..m−1 of XᵀX[:, j0:j0+w] = X[:, j0:]ᵀ · X[:, j0:j0+w] (the top block's strict upper part is
    // computed and dropped, see xtx_panel_width).
    la::gemm(la::Op::T, la::Op::N, M, w, rows, 1.0, X.col(j0), X.rows(), X.col(j0), X.rows(), 0.0, panel, M);
  } else {
    std::fill(panel, panel + static_cast<std::ptrdiff_t>(M) * w, 0.0);
  }
  return pack_in_place(panel, M, w);
}

namespace {

/// One distinct input of the current layer on this rank: its statistics without XᵀX, and every token's
/// value, widened to float64 once so that XᵀX is plain GEMMs.
struct CapturedInput {
  std::string key;
  qer::InputStatistics stats;
  Matrix<double> X;  ///< this rank's tokens × m
  index_t rows = 0;  ///< filled so far
};

/// Resets `inputs` to capture `keys` (input key → width) over `tokens` rows, keeping the buffers of inputs
/// whose width is unchanged.
void capture_into(std::vector<CapturedInput>& inputs, const std::vector<std::pair<std::string, index_t>>& keys,
                  index_t tokens) {
  inputs.resize(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto& in = inputs[i];
    const auto& [key, m] = keys[i];
    in.key = key;
    in.stats = qer::make_statistics(m, false);
    if (in.X.rows() != tokens || in.X.cols() != m) in.X = Matrix<double>(tokens, m);
    in.rows = 0;
  }
}

/// One progress line per computed decoder layer: a 7B or 70B calibration runs for tens of minutes.
void log_layer_done(int layer, int layers, const CalibrationReport& r, double elapsed) {
  const int left = layers - 1 - layer;
  SRR_LOG(info) << "calibrate: layer " << layer + 1 << "/" << layers << " done after " << std::lround(elapsed)
                << " s (forward " << std::lround(r.forward_seconds) << " s, statistics "
                << std::lround(r.statistics_seconds) << " s, reductions " << std::lround(r.reduce_seconds)
                << " s, writing " << std::lround(r.write_seconds) << " s so far); about "
                << std::lround(elapsed / r.layers_computed * left) << " s to go";
}

class LayerCalibrator {
public:
  LayerCalibrator(const CalibrationSettings& settings, const parallel::Communicator& comm, StatisticsSink* sink,
                  CalibrationReport& report)
      : settings_(settings), comm_(comm), sink_(sink), report_(report) {}

  /// Reduces the captured statistics onto rank 0 and hands them to the sink, input by input. Collective.
  void reduce_and_write(std::vector<CapturedInput>& inputs) {
    for (auto& in : inputs) {
      auto& s = in.stats;
      Stopwatch t;
      comm_.reduce(std::span<double>(s.mean_abs_max), parallel::ReduceOp::Max, 0);
      comm_.reduce(std::span<double>(s.sum_sq), parallel::ReduceOp::Sum, 0);
      comm_.reduce(std::span<std::int64_t>(&s.tokens, 1), parallel::ReduceOp::Sum, 0);
      report_.reduce_seconds += t.seconds();
      const bool write = comm_.rank() == 0 && !sink_->done(in.key);
      if (write) timed_write([&] { sink_->begin(in.key, s); });
      if (settings_.with_xtx) xtx_panels(in, write);
      if (write) timed_write([&] { sink_->end(); });
    }
    if (comm_.rank() == 0) timed_write([&] { sink_->commit(); });
  }

private:
  template <class F>
  void timed_write(F&& f) {
    Stopwatch t;
    f();
    report_.write_seconds += t.seconds();
  }

  /// XᵀX of one input in column panels: each panel's part of the lower triangle by one GEMM over all of this
  /// rank's tokens, summed onto rank 0 and written there before the next panel is computed.
  void xtx_panels(const CapturedInput& in, bool write) {
    const index_t m = in.stats.dim, T = in.rows, width = xtx_panel_width(m, settings_.panel_bytes);
    std::vector<double> panel(static_cast<std::size_t>(m) * static_cast<std::size_t>(width));
    for (index_t j0 = 0; j0 < m; j0 += width) {
      const index_t w = std::min(width, m - j0);
      Stopwatch t;
      const std::size_t n = xtx_panel(in.X, T, j0, w, panel.data());
      report_.xtx_flops += 2 * static_cast<std::int64_t>(m - j0) * w * T;
      report_.statistics_seconds += t.seconds();
      t.restart();
      comm_.reduce(std::span<double>(panel.data(), n), parallel::ReduceOp::Sum, 0);
      report_.reduce_seconds += t.seconds();
      if (write) timed_write([&] { sink_->write_xtx_columns(j0, j0 + w, std::span<const double>(panel.data(), n)); });
    }
  }

  const CalibrationSettings& settings_;
  const parallel::Communicator& comm_;
  StatisticsSink* sink_;
  CalibrationReport& report_;
};

}  // namespace

CalibrationReport calibrate(const model::Checkpoint& ckpt, const std::vector<std::vector<int>>& windows,
                            const CalibrationSettings& settings, const parallel::Communicator& comm,
                            StatisticsSink* sink) {
  require(comm.rank() != 0 || sink != nullptr, "calibrate: rank 0 needs a sink for the statistics");
  CalibrationReport report;
  Stopwatch t;
  const model::LayerwiseForward forward(ckpt);
  std::vector<Matrix<float>> hidden;  // this rank's windows, as they pass through the layers
  index_t my_tokens = 0;
  for_my_share(windows.size(), comm, [&](std::size_t w) {
    hidden.push_back(forward.embed(windows[w]));
    my_tokens += hidden.back().rows();
  });
  report.forward_seconds += t.seconds();
  std::int64_t total = 0;
  for (const auto& w : windows) total += static_cast<std::int64_t>(w.size());
  report.tokens = total;

  const int layers = ckpt.config().layers;
  std::vector<int> kept(static_cast<std::size_t>(layers), 0);  // rank 0's verdict, for every rank
  if (comm.rank() == 0)
    for (int l = 0; l < layers; ++l) {
      bool all = true;
      for (const auto& [key, m] : layer_inputs(ckpt, l)) all = all && sink->done(key);
      kept[static_cast<std::size_t>(l)] = all ? 1 : 0;
    }
  comm.bcast(std::span<int>(kept), 0);

  LayerCalibrator calibrator(settings, comm, sink, report);
  std::vector<CapturedInput> inputs;
  const Stopwatch run_time;
  for (int l = 0; l < layers; ++l) {
    t.restart();
    const model::DecoderLayer layer = model::DecoderLayer::load(ckpt, l);
    if (kept[static_cast<std::size_t>(l)]) {
      for (auto& X : hidden) forward.apply(layer, X);
      report.forward_seconds += t.seconds();
      ++report.layers_kept;
      continue;
    }
    // Every decoder layer has inputs of the same widths: their token buffers are allocated once and reused,
    // so that the heap does not fragment layer after layer (peak RSS independent of depth, app.depth_rss).
    capture_into(inputs, layer_inputs(ckpt, l), my_tokens);
    double statistics_s = 0;
    for (auto& X : hidden) {
      std::set<std::string> seen;  // q/k/v and gate/up report one input three and two times
      forward.apply(layer, X, [&](const std::string& name, const Matrix<float>& in) {
        const std::string key = model::statistics_key(name);
        if (!seen.insert(key).second) return;
        Stopwatch s;
        auto& c = *std::find_if(inputs.begin(), inputs.end(), [&](const CapturedInput& i) { return i.key == key; });
        c.stats.accumulate(in, false);
        for (index_t j = 0; j < in.cols(); ++j) std::copy(in.col(j), in.col(j) + in.rows(), c.X.col(j) + c.rows);
        c.rows += in.rows();
        statistics_s += s.seconds();
      });
    }
    report.statistics_seconds += statistics_s;
    report.forward_seconds += t.seconds() - statistics_s;
    calibrator.reduce_and_write(inputs);
    ++report.layers_computed;
    if (comm.rank() == 0) log_layer_done(l, layers, report, run_time.seconds());
  }
  return report;
}

std::vector<store::CalibrationInput> calibration_layout(const model::Checkpoint& ckpt, bool with_xtx) {
  std::vector<store::CalibrationInput> layout;
  for (int l = 0; l < ckpt.config().layers; ++l)
    for (const auto& [key, m] : layer_inputs(ckpt, l)) layout.push_back({key, m, with_xtx});
  return layout;
}

std::uint64_t most_tokens_per_rank(const std::vector<std::vector<int>>& windows, int ranks) {
  std::uint64_t most = 0;
  for (int r = 0; r < ranks; ++r) {
    std::uint64_t n = 0;
    for (auto w = static_cast<std::size_t>(r); w < windows.size(); w += static_cast<std::size_t>(ranks))
      n += windows[w].size();
    most = std::max(most, n);
  }
  return most;
}

std::optional<CalibrationOutput> open_calibration_output(const std::filesystem::path& out,
                                                         const std::vector<store::CalibrationInput>& layout,
                                                         const std::string& settings_json,
                                                         const std::string& checkpoint_identity, bool overwrite,
                                                         const parallel::Communicator& comm) {
  CalibrationOutput output;
  std::exception_ptr refused;
  int verdict = 0;
  if (comm.rank() == 0) {
    try {
      output.lock = store::lock_calibration(out, LockMode::exclusive);
      remove_stale_temporaries(out);
      output.target = store::check_calibration_target(out, settings_json, checkpoint_identity, overwrite);
      if (output.target == store::CalibrationTarget::absent || output.target == store::CalibrationTarget::replace)
        store::create_calibration(out, layout, settings_json, checkpoint_identity);
      verdict = static_cast<int>(output.target);
    } catch (const InputError&) {
      refused = std::current_exception();
      verdict = -1;
    }
  }
  verdict = comm.bcast_value(verdict, 0, parallel::Wait::Poll);
  if (refused) std::rethrow_exception(refused);
  if (verdict < 0) return std::nullopt;
  output.target = static_cast<store::CalibrationTarget>(verdict);
  return output;
}

}  // namespace srr::pipeline
