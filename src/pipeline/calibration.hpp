// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The calibration loop of `srr calibrate`: layer-sequential and token-parallel, as GPTQ-style tools run at
/// 7B–70B scale. Each rank embeds its share of the windows and keeps their hidden states; then, for each
/// decoder layer in turn, every rank loads that one layer from the memory-mapped checkpoint, runs it on its
/// tokens, captures the layer's four distinct linear inputs (q/k/v share one, gate/up share one, o_proj,
/// down_proj; method.md §4.1), and the layer's statistics (method.md §4) are reduced to rank 0, which hands
/// them to a sink (the calibration file) before the next layer starts. Memory per rank is one layer's
/// weights, the rank's activations and a bounded XᵀX panel, whatever the depth.
///
/// XᵀX is float64 (QERA-exact inverts its small eigenvalues) and computed as GEMMs over all of a rank's
/// tokens at once, one column panel at a time: Xᵀ·X[:, j0:j1] restricted to rows ≥ j0, i.e. the panel's part of
/// the lower triangle, packed, summed onto rank 0 (MPI_Reduce) and written straight into the file. A 70B
/// down_proj input (28672² doubles = 6.6 GB) therefore never sits whole on any rank.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/file_lock.hpp"
#include "model/checkpoint.hpp"
#include "parallel/mpi.hpp"
#include "qer/statistics.hpp"
#include "store/calibration.hpp"

namespace srr::pipeline {

/// Where rank 0 puts the statistics, input by input (store::CalibrationWriter's interface).
class StatisticsSink {
public:
  virtual ~StatisticsSink() = default;
  /// True when `key` was stored by an earlier run: it is neither written again nor, when all of a layer's
  /// inputs are done, computed again.
  virtual bool done(const std::string& key) const = 0;
  /// The input's token count and vectors (`s.xtx` empty); XᵀX follows in column panels, then end().
  virtual void begin(const std::string& key, const qer::InputStatistics& s) = 0;
  /// Columns [j0, j1) of XᵀX's lower triangle, packed column by column (column j holds rows j..m−1).
  virtual void write_xtx_columns(la::index_t j0, la::index_t j1, std::span<const double> packed) = 0;
  virtual void end() = 0;
  /// Called after each layer: everything ended so far becomes durable.
  virtual void commit() = 0;
};

/// A sink that keeps everything in memory, XᵀX unpacked and symmetric: tests, benchmarks, small models.
class StatisticsMap : public StatisticsSink {
public:
  bool done(const std::string&) const override { return false; }
  void begin(const std::string& key, const qer::InputStatistics& s) override;
  void write_xtx_columns(la::index_t j0, la::index_t j1, std::span<const double> packed) override;
  void end() override;
  void commit() override {}
  std::map<std::string, qer::InputStatistics> stats;

private:
  std::string current_;
};

/// The calibration file as a sink (store::CalibrationWriter): rank 0 of `srr calibrate`.
class CalibrationFileSink : public StatisticsSink {
public:
  explicit CalibrationFileSink(const std::filesystem::path& path) : writer_(path) {}
  bool done(const std::string& key) const override { return writer_.done(key); }
  void begin(const std::string& key, const qer::InputStatistics& s) override { writer_.begin(key, s); }
  void write_xtx_columns(la::index_t j0, la::index_t j1, std::span<const double> packed) override {
    writer_.write_xtx_columns(j0, j1, packed);
  }
  void end() override { writer_.end(); }
  void commit() override { writer_.commit(); }
  void close() { writer_.close(); }

private:
  store::CalibrationWriter writer_;
};

struct CalibrationSettings {
  bool with_xtx = true;
  /// Bound on one XᵀX panel (float64, per rank): the width of a panel is panel_bytes / (8·m) columns.
  std::size_t panel_bytes = std::size_t{256} << 20;
};

struct CalibrationReport {
  std::int64_t tokens = 0;  ///< over all ranks
  int layers_computed = 0, layers_kept = 0;
  double forward_seconds = 0;     ///< embedding, layer loads and decoder layers (this rank)
  double statistics_seconds = 0;  ///< Σ|x|, Σx² and the XᵀX GEMMs (this rank)
  double reduce_seconds = 0;      ///< waiting in and moving the reductions
  double write_seconds = 0;       ///< the sink (rank 0)
  std::int64_t xtx_flops = 0;     ///< of this rank's XᵀX GEMMs
};

/// Collective over `comm`: the statistics of every distinct linear-layer input over `windows`, rank i
/// taking windows i, i + np, …; each layer's partial statistics are reduced onto rank 0 (max for LQER's
/// running max, sums for Σx², XᵀX and the token count) and handed to `sink` there (other ranks may pass
/// nullptr). Equal for any rank count up to float64 summation order. Layers whose inputs the sink reports
/// done are run (the forward must pass through them) but their statistics are neither computed nor written.
CalibrationReport calibrate(const model::Checkpoint& ckpt, const std::vector<std::vector<int>>& windows,
                            const CalibrationSettings& settings, const parallel::Communicator& comm,
                            StatisticsSink* sink);

/// Columns of one XᵀX panel: within `panel_bytes` (float64, m rows), at most max(256, m/16), at least 1.
la::index_t xtx_panel_width(la::index_t m, std::size_t panel_bytes);
/// Columns [j0, j0 + w) of XᵀX's lower triangle over the first `rows` rows of X (tokens × m, float64), by one
/// GEMM, packed into `panel` (room for (m − j0)·w doubles) column by column; returns the packed length.
/// What calibrate() runs per panel and bench_model times.
std::size_t xtx_panel(const la::Matrix<double>& X, la::index_t rows, la::index_t j0, la::index_t w, double* panel);

/// The distinct inputs of decoder layer `layer` in the order calibrate() produces them, with their widths.
std::vector<std::pair<std::string, la::index_t>> layer_inputs(const model::Checkpoint& ckpt, int layer);

/// The calibration file's layout for `ckpt`: every layer's inputs, in calibrate()'s order.
std::vector<store::CalibrationInput> calibration_layout(const model::Checkpoint& ckpt, bool with_xtx);

/// The most tokens any rank holds when rank r takes windows r, r + np, … (what its memory plan must fit).
std::uint64_t most_tokens_per_rank(const std::vector<std::vector<int>>& windows, int ranks);

/// The output of a calibration run, checked and held.
struct CalibrationOutput {
  store::CalibrationTarget target = store::CalibrationTarget::absent;
  std::optional<FileLock> lock;  ///< rank 0: exclusive, for the whole run
};

/// Collective: rank 0 locks `out`, removes stale temporaries of earlier runs, and checks what is there
/// against `settings_json` and the checkpoint (store::check_calibration_target); an absent or replaceable
/// file is created with `layout` up front. Rank 0's verdict reaches every rank, so that all leave together:
/// on a refusal rank 0 throws the InputError and the other ranks get nullopt (they exit 0 and leave the
/// message and the exit code to rank 0, which mpiexec would otherwise kill before it prints).
std::optional<CalibrationOutput> open_calibration_output(const std::filesystem::path& out,
                                                         const std::vector<store::CalibrationInput>& layout,
                                                         const std::string& settings_json,
                                                         const std::string& checkpoint_identity, bool overwrite,
                                                         const parallel::Communicator& comm);

}  // namespace srr::pipeline
