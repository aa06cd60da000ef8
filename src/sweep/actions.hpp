// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The actions of `srr sweep` (plan, prepare, run, collect) as library calls; `src/app/cmd_sweep.cpp` only
/// parses options and calls these. Progress goes to the given streams, as the command prints it.

#include <cstddef>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "sweep/grid.hpp"
#include "sweep/run.hpp"

namespace srr::sweep {

/// Refuses (InputError naming `option`) a results or work directory that is empty or has a file in place of
/// itself or of one of its parents: the sweep creates its trees below these, but never in place of a file.
void require_directory_path(const std::string& option, const fs::path& dir);

/// The planned points, checked against the manifest (run and collect work on what was planned; a grid
/// edited since then must be planned again, or task numbers would point elsewhere).
std::vector<Point> planned_points(const Grid& grid, const SweepPaths& paths);

/// Checks a point's method settings (srr quantize's option parser; the command line supplies it).
using SettingsCheck = std::function<void(const Point& p, std::size_t task)>;

/// `plan`: expands the grid, checks every point's settings and data files, writes the manifest and prints
/// the array to submit: as shell assignments for slurm/submit-sweep.sh when `shell`, else as sentences.
void plan_sweep(const Grid& grid, const SweepPaths& paths, const SettingsCheck& check, bool shell, std::ostream& out);

/// How the steps of a point run: `np` and `launcher` override the grid's [run] values. Sets one BLAS/OpenMP
/// thread per process unless the environment says otherwise (toolchain.md P7: tasks run side by side and
/// under MPI).
RunOptions run_options(const Grid& grid, std::optional<int> np, const std::optional<std::string>& launcher);

/// `prepare`: makes every calibration file the (planned) points need.
void prepare_sweep(const std::vector<Point>& points, const SweepPaths& paths, const RunOptions& options,
                   std::ostream& out);

/// The tasks `run` runs: every one with `all`, else `task`, else $SLURM_ARRAY_TASK_ID; InputError when none
/// is given or it is outside the grid.
std::vector<std::size_t> chosen_tasks(std::optional<long> task, bool all, std::size_t count);

/// `run`: runs the chosen tasks of the (planned) points one after the other; returns the exit code (1 when any failed, with a line
/// on `err`).
int run_sweep_tasks(const std::vector<Point>& points, const SweepPaths& paths, const RunOptions& options,
                    const std::vector<std::size_t>& tasks, std::ostream& out, std::ostream& err);

/// `collect`: tables, plots and index of the planned points, and a summary line; returns the exit code (3
/// when `strict` and not every point is done).
int collect_sweep(const Grid& grid, const SweepPaths& paths, bool strict, std::ostream& out);

}  // namespace srr::sweep
