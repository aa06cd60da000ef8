// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// A point's result file, `<results>/<grid>/points/<id>.h5`: what `srr sweep run` leaves behind and the
/// only thing `srr sweep collect` reads. One small HDF5 file per point (toolchain.md P11: one file per array
/// task, linked from an index), written atomically, so a file that exists is complete. It holds no path of
/// the machine it was made on: settings are kept as written in the grid (`${SRR_DATA_DIR}/…`).
///
/// Layout: root attributes `format` = "srr-sweep-point", `format_version`, `id`, `settings` (JSON object of
/// the canonical settings), `result` (JSON: status, message, perplexity, protocol, tokens, seconds per step,
/// tool version, layer names, bits per weight) and, for quantized points, one float64/int64 dataset per layer metric in the
/// order of `result.layers`: `k_star`, `in`, `out`, `rel_error`, `rel_error_scaled`, `rel_error_act`.

#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "store/store.hpp"
#include "sweep/grid.hpp"

namespace srr::sweep {

namespace fs = std::filesystem;

/// Per-layer metrics copied from the point's store (docs/store.md).
struct LayerMetrics {
  std::string name;
  std::int64_t in = 0, out = 0, k_star = 0;
  double rel_error = 0, rel_error_scaled = 0, rel_error_act = 0;
  bool operator==(const LayerMetrics&) const = default;
};

struct PointResult {
  std::string id;
  Settings settings;
  std::string status = "done";  ///< done | failed
  std::string message;          ///< why it failed (the failing step's last error line)
  std::string protocol;         ///< stream | wikitext
  double perplexity = std::numeric_limits<double>::quiet_NaN();  ///< token (stream) or word (wikitext) perplexity
  double tokens = 0;                                             ///< predicted tokens scored
  /// Average bits per linear weight of the quantized model (sweep::bits_per_weight of the store's layout); NaN for
  /// fp32 and for points written before it was recorded.
  double bits_per_weight = std::numeric_limits<double>::quiet_NaN();
  std::vector<LayerMetrics> layers;                              ///< empty for fp32
  std::map<std::string, double> seconds;                         ///< wall time per step (not compared)
  std::string tool_version;
};

/// Writes the file atomically (temporary name, fsync, rename).
void write_point_file(const fs::path& path, const PointResult& r);
/// Reads it back; InputError naming the file when it is not a point file.
PointResult read_point_file(const fs::path& path);

/// Mean of a metric over the layers (NaN when there are none or none is finite).
double layer_mean(const std::vector<LayerMetrics>& layers, double LayerMetrics::*metric);

/// Average bits per linear weight of a store layout, each layer at its own bits and rank, as srr allocate
/// counts them (qer::layer_bits); NaN without layers.
double bits_per_weight(const store::StoreLayout& layout);

}  // namespace srr::sweep
