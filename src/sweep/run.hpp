// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Running one point of a sweep (`srr sweep run`): calibrate if the point's calibration file is missing,
/// for a budget point allocate (its plan, once), quantize into the point's own store, evaluate, and publish
/// the point's result file. Each step is the
/// `srr` binary's own sub-command run as a child process (process.hpp), under MPI when the grid asks for
/// more than one rank.
///
/// Idempotence and concurrency (docs/sweep.md):
///   * a point whose result file says `done` is skipped;
///   * a half-finished point resumes: `srr quantize` skips the layers already done in its store;
///   * array tasks run concurrently and may need the same calibration file: it is made under an exclusive
///     lock (`<work>/calib/<cid>.lock`) and published atomically, so it is made once and never seen half
///     written; a point is run under its own lock, so two sweeps sharing a point (or an old task that has
///     not died yet) never work on one store at once.

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "sweep/grid.hpp"
#include "sweep/process.hpp"

namespace srr::sweep {

namespace fs = std::filesystem;

/// Where a sweep keeps its files. Results (small, committed) go below `results/<grid>/`; everything large or
/// machine-specific (calibration files, stores, logs) below `work`, which grids share: its files are named
/// by content ids, so a point or calibration that two grids have in common is computed once.
struct SweepPaths {
  fs::path results = "results";
  fs::path work = "results/work";
  std::string grid;

  fs::path grid_dir() const { return results / grid; }
  fs::path manifest() const { return grid_dir() / "manifest"; }
  fs::path point_file(const std::string& id) const { return grid_dir() / "points" / (id + ".h5"); }
  fs::path calib_file(const std::string& cid) const { return work / "calib" / (cid + ".h5"); }
  fs::path store_file(const std::string& id) const { return work / "stores" / (id + ".h5"); }
  fs::path plan_file(const std::string& id) const { return work / "plans" / (id + ".tsv"); }
  fs::path log_file(const std::string& id) const { return work / "logs" / (id + ".log"); }
  fs::path lock_file(const std::string& id) const { return work / "locks" / (id + ".lock"); }
};

/// Arguments (after the executable) of each step, with `${VAR}` expanded. The data keys map to the text
/// options of `srr calibrate` (calib.*) and `srr eval` (eval.*); every method key becomes `--key value` of
/// `srr quantize`, which checks it.
std::vector<std::string> calibrate_args(const Settings& s, const fs::path& out);
/// `srr allocate` of a budget point: method and allocation keys, the layers' sensitivities measured on the
/// calibration slice (calib.*), the plan written to `plan`.
std::vector<std::string> allocate_args(const Settings& s, const fs::path& calib, const fs::path& plan);
/// `plan` non-empty: a budget point, quantized with `--plan` (the allocation keys are not quantize's).
std::vector<std::string> quantize_args(const Settings& s, const fs::path& calib, const fs::path& store,
                                       const fs::path& plan = {});
/// `store` empty: the FP32 model.
std::vector<std::string> eval_args(const Settings& s, const fs::path& store);

/// InputError naming the point and the file when a model, tokenizer or text of a point does not exist
/// (checked at plan time, before anything is submitted).
void check_data_files(const Point& p);

struct RunOptions {
  Launcher launcher;
  fs::path exe;  ///< the srr binary (self_executable())
};

enum class RunOutcome { done, skipped, failed };

/// Runs one point to completion (see the file comment); progress goes to `log` and to the point's log
/// file. A failing step is recorded as a `failed` result file (the message is the step's last error
/// line) and reported as RunOutcome::failed; a rerun tries again.
RunOutcome run_point(const Point& p, const SweepPaths& paths, const RunOptions& options, std::ostream& log);

/// Makes the calibration file of `p` unless it exists (under the calibration lock). Returns its path.
fs::path ensure_calibration(const Point& p, const SweepPaths& paths, const RunOptions& options, std::ostream& log);

/// The status of a point's result file: "done", "failed" or "missing" (no file, or an unreadable one).
std::string point_status(const fs::path& point_file);

}  // namespace srr::sweep
