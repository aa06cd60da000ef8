// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The calibration file (docs/store.md): per-input statistics (qer::InputStatistics) keyed by
/// model::statistics_key, written once by `srr calibrate` and read by every worker of `srr quantize`.
///
/// Layout: root attributes `format` = "srr-calibration", `settings` (JSON text of how the statistics were
/// gathered) and `identity` (JSON text: the checkpoint they were gathered on and a SHA-256 of the content);
/// one group `/inputs/<key>/` per input with datasets `mean_abs_max` [m] f64, `sum_sq` [m] f64, optional
/// `xtx` [m][m] f64 and attribute `tokens` (int64). Serial HDF5; read-only opens may run on many ranks.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "qer/statistics.hpp"

namespace srr::store {

/// Writes `stats` atomically (a temporary file in the same directory, fsync, rename), so a reader never
/// sees a half-written file. Every entry is validated first (InputError naming the key). `settings_json`
/// and `checkpoint_identity` are JSON texts recorded in the file ("null" when unknown).
void write_calibration(const std::filesystem::path& path, const std::map<std::string, qer::InputStatistics>& stats,
                       const std::string& settings_json, const std::string& checkpoint_identity = "null");

/// The statistics of one input, validated. InputError naming the file and the key when it is missing.
qer::InputStatistics read_statistics(const std::filesystem::path& path, const std::string& key);

/// What the file holds, read from metadata only (cheap even when the file is large).
struct CalibrationEntry {
  la::index_t dim = 0;
  std::int64_t tokens = 0;
  bool has_xtx = false;
};
struct CalibrationInfo {
  std::string settings;  ///< JSON text
  std::string identity;  ///< JSON text {"checkpoint", "content_sha256", "inputs"}
  std::map<std::string, CalibrationEntry> inputs;
};
CalibrationInfo describe_calibration(const std::filesystem::path& path);

/// JSON text that recognises a calibration file's content wherever it lies: {"path", "content_sha256",
/// "checkpoint"}. A store records it; resuming with a file of other content is refused.
std::string calibration_identity(const std::filesystem::path& path);

}  // namespace srr::store
