// SPDX-License-Identifier: MIT
// `srr sweep`: grids of settings as Slurm array jobs (docs/sweep.md). The sweep layer (src/sweep) plans,
// runs and collects; this file is the command line, and the one place that checks a grid's method settings
// against `srr quantize`'s options before anything is submitted. No MPI here: every step of a point is one
// of srr's own sub-commands in a child process.
#include <cstdlib>
#include <iostream>
#include <set>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "base/error.hpp"
#include "sweep/collect.hpp"
#include "sweep/grid.hpp"
#include "sweep/process.hpp"
#include "sweep/run.hpp"

namespace srr::app {

namespace fs = std::filesystem;

namespace {

constexpr const char* kUsage =
    "usage: srr sweep plan GRID [--shell]     write results/<grid>/manifest, print the array size\n"
    "       srr sweep prepare GRID            make every calibration file the grid needs\n"
    "       srr sweep run GRID [--task N | --all]   run one point (N defaults to SLURM_ARRAY_TASK_ID)\n"
    "       srr sweep collect GRID [--strict] summary.csv, summary.md, plots/*.svg, index.h5\n"
    "GRID is an INI file (jobs/*.ini): [data] model and text slices, [fixed] and [axes] method options,\n"
    "[run] np and throttle, [report] title and pivot. See docs/sweep.md.";

/// Every point's method settings must parse as `srr quantize` options: a typo fails at plan time, not in
/// the 50th array task.
void check_method_settings(const std::vector<sweep::Point>& points, const std::string& grid) {
  po::options_description desc;
  add_method_options(desc);
  for (std::size_t t = 0; t < points.size(); ++t) {
    const auto& p = points[t];
    if (sweep::value_or(p.settings, "method") == "fp32") continue;
    std::vector<std::string> args;
    for (const auto& [k, v] : sweep::method_settings(p.settings)) args.insert(args.end(), {"--" + k, sweep::expand_env(v)});
    try {
      po::variables_map vm;
      po::store(po::command_line_parser(args).options(desc).run(), vm);
      po::notify(vm);
      (void)method_settings(vm);
    } catch (const po::error& e) {
      throw InputError("grid " + grid + ", task " + std::to_string(t) + " (point " + p.id + "): " + e.what());
    } catch (const InputError& e) {
      throw InputError("grid " + grid + ", task " + std::to_string(t) + " (point " + p.id + "): " + e.what());
    }
  }
}

/// The planned points, checked against the manifest when `need_manifest` (run and collect work on what
/// was planned; a grid edited since then must be planned again, or task numbers would point elsewhere).
std::vector<sweep::Point> planned_points(const sweep::Grid& grid, const sweep::SweepPaths& paths) {
  const auto points = sweep::expand(grid);
  const auto manifest = sweep::read_manifest(paths.manifest());
  bool same = manifest.size() == points.size();
  for (std::size_t i = 0; same && i < points.size(); ++i) same = manifest[i].id == points[i].id;
  require(same, "the grid ", grid.name, " has changed since ", paths.manifest().string(),
          " was written: run srr sweep plan again");
  return manifest;
}

std::string shell_value(const std::string& v) { return v.empty() ? std::string("''") : sweep::shell_join({v}); }

int plan(const sweep::Grid& grid, const sweep::SweepPaths& paths, bool shell) {
  const auto points = sweep::expand(grid);
  check_method_settings(points, grid.name);
  for (const auto& p : points) sweep::check_data_files(p);
  sweep::write_manifest(paths.manifest(), points);
  std::set<std::string> calibrations;
  std::size_t done = 0;
  for (const auto& p : points) {
    if (!p.calib.empty()) calibrations.insert(p.calib);
    done += sweep::point_status(paths.point_file(p.id)) == "done";
  }
  const std::string array = "0-" + std::to_string(points.size() - 1) + "%" + std::to_string(grid.run.throttle);
  if (shell) {
    std::cout << "grid=" << shell_value(grid.name) << "\narray_size=" << points.size() << "\narray=" << array
              << "\nnp=" << grid.run.np << "\nthrottle=" << grid.run.throttle << "\ntime=" << shell_value(grid.run.time)
              << "\ndone=" << done << "\ngrid_dir=" << shell_value(paths.grid_dir().string())
              << "\nwork=" << shell_value(paths.work.string()) << "\n";
    return 0;
  }
  std::cout << "grid " << grid.name << ": " << points.size() << " points, " << calibrations.size()
            << " calibration file(s), " << done << " already done\n"
            << "manifest " << paths.manifest().string() << "\n"
            << "array size " << points.size() << " (sbatch --array=" << array << " --ntasks=" << grid.run.np << ")\n";
  return 0;
}

sweep::RunOptions run_options(const sweep::Grid& grid, const po::variables_map& vm) {
  // One BLAS thread per process (toolchain.md P7): tasks run side by side and under MPI.
  ::setenv("OPENBLAS_NUM_THREADS", "1", 0);
  ::setenv("OMP_NUM_THREADS", "1", 0);
  const int np = vm.count("np") ? vm["np"].as<int>() : grid.run.np;
  const std::string launcher = vm.count("launcher") ? vm["launcher"].as<std::string>() : grid.run.launcher;
  return {sweep::Launcher::choose(launcher, np), sweep::self_executable()};
}

int prepare(const sweep::Grid& grid, const sweep::SweepPaths& paths, const po::variables_map& vm) {
  const auto points = planned_points(grid, paths);
  const auto options = run_options(grid, vm);
  std::set<std::string> seen;
  for (const auto& p : points)
    if (!p.calib.empty() && seen.insert(p.calib).second) {
      const auto file = sweep::ensure_calibration(p, paths, options, std::cout);
      std::cout << "calibration " << p.calib << ": " << file.string() << "\n";
    }
  return 0;
}

int run(const sweep::Grid& grid, const sweep::SweepPaths& paths, const po::variables_map& vm) {
  const auto points = planned_points(grid, paths);
  const auto options = run_options(grid, vm);
  std::vector<std::size_t> tasks;
  if (vm.count("all")) {
    for (std::size_t t = 0; t < points.size(); ++t) tasks.push_back(t);
  } else {
    long task = -1;
    if (vm.count("task")) {
      task = vm["task"].as<long>();
    } else if (const char* id = std::getenv("SLURM_ARRAY_TASK_ID"); id && *id) {
      task = std::strtol(id, nullptr, 10);
    } else {
      throw InputError("give --task N or --all (SLURM_ARRAY_TASK_ID is not set)");
    }
    require(task >= 0 && static_cast<std::size_t>(task) < points.size(), "--task ", task, " is outside 0..",
            points.size() - 1, " (the grid has ", points.size(), " points)");
    tasks.push_back(static_cast<std::size_t>(task));
  }
  std::size_t failed = 0;
  for (const auto t : tasks) {
    std::cout << "task " << t << " of " << points.size() << ", launcher " << options.launcher.mode << " np "
              << options.launcher.np << std::endl;
    failed += sweep::run_point(points[t], paths, options, std::cout) == sweep::RunOutcome::failed;
  }
  if (failed) std::cerr << "srr sweep run: " << failed << " of " << tasks.size() << " point(s) failed (see the logs)\n";
  return failed ? 1 : 0;
}

int collect(const sweep::Grid& grid, const sweep::SweepPaths& paths, bool strict) {
  const auto points = planned_points(grid, paths);
  const auto n = sweep::collect(grid, points, paths);
  std::cout << "collected " << paths.grid_dir().string() << ": " << points.size() << " points, " << n.done
            << " done, " << n.failed << " failed, " << n.missing << " missing\n";
  return strict && n.done != points.size() ? 3 : 0;
}

}  // namespace

int run_sweep(int argc, char** argv) {
  po::options_description desc("srr sweep options");
  desc.add_options()
      ("help,h", "print this help and exit")
      ("action", po::value<std::string>(), "plan | prepare | run | collect")
      ("grid", po::value<std::string>(), "the grid file (jobs/NAME.ini)")
      ("results", po::value<std::string>()->default_value("results"), "results root: <results>/<grid>/…")
      ("work", po::value<std::string>(),
       "scratch for calibration files, stores and logs, shared by grids (default <results>/work)")
      ("task", po::value<long>(), "run: the point to run (default $SLURM_ARRAY_TASK_ID)")
      ("all", "run: every point, one after the other")
      ("np", po::value<int>(), "run/prepare: MPI ranks per step (default: the grid's [run] np)")
      ("launcher", po::value<std::string>(), "run/prepare: auto | direct | srun | mpirun (default: the grid's)")
      ("shell", "plan: print shell assignments (array_size, np, throttle, …) for slurm/submit-sweep.sh")
      ("strict", "collect: exit with code 3 unless every point is done");
  po::positional_options_description pos;
  pos.add("action", 1).add("grid", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw InputError(std::string(e.what()) + " (see --help)");
  }
  if (vm.count("help")) {
    std::cout << kUsage << "\n\n" << desc << "\n";
    return 0;
  }
  require(vm.count("action") && vm.count("grid"), "give an action and a grid file, e.g. srr sweep plan jobs/x.ini");
  const std::string action = vm["action"].as<std::string>();
  require(action == "plan" || action == "prepare" || action == "run" || action == "collect", "unknown action '",
          action, "' (plan, prepare, run or collect)");
  if (vm.count("launcher")) {
    const auto l = vm["launcher"].as<std::string>();
    require(l == "auto" || l == "direct" || l == "srun" || l == "mpirun", "--launcher must be auto, direct, srun or "
            "mpirun, got '", l, "'");
  }
  require(!vm.count("np") || vm["np"].as<int>() >= 1, "--np must be at least 1");
  sweep::SweepPaths paths;
  paths.results = vm["results"].as<std::string>();
  paths.work = vm.count("work") ? std::filesystem::path(vm["work"].as<std::string>()) : paths.results / "work";
  // The sweep lays out its own trees below these and creates them, but never in place of a file.
  for (const auto& [option, dir] : {std::pair{"--results", paths.results}, std::pair{"--work", paths.work}}) {
    std::error_code ec;
    require(!dir.empty(), option, " must name a directory");
    for (fs::path p = dir; !p.empty(); p = p.parent_path()) {
      const auto status = fs::status(p, ec);
      require(!fs::exists(status) || fs::is_directory(status), option, " '", dir.string(), "': '", p.string(),
              "' exists and is not a directory");
      if (p == p.parent_path()) break;
    }
  }
  const auto grid = sweep::read_grid(vm["grid"].as<std::string>());
  paths.grid = grid.name;
  if (action == "plan") return plan(grid, paths, vm.count("shell") > 0);
  if (action == "prepare") return prepare(grid, paths, vm);
  if (action == "run") return run(grid, paths, vm);
  return collect(grid, paths, vm.count("strict") > 0);
}

}  // namespace srr::app
