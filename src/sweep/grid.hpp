// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Grid files, their expansion into points, point identities and the manifest (docs/sweep.md).
///
/// A point is a set of settings: `key → value` strings, exactly as written in the grid (paths keep their
/// `${SRR_DATA_DIR}`, so nothing of the machine leaks into ids or committed files). Two kinds of keys:
///   * data keys say which model and which text: `model`, `tokenizer`, and per slice `calib.K` / `eval.K`
///     for K in text, ctx, max-chars, windows, skip-windows (plus `eval.protocol`). A bare `K` in the grid
///     sets both slices;
///   * every other key is an option of `srr quantize` (method, scale, bits, rank, k-rule, iters, seed, …),
///     checked by the command line, not here. `method = fp32` is the sweep's own: evaluate the unquantized
///     model;
///   * allocation keys: a point with `budget` (average bits per weight) is quantized with the plan `srr
///     allocate` makes for it (`bits-set`, `rank-set` and `weighting` go to allocate, the sets written as one
///     value with commas in [fixed]); its `bits` and `rank` are dropped, as the plan decides them.
/// Settings a method ignores are dropped (canonical()), so points that compute the same thing get the same
/// id and run once: QER under four k-rules is one point, w-only has no rank, fp32 no calibration.

#include <filesystem>
#include <istream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace srr::sweep {

namespace fs = std::filesystem;

using Settings = std::map<std::string, std::string>;

/// One axis: a key and its values, in the order written.
struct Axis {
  std::string key;
  std::vector<std::string> values;
};

/// One `[axes]` or `[axes.NAME]` section: the product of its axes (the first axis varies slowest) on top
/// of [data] and [fixed]. A grid is the union of its sub-grids.
struct SubGrid {
  std::string name;
  std::vector<Axis> axes;
};

/// [run]: how array tasks run.
struct RunSettings {
  int np = 1;                     ///< MPI ranks per task
  int throttle = 2;               ///< array tasks running at once (sbatch --array=…%N)
  std::string time;               ///< Slurm time limit per task ("" = the partition's)
  std::string launcher = "auto";  ///< auto | direct | srun | mpirun (auto: direct for np = 1, else srun
                                  ///< inside a Slurm job, else mpirun)
};

/// [report]: how collect lays out summary.md.
struct ReportSettings {
  std::string title;
  std::string pivot;  ///< a key whose values become the columns of the perplexity table (e.g. rank)
};

struct Grid {
  std::string name;  ///< the file name without extension; results go to <results>/<name>/
  Settings data;     ///< [data]
  Settings fixed;    ///< [fixed]
  std::vector<SubGrid> subgrids;
  RunSettings run;
  ReportSettings report;
};

/// Parses a grid. InputError "<file>:<line>: …" for unknown sections, data keys outside [data]/[axes],
/// method keys in [data], lists in [fixed], empty or repeated axis values and bad [run]/[report] values.
Grid parse_grid(std::istream& in, const std::string& name, const std::string& file);
/// Reads `path`; the grid's name is the file's stem.
Grid read_grid(const fs::path& path);

/// A planned point: its id, the id of the calibration it needs ("" for fp32) and its canonical settings.
struct Point {
  std::string id;
  std::string calib;
  Settings settings;
};

/// Expands every sub-grid in order, resolves the data keys, canonicalises, and drops repeated points
/// (keeping the first). The order depends only on the grid text, so replanning gives the same list.
/// Throws InputError for a point without `model`, text or `method`, and for calibration and evaluation
/// windows that overlap on the same text.
std::vector<Point> expand(const Grid& grid);

bool is_data_key(const std::string& key);
/// Bare slice keys (`ctx`, `text`, …) become `calib.K` and `eval.K` unless those are given; `protocol`
/// becomes `eval.protocol`.
Settings resolve_data(const Settings& s);
/// Drops the settings the point's method ignores (qer::decompose_layer: QER and LoftQ have no k-rule, LoftQ
/// and w-only no scale, w-only no rank, seed or SVD; fp32 has no method settings and no calibration), and
/// gives SRR its default k rule (criterion) explicitly.
Settings canonical(const Settings& s);
/// A quantized point with a `budget`: allocate, then quantize with the plan.
bool is_allocated(const Settings& s);
/// The keys that go to `srr allocate` rather than `srr quantize`: budget, bits-set, rank-set, weighting.
Settings allocation_settings(const Settings& s);
/// The key's value, or `fallback` when absent.
std::string value_or(const Settings& s, const std::string& key, const std::string& fallback = "");

/// Stable content hash of settings: 12 hex digits of SHA-256 over the sorted, length-prefixed `key=value`
/// lines. It names the point's files, so changing it orphans every existing result (a test pins it).
std::string settings_id(const Settings& s);
/// The settings that decide a calibration file: model, tokenizer and the calib.* keys.
Settings calibration_settings(const Settings& s);
/// "" for fp32 (no calibration), else settings_id(calibration_settings(s)).
std::string calibration_id(const Settings& s);
/// The method keys of a point (everything that is not a data key).
Settings method_settings(const Settings& s);
/// The id of the QER point an SRR point is compared with (same settings, method = qer); nullopt for
/// other methods.
std::optional<std::string> qer_partner_id(const Settings& s);

/// Replaces `${VAR}` and `${VAR:-default}` by the environment; InputError naming the variable when it is
/// unset and has no default.
std::string expand_env(const std::string& text);

/// Writes `manifest.tsv` atomically: a header `task id calib <keys…>` and one line per point; "-" marks a
/// key the point does not have.
void write_manifest(const fs::path& path, const std::vector<Point>& points);
/// Reads it back (InputError naming the file for a malformed line).
std::vector<Point> read_manifest(const fs::path& path);
/// The keys of all points in the manifest's column order: method, other method keys, then data keys.
std::vector<std::string> ordered_keys(const std::vector<Point>& points);

}  // namespace srr::sweep
