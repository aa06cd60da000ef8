// SPDX-License-Identifier: MIT
// `srr calibrate`: text → windows → per-input statistics (method.md §4) → calibration file. Data-parallel
// under MPI: rank i takes windows i, i + np, …; the partial statistics are reduced (max for LQER's running
// max, sums for Σx² and XᵀX), so any rank count gives the same file up to float64 summation order.
#include <iostream>
#include <map>
#include <set>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "app/logging.hpp"
#include "app/text_input.hpp"
#include "base/error.hpp"
#include "base/timer.hpp"
#include "dist/mpi.hpp"
#include "model/checkpoint.hpp"
#include "model/forward.hpp"
#include "model/linear_inputs.hpp"
#include "store/calibration.hpp"

namespace srr::app {

namespace {

constexpr const char* kUsage =
    "usage: [mpirun -np N] srr calibrate --model PATH --text FILE --out calib.h5 [options]\n"
    "Runs the fp32 model over windows of the text and records, for every distinct linear-layer input\n"
    "(q/k/v share one, gate/up share one), LQER's running max of per-window mean |x|, Σx², XᵀX (float64)\n"
    "and the token count.";

using Stats = std::map<std::string, qer::InputStatistics>;

/// Runs `windows` (this rank's share) through the model, accumulating each input once per window.
Stats collect(model::Llama& llama, const std::vector<std::vector<int>>& windows, int rank, int size,
              bool with_xtx) {
  Stats stats;
  std::set<std::string> seen;  // inputs already accumulated for the current window
  llama.set_input_hook([&](const std::string& name, const la::Matrix<float>& X) {
    const auto key = model::statistics_key(name);
    if (!seen.insert(key).second) return;
    auto it = stats.find(key);
    if (it == stats.end()) it = stats.emplace(key, qer::make_statistics(X.cols(), with_xtx)).first;
    it->second.accumulate(X, with_xtx);
  });
  for (std::size_t w = static_cast<std::size_t>(rank); w < windows.size(); w += static_cast<std::size_t>(size)) {
    seen.clear();
    (void)llama.logits(windows[w]);
  }
  llama.set_input_hook(nullptr);
  return stats;
}

/// Collective over `comm`: every rank ends with the statistics of all windows.
void reduce(Stats& stats, const std::vector<std::string>& keys, const std::map<std::string, la::index_t>& dims,
            bool with_xtx, const dist::Communicator& comm) {
  for (const auto& key : keys) {
    auto it = stats.find(key);
    if (it == stats.end()) it = stats.emplace(key, qer::make_statistics(dims.at(key), with_xtx)).first;
    auto& s = it->second;
    comm.allreduce(std::span<double>(s.mean_abs_max), dist::ReduceOp::Max);
    comm.allreduce(std::span<double>(s.sum_sq), dist::ReduceOp::Sum);
    if (with_xtx) comm.allreduce(std::span<double>(s.xtx.data(), static_cast<std::size_t>(s.xtx.size())), dist::ReduceOp::Sum);
    s.tokens = comm.allreduce_value(s.tokens, dist::ReduceOp::Sum);
  }
}

}  // namespace

int run_calibrate(int argc, char** argv) {
  dist::MpiEnvironment env(argc, argv);
  const auto comm = dist::Communicator::world();
  po::options_description desc("srr calibrate options");
  add_common_options(desc);
  add_text_options(desc, "200000");
  desc.add_options()
      ("out", po::value<std::string>(), "calibration file to write (HDF5)")
      ("no-xtx", "skip XᵀX (QERA-exact needs it; it costs m² doubles per input)")
      ("json", "print a one-line JSON summary on stdout");
  po::variables_map vm;
  if (!parse_command(argc, argv, desc, vm, kUsage)) return 0;
  init_logging({.level = vm["log-level"].as<std::string>(), .file = vm["log-file"].as<std::string>(), .rank = comm.rank()});
  require(vm.count("out") > 0, "--out is required");
  const std::string out = vm["out"].as<std::string>();
  const bool with_xtx = vm.count("no-xtx") == 0;

  Stopwatch total;
  const TextInput input = text_input(vm);
  const auto ckpt = model::Checkpoint::open(input.model);
  model::Llama llama(ckpt);
  const auto windows = stream_windows(input, llama.config().max_pos);
  const auto names = ckpt.linear_layer_names();
  std::vector<std::string> keys;
  std::map<std::string, la::index_t> dims;
  for (const auto& n : names) {
    const auto key = model::statistics_key(n);
    if (dims.emplace(key, ckpt.linear_weight(n).rows()).second) keys.push_back(key);
  }
  SRR_LOG(info) << "calibrate: " << windows.size() << " windows of ≤ " << windows.front().size() << " tokens, "
                << keys.size() << " inputs, " << comm.size() << " rank(s)";

  Stopwatch forward;
  Stats stats = collect(llama, windows, comm.rank(), comm.size(), with_xtx);
  const double forward_s = forward.seconds();
  reduce(stats, keys, dims, with_xtx, comm);
  const std::int64_t tokens = stats.at(keys.front()).tokens;

  const nlohmann::json settings = {{"model", input.model.string()}, {"tokenizer", input.tokenizer_path.string()},
                                   {"text", input.text.string()}, {"max_chars", input.max_chars},
                                   {"ctx", input.ctx == 0 ? llama.config().max_pos : input.ctx},
                                   {"windows", windows.size()}, {"skip_windows", input.skip_windows},
                                   {"xtx", with_xtx}, {"tokens", tokens}, {"ranks", comm.size()}};
  if (comm.rank() == 0) store::write_calibration(out, stats, settings.dump(), ckpt.identity());
  comm.barrier(dist::Wait::Poll);
  const double seconds = total.seconds();
  SRR_LOG(info) << "calibrate: " << tokens << " tokens in " << forward_s << " s forward ("
                << static_cast<double>(tokens) / forward_s << " tokens/s), wrote " << out;
  if (comm.rank() == 0 && vm.count("json"))
    std::cout << nlohmann::json{{"command", "calibrate"}, {"out", out}, {"tokens", tokens},
                                {"windows", windows.size()}, {"inputs", keys.size()}, {"seconds", seconds},
                                {"forward_seconds", forward_s}, {"tokens_per_second", tokens / forward_s}}
                     .dump()
              << std::endl;
  return 0;
}

}  // namespace srr::app
