// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The calibration file (docs/store.md): per-input statistics (qer::InputStatistics) keyed by
/// model::statistics_key, written once by `srr calibrate` and read by every worker of `srr quantize`.
///
/// Layout (format version 2): root attributes `format` = "srr-calibration", `format_version` = 2, `settings`
/// (JSON text of how the statistics were gathered) and `identity` (JSON text: the checkpoint they were
/// gathered on and `content_sha256`, a SHA-256 over every key and its input's checksum); one group
/// `/inputs/<key>/` per input with datasets `mean_abs_max` [m] f64, `sum_sq` [m] f64, optional `xtx` [m][m]
/// f64 and attributes `tokens` (int64) and `sha256` (hex SHA-256 of the key and all of the input's values).
/// Every read checks the input's checksum, so changed or damaged statistics never reach a result. Serial
/// HDF5; read-only opens may run on many ranks.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "base/file_lock.hpp"
#include "qer/statistics.hpp"
#include "store/hdf5.hpp"

namespace srr::store {

/// Writes `stats` atomically (a temporary file in the same directory, fsync, rename), so a reader never
/// sees a half-written file. Every entry is validated first (InputError naming the key). `settings_json`
/// and `checkpoint_identity` are JSON texts recorded in the file ("null" when unknown).
void write_calibration(const std::filesystem::path& path, const std::map<std::string, qer::InputStatistics>& stats,
                       const std::string& settings_json, const std::string& checkpoint_identity = "null");

/// The statistics of one input, validated. InputError naming the file and the key when it is missing;
/// ChecksumError when they do not match their checksum, or (with `expected_sha256`) when the checksum is not
/// the one the caller pinned at the start of its run (the file was rewritten meanwhile).
qer::InputStatistics read_statistics(const std::filesystem::path& path, const std::string& key,
                                     const std::string& expected_sha256 = "");

/// What the file holds, read from metadata only (cheap even when the file is large).
struct CalibrationEntry {
  la::index_t dim = 0;
  std::int64_t tokens = 0;
  bool has_xtx = false;
  std::string sha256;  ///< the input's checksum (hex)
};
struct CalibrationInfo {
  std::string settings;  ///< JSON text
  std::string identity;  ///< JSON text {"checkpoint", "content_sha256", "inputs"}
  std::map<std::string, CalibrationEntry> inputs;
};
CalibrationInfo describe_calibration(const std::filesystem::path& path);

/// JSON text that recognises a calibration file's content wherever it lies: {"path", "content_sha256",
/// "checkpoint"}. A store records it; resuming with a file of other content is refused. The content hash is
/// recomputed from the inputs' checksums (not taken from the file's own record, which must agree: else
/// ChecksumError), and each input's data is checked against its checksum when it is read.
std::string calibration_identity(const std::filesystem::path& path);

/// Reads every input and checks it against its checksum, and the checksums against the content hash:
/// ChecksumError (or InputError for a damaged file) naming what fails.
void verify_calibration(const std::filesystem::path& path);

/// The lock that keeps a calibration file fixed while a run reads it: `<path>.lock`, shared for a quantize
/// run (held by its master for the whole run), exclusive for srr calibrate (held from the check of --out
/// to the publication of the new file). Never waits: InputError saying who is in the way. A reader gets
/// std::nullopt when the directory holding the file is not writable (shared data): then srr cannot
/// replace the file there either, and each input is still checked against its checksum when read.
std::filesystem::path calibration_lock_path(const std::filesystem::path& path);
std::optional<FileLock> lock_calibration(const std::filesystem::path& path, LockMode mode);

/// What `srr calibrate --out` will do with its target.
enum class CalibrationTarget {
  absent,   ///< nothing there: write it
  reuse,    ///< an intact srr calibration file made with the same settings from the same checkpoint
  replace,  ///< an srr calibration file made otherwise, and --overwrite was given
};
/// Decides what `srr calibrate --out path` may do, without touching the file. Refused (InputError), always:
/// an empty path, a path whose directory does not exist, a symbolic link, a directory or special file, and
/// any existing file that is not an srr calibration file (a model, a text, a store...). Refused unless
/// `overwrite`: an srr calibration file made with other settings (`settings_json`, compared without
/// "tokens"), from another checkpoint (`checkpoint_identity`, compared without its path), by another format
/// version, or that fails its checksums; the message lists every difference.
CalibrationTarget check_calibration_target(const std::filesystem::path& path, const std::string& settings_json,
                                           const std::string& checkpoint_identity, bool overwrite);

}  // namespace srr::store
