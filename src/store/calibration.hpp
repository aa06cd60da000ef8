// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The calibration file (docs/store.md): per-input statistics (qer::InputStatistics) keyed by
/// model::statistics_key, written layer by layer by `srr calibrate` and read by every worker of `srr quantize`.
///
/// Layout (format version 3): root attributes `format` = "srr-calibration", `format_version` = 3, `settings`
/// (JSON text of how the statistics were gathered) and `identity` (JSON text: the checkpoint they were
/// gathered on and the input count); one group `/inputs/<key>/` per input with datasets `mean_abs_max` [m]
/// f64, `sum_sq` [m] f64, optional `xtx_packed` [m(m+1)/2] f64 (XᵀX's lower triangle, column by column),
/// `tokens` int64, `sha256` uint8[64] (hex SHA-256 of the key and all of the input's values) and `done` uint8.
/// The whole layout is created (and its disk blocks reserved) before any statistics exist; afterwards only
/// raw data is written, and an input's `done` byte is set only once its data is durable, so a killed run
/// loses nothing finished and the next run completes the file. The content hash (`content_sha256`) is
/// derived from the inputs' checksums of a complete file. Every read checks the input's checksum, so changed
/// or damaged statistics never reach a result. Serial HDF5; read-only opens may run on many ranks.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/file_lock.hpp"
#include "qer/statistics.hpp"
#include "store/hdf5.hpp"

namespace srr::store {

/// One input of a calibration file's layout.
struct CalibrationInput {
  std::string key;  ///< model::statistics_key
  la::index_t dim = 0;
  bool with_xtx = true;
};

/// Bytes a calibration file of these inputs takes on disk (data plus a bound on HDF5's metadata).
std::uint64_t calibration_file_bytes(const std::vector<CalibrationInput>& inputs);

/// Creates the file at `path` with its whole layout and no statistics (every input not done): built under a
/// temporary name, its disk blocks reserved, fsynced and renamed onto `path` (replacing what is there: the
/// caller decided that with check_calibration_target). InputError before anything is written when the disk
/// has fewer free bytes than the file needs (both numbers in the message), or a key is unusable.
void create_calibration(const std::filesystem::path& path, const std::vector<CalibrationInput>& inputs,
                        const std::string& settings_json, const std::string& checkpoint_identity = "null");

/// Writes statistics into a file made by create_calibration, input by input: begin() with the small
/// vectors and the token count, XᵀX's packed lower triangle in column panels in order, end(); commit()
/// makes every ended input durable and only then marks it done. Serial: one rank (the writer) only.
class CalibrationWriter {
public:
  explicit CalibrationWriter(const std::filesystem::path& path);
  /// Whether `key` is already done (from an earlier run, or committed by this one).
  bool done(const std::string& key) const;
  /// Starts input `key` (not done): `s` holds dim, tokens, mean_abs_max and sum_sq (its xtx is ignored).
  void begin(const std::string& key, const qer::InputStatistics& s);
  /// Columns [j0, j1) of XᵀX's lower triangle, packed (column j holds rows j..m−1); panels come in
  /// column order and cover every column before end().
  void write_xtx_columns(la::index_t j0, la::index_t j1, std::span<const double> packed);
  /// Finishes the current input: validates what was written and stores its checksum (not yet done).
  void end();
  /// Flush and fsync, set the done byte of every ended input, flush and fsync again.
  void commit();
  /// Closes the file (reporting HDF5 failures).
  void close();

private:
  struct Current;
  std::filesystem::path path_;
  std::string name_;
  Hid file_;
  std::map<std::string, bool> done_;
  std::vector<std::string> ended_;
  std::shared_ptr<Current> current_;
};

/// create_calibration, then every input of `stats` written and committed: the whole file at once (tests,
/// tools). Every entry is validated first (InputError naming the key). `settings_json` and
/// `checkpoint_identity` are JSON texts recorded in the file ("null" when unknown).
void write_calibration(const std::filesystem::path& path, const std::map<std::string, qer::InputStatistics>& stats,
                       const std::string& settings_json, const std::string& checkpoint_identity = "null");

/// The statistics of one input, validated, with XᵀX unpacked to a full symmetric matrix. InputError naming the
/// file and the key when it is missing or not done yet;
/// ChecksumError when they do not match their checksum, or (with `expected_sha256`) when the checksum is not
/// the one the caller pinned at the start of its run (the file was rewritten meanwhile).
qer::InputStatistics read_statistics(const std::filesystem::path& path, const std::string& key,
                                     const std::string& expected_sha256 = "");

/// What the file holds, read from metadata only (cheap even when the file is large).
struct CalibrationEntry {
  la::index_t dim = 0;
  std::int64_t tokens = 0;
  bool has_xtx = false;
  std::string sha256;  ///< the input's checksum (hex); empty when not done
  bool done = false;
};
struct CalibrationInfo {
  std::string settings;  ///< JSON text
  std::string identity;  ///< JSON text {"checkpoint", "content_sha256", "inputs"}
  std::map<std::string, CalibrationEntry> inputs;
  /// Inputs not done yet (a run was killed, or is still writing).
  std::size_t missing() const;
};
CalibrationInfo describe_calibration(const std::filesystem::path& path);

/// JSON text that recognises a calibration file's content wherever it lies: {"path", "content_sha256",
/// "checkpoint"}. A store records it; resuming with a file of other content is refused. The content hash is
/// computed from the inputs' checksums, and each input's data is checked against its checksum when it is
/// read. InputError when the file is not complete.
std::string calibration_identity(const std::filesystem::path& path);

/// Reads every done input and checks it against its checksum: ChecksumError (or InputError for a damaged
/// file) naming what fails.
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
  reuse,    ///< an intact, complete srr calibration file made with the same settings from the same checkpoint
  resume,   ///< the same, not complete (a killed run): its done inputs are intact and kept
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
