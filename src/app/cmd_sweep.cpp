// SPDX-License-Identifier: MIT
// `srr sweep`: grids of settings as Slurm array jobs (docs/sweep.md). The sweep layer (src/sweep, its actions
// in sweep/actions.hpp) plans, runs and collects; this file is the command line, and the one place that
// checks a grid's method settings against `srr quantize`'s options before anything is submitted. No MPI here: every step of a point is one
// of srr's own sub-commands in a child process.
#include <iostream>
#include <optional>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "base/error.hpp"
#include "sweep/actions.hpp"

namespace srr::app {

namespace {

constexpr const char* kUsage =
    "usage: srr sweep plan GRID [--shell]     write results/<grid>/manifest, print the array size\n"
    "       srr sweep prepare GRID            make every calibration file the grid needs\n"
    "       srr sweep run GRID [--task N | --all]   run one point (N defaults to SLURM_ARRAY_TASK_ID)\n"
    "       srr sweep collect GRID [--strict] summary.csv, summary.md, plots/*.svg, index.h5\n"
    "GRID is an INI file (jobs/*.ini): [data] model and text slices, [fixed] and [axes] method options,\n"
    "[run] np and throttle, [report] title and pivot. See docs/sweep.md.";

/// Every point's method settings must parse as `srr quantize` options: a typo fails at plan time, not in
/// the 50th array task. The allocation keys of a budget point (budget, bits-set, rank-set, weighting) are
/// srr allocate's, which checks them when the point runs.
void check_method_settings(const sweep::Point& p, std::size_t task, const std::string& grid) {
  po::options_description desc;
  add_method_options(desc);
  std::vector<std::string> args;
  const sweep::Settings allocation = sweep::allocation_settings(p.settings);
  for (const auto& [k, v] : sweep::method_settings(p.settings))
    if (!allocation.count(k)) args.insert(args.end(), {"--" + k, sweep::expand_env(v)});
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::notify(vm);
    (void)method_settings(vm);
  } catch (const po::error& e) {
    throw InputError("grid " + grid + ", task " + std::to_string(task) + " (point " + p.id + "): " + e.what());
  } catch (const InputError& e) {
    throw InputError("grid " + grid + ", task " + std::to_string(task) + " (point " + p.id + "): " + e.what());
  }
}

template <class T>
std::optional<T> optional_value(const po::variables_map& vm, const char* name) {
  return vm.count(name) ? std::optional<T>(vm[name].as<T>()) : std::nullopt;
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
  sweep::require_directory_path("--results", paths.results);
  sweep::require_directory_path("--work", paths.work);
  const auto grid = sweep::read_grid(vm["grid"].as<std::string>());
  paths.grid = grid.name;
  if (action == "plan") {
    const auto check = [&](const sweep::Point& p, std::size_t task) { check_method_settings(p, task, grid.name); };
    sweep::plan_sweep(grid, paths, check, vm.count("shell") > 0, std::cout);
    return 0;
  }
  if (action == "collect") return sweep::collect_sweep(grid, paths, vm.count("strict") > 0, std::cout);
  const auto points = sweep::planned_points(grid, paths);
  const auto options =
      sweep::run_options(grid, optional_value<int>(vm, "np"), optional_value<std::string>(vm, "launcher"));
  if (action == "prepare") {
    sweep::prepare_sweep(points, paths, options, std::cout);
    return 0;
  }
  const auto tasks = sweep::chosen_tasks(optional_value<long>(vm, "task"), vm.count("all") > 0, points.size());
  return sweep::run_sweep_tasks(points, paths, options, tasks, std::cout, std::cerr);
}

}  // namespace srr::app
