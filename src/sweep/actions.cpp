// SPDX-License-Identifier: MIT
#include "sweep/actions.hpp"

#include <cstdlib>
#include <set>

#include "base/error.hpp"
#include "sweep/collect.hpp"
#include "sweep/process.hpp"

namespace srr::sweep {

namespace {
std::string shell_value(const std::string& v) { return v.empty() ? std::string("''") : shell_join({v}); }
}  // namespace

void require_directory_path(const std::string& option, const fs::path& dir) {
  std::error_code ec;
  require(!dir.empty(), option, " must name a directory");
  for (fs::path p = dir; !p.empty(); p = p.parent_path()) {
    const auto status = fs::status(p, ec);
    require(!fs::exists(status) || fs::is_directory(status), option, " '", dir.string(), "': '", p.string(),
            "' exists and is not a directory");
    if (p == p.parent_path()) break;
  }
}

std::vector<Point> planned_points(const Grid& grid, const SweepPaths& paths) {
  const auto points = expand(grid);
  const auto manifest = read_manifest(paths.manifest());
  bool same = manifest.size() == points.size();
  for (std::size_t i = 0; same && i < points.size(); ++i) same = manifest[i].id == points[i].id;
  require(same, "the grid ", grid.name, " has changed since ", paths.manifest().string(),
          " was written: run srr sweep plan again");
  return manifest;
}

void plan_sweep(const Grid& grid, const SweepPaths& paths, const SettingsCheck& check, bool shell, std::ostream& out) {
  const auto points = expand(grid);
  for (std::size_t t = 0; t < points.size(); ++t)
    if (value_or(points[t].settings, "method") != "fp32") check(points[t], t);
  for (const auto& p : points) check_data_files(p);
  write_manifest(paths.manifest(), points);
  std::set<std::string> calibrations;
  std::size_t done = 0;
  for (const auto& p : points) {
    if (!p.calib.empty()) calibrations.insert(p.calib);
    done += point_status(paths.point_file(p.id)) == "done";
  }
  const std::string array = "0-" + std::to_string(points.size() - 1) + "%" + std::to_string(grid.run.throttle);
  if (shell) {
    out << "grid=" << shell_value(grid.name) << "\narray_size=" << points.size() << "\narray=" << array
        << "\nnp=" << grid.run.np << "\nthrottle=" << grid.run.throttle << "\ntime=" << shell_value(grid.run.time)
        << "\ndone=" << done << "\ngrid_dir=" << shell_value(paths.grid_dir().string())
        << "\nwork=" << shell_value(paths.work.string()) << "\n";
    return;
  }
  out << "grid " << grid.name << ": " << points.size() << " points, " << calibrations.size()
      << " calibration file(s), " << done << " already done\n"
      << "manifest " << paths.manifest().string() << "\n"
      << "array size " << points.size() << " (sbatch --array=" << array << " --ntasks=" << grid.run.np << ")\n";
}

RunOptions run_options(const Grid& grid, std::optional<int> np, const std::optional<std::string>& launcher) {
  ::setenv("OPENBLAS_NUM_THREADS", "1", 0);
  ::setenv("OMP_NUM_THREADS", "1", 0);
  return {Launcher::choose(launcher.value_or(grid.run.launcher), np.value_or(grid.run.np)), self_executable()};
}

void prepare_sweep(const std::vector<Point>& points, const SweepPaths& paths, const RunOptions& options,
                   std::ostream& out) {
  std::set<std::string> seen;
  for (const auto& p : points)
    if (!p.calib.empty() && seen.insert(p.calib).second) {
      const auto file = ensure_calibration(p, paths, options, out);
      out << "calibration " << p.calib << ": " << file.string() << "\n";
    }
}

std::vector<std::size_t> chosen_tasks(std::optional<long> task, bool all, std::size_t count) {
  std::vector<std::size_t> tasks;
  if (all) {
    for (std::size_t t = 0; t < count; ++t) tasks.push_back(t);
    return tasks;
  }
  if (!task) {
    const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
    if (!id || !*id) throw InputError("give --task N or --all (SLURM_ARRAY_TASK_ID is not set)");
    task = std::strtol(id, nullptr, 10);
  }
  require(*task >= 0 && static_cast<std::size_t>(*task) < count, "--task ", *task, " is outside 0..", count - 1,
          " (the grid has ", count, " points)");
  return {static_cast<std::size_t>(*task)};
}

int run_sweep_tasks(const std::vector<Point>& points, const SweepPaths& paths, const RunOptions& options,
                    const std::vector<std::size_t>& tasks, std::ostream& out, std::ostream& err) {
  std::size_t failed = 0;
  for (const auto t : tasks) {
    out << "task " << t << " of " << points.size() << ", launcher " << options.launcher.mode << " np "
        << options.launcher.np << std::endl;
    failed += run_point(points[t], paths, options, out) == RunOutcome::failed;
  }
  if (failed) err << "srr sweep run: " << failed << " of " << tasks.size() << " point(s) failed (see the logs)\n";
  return failed ? 1 : 0;
}

int collect_sweep(const Grid& grid, const SweepPaths& paths, bool strict, std::ostream& out) {
  const auto points = planned_points(grid, paths);
  const auto n = collect(grid, points, paths);
  out << "collected " << paths.grid_dir().string() << ": " << points.size() << " points, " << n.done << " done, "
      << n.failed << " failed, " << n.missing << " missing\n";
  return strict && n.done != points.size() ? 3 : 0;
}

}  // namespace srr::sweep
