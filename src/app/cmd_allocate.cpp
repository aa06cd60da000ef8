// SPDX-License-Identifier: MIT
// `srr allocate`: the command line of pipeline::allocate (src/pipeline/allocation_plan.hpp states the memory
// accounting, the objective and the plan file; src/qer/allocation.hpp the knapsack and its bound).
#include <iostream>
#include <sstream>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "app/logging.hpp"
#include "app/text_options.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/timer.hpp"
#include "parallel/mpi.hpp"
#include "pipeline/allocation_plan.hpp"

namespace srr::app {

namespace {

namespace fs = std::filesystem;

constexpr const char* kUsage =
    "usage: [mpirun -np N] srr allocate --model PATH --calib calib.h5 --budget BITS --out plan.tsv\n"
    "                     [--text FILE [text options] | --weighting none] [--bits-set 2,3,4]\n"
    "                     [--rank-set 0,4,8,16,32] [method options]\n"
    "Chooses a bit width and a rank per linear layer minimising the predicted loss increase\n"
    "Σ s_i·tr(ΔᵀR_xxΔ) (s_i: each layer's measured sensitivity on --text, the calibration slice; 1 with\n"
    "--weighting none) with at most BITS bits per weight on average (Q, its shared exponents or scales, and\n"
    "bf16 factors), and writes the plan: one line per layer (srr quantize --plan, srr eval --plan).";

template <class T>
std::vector<T> parse_list(const std::string& text, const char* option) {
  std::vector<T> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    require(used == item.size() && !item.empty(), "--", option, ": '", item, "' is not a whole number (list as 2,3,4)");
    out.push_back(static_cast<T>(v));
  }
  require(!out.empty(), "--", option, " is empty");
  return out;
}

nlohmann::json or_null(bool present, double value) { return present ? nlohmann::json(value) : nlohmann::json(nullptr); }

}  // namespace

int run_allocate(int argc, char** argv) {
  parallel::MpiEnvironment env(argc, argv);
  const auto comm = parallel::Communicator::world();
  po::options_description desc("srr allocate options");
  add_common_options(desc);
  add_method_options(desc);
  add_text_options(desc, "100000");
  desc.add_options()
      ("weighting", po::value<std::string>()->default_value("loss"),
       "loss: weigh each layer's error by its sensitivity, measured on --text (use the calibration slice); "
       "none: the plain sum of tr(ΔᵀR_xxΔ)")
      ("calib", po::value<std::string>(), "calibration file with XᵀX (srr calibrate)")
      ("budget", po::value<double>(), "average bits per linear weight, factors included")
      ("bits-set", po::value<std::string>()->default_value("2,3,4"), "bit widths to choose from")
      ("rank-set", po::value<std::string>()->default_value("0,4,8,16,32"), "ranks to choose from")
      ("grid", po::value<std::int64_t>()->default_value(1 << 15), "cost cells of the dynamic programme (0 = greedy)")
      ("out", po::value<std::string>(), "plan file to write (refused if it exists)")
      ("json", "print a one-line JSON summary on stdout");
  po::variables_map vm;
  if (!parse_command(argc, argv, desc, vm, kUsage)) return 0;
  init_logging({.level = vm["log-level"].as<std::string>(), .file = vm["log-file"].as<std::string>(), .rank = comm.rank()});
  for (const char* o : {"model", "calib", "budget", "out"}) require(vm.count(o) > 0, "--", o, " is required");
  const qer::MethodSettings method = method_settings(vm);
  const pipeline::AllocateSettings settings{.budget = vm["budget"].as<double>(),
                                            .bits = parse_list<int>(vm["bits-set"].as<std::string>(), "bits-set"),
                                            .ranks = parse_list<la::index_t>(vm["rank-set"].as<std::string>(), "rank-set"),
                                            .grid = vm["grid"].as<std::int64_t>(),
                                            .weighting = pipeline::weighting_from_string(vm["weighting"].as<std::string>())};
  pipeline::validate(settings);
  const fs::path out = vm["out"].as<std::string>();
  require(!out.empty() && !fs::exists(out), "--out '", out.string(), "' exists; srr never overwrites a plan");
  require(out.parent_path().empty() || fs::is_directory(out.parent_path()), "--out '", out.string(),
          "': directory '", out.parent_path().string(), "' does not exist");
  require(settings.weighting == pipeline::Weighting::none || vm.count("text") > 0,
          "--weighting loss measures each layer's sensitivity on text: give --text (the calibration slice: same "
          "--max-chars, --ctx, --windows, --skip-windows as srr calibrate) or --weighting none");

  Stopwatch clock;
  const std::string model = vm["model"].as<std::string>();
  const auto ckpt = model::Checkpoint::open(model);
  std::vector<std::vector<int>> windows;
  if (settings.weighting == pipeline::Weighting::loss)
    windows = pipeline::stream_windows(text_input(vm), ckpt.config().max_pos);
  const auto a = pipeline::allocate(ckpt, method, vm["calib"].as<std::string>(), settings, windows, comm);
  if (comm.rank() == 0)
    write_file_atomic(out, pipeline::plan_text(a, method, settings.budget, fs::path(model).filename().string()),
                      Replace::never);
  SRR_LOG(info) << "allocate: " << a.layers.size() << " layers, budget " << settings.budget << " bits/weight, used "
                << a.bits_per_weight(a.plan) << ", objective " << a.plan.objective << " (lower bound "
                << a.plan.lower_bound << ", gap " << a.plan.gap() << ") in " << clock.seconds() << " s; wrote "
                << out.string();
  const bool uniform = !a.uniform.choice.empty();
  if (comm.rank() == 0 && vm.count("json"))
    std::cout << nlohmann::json{{"command", "allocate"}, {"out", out.string()}, {"layers", a.layers.size()},
                                {"budget_bits_per_weight", settings.budget},
                                {"used_bits_per_weight", a.bits_per_weight(a.plan)}, {"objective", a.plan.objective},
                                {"lower_bound", a.plan.lower_bound}, {"gap", a.plan.gap()}, {"from_dp", a.plan.from_dp},
                                {"weighting", pipeline::to_string(a.weighting)}, {"seconds", clock.seconds()},
                                {"uniform_objective", or_null(uniform, a.uniform.objective)},
                                {"uniform_bits_per_weight", or_null(uniform, a.bits_per_weight(a.uniform))}}
                     .dump()
              << std::endl;
  return 0;
}

}  // namespace srr::app
