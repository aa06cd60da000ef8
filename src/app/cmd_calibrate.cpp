// SPDX-License-Identifier: MIT
// `srr calibrate`: text → windows → per-input statistics (method.md §4) → calibration file. Data-parallel
// under MPI: rank i takes windows i, i + np, …; the partial statistics are reduced (max for LQER's running
// max, sums for Σx² and XᵀX), so any rank count gives the same file up to float64 summation order.
#include <iostream>
#include <optional>
#include <span>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "app/logging.hpp"
#include "app/text_options.hpp"
#include "base/error.hpp"
#include "base/file_lock.hpp"
#include "base/files.hpp"
#include "base/timer.hpp"
#include "parallel/mpi.hpp"
#include "model/checkpoint.hpp"
#include "model/forward.hpp"
#include "model/linear_inputs.hpp"
#include "base/sha256.hpp"
#include "pipeline/calibration.hpp"
#include "store/calibration.hpp"

namespace srr::app {

namespace {

constexpr const char* kUsage =
    "usage: [mpirun -np N] srr calibrate --model PATH --text FILE --out calib.h5 [options]\n"
    "Runs the fp32 model over windows of the text and records, for every distinct linear-layer input\n"
    "(q/k/v share one, gate/up share one), LQER's running max of per-window mean |x|, Σx², XᵀX (float64)\n"
    "and the token count.";

}  // namespace

int run_calibrate(int argc, char** argv) {
  parallel::MpiEnvironment env(argc, argv);
  const auto comm = parallel::Communicator::world();
  po::options_description desc("srr calibrate options");
  add_common_options(desc);
  add_text_options(desc, "200000");
  desc.add_options()
      ("out", po::value<std::string>(), "calibration file to write (HDF5); an existing one made with the same "
       "settings is reused, anything else there is refused")
      ("overwrite", "allow replacing an srr calibration file made with other settings (never any other file)")
      ("no-xtx", "skip XᵀX (QERA-exact needs it; it costs m² doubles per input)")
      ("json", "print a one-line JSON summary on stdout");
  po::variables_map vm;
  if (!parse_command(argc, argv, desc, vm, kUsage)) return 0;
  init_logging({.level = vm["log-level"].as<std::string>(), .file = vm["log-file"].as<std::string>(), .rank = comm.rank()});
  require(vm.count("out") > 0, "--out is required");
  const std::string out = vm["out"].as<std::string>();
  require(!out.empty(), "--out must name a file, got ''");
  const bool with_xtx = vm.count("no-xtx") == 0;

  Stopwatch total;
  const pipeline::TextInput input = text_input(vm);
  const auto ckpt = model::Checkpoint::open(input.model);
  model::Llama llama(ckpt);
  const auto windows = pipeline::stream_windows(input, llama.config().max_pos);
  const std::string text_bytes = read_file(input.text);
  nlohmann::json settings = {{"model", input.model.string()}, {"tokenizer", input.tokenizer_path.string()},
                             {"text", input.text.string()},
                             {"text_sha256", sha256_hex(std::as_bytes(std::span(text_bytes)))},
                             {"max_chars", input.max_chars},
                             {"ctx", input.ctx == 0 ? llama.config().max_pos : input.ctx},
                             {"windows", windows.size()}, {"skip_windows", input.skip_windows},
                             {"xtx", with_xtx}, {"ranks", comm.size()}};

  // Rank 0 locks and checks --out before any work; its verdict reaches every rank, so all leave together.
  std::optional<FileLock> lock;
  std::exception_ptr refused;
  int verdict = 0;
  if (comm.rank() == 0) {
    try {
      lock = store::lock_calibration(out, LockMode::exclusive);
      verdict = static_cast<int>(
          store::check_calibration_target(out, settings.dump(), ckpt.identity(), vm.count("overwrite") > 0));
    } catch (const InputError&) {
      refused = std::current_exception();
      verdict = -1;
    }
  }
  verdict = comm.bcast_value(verdict, 0, parallel::Wait::Poll);
  if (verdict < 0) {
    if (refused) std::rethrow_exception(refused);
    return 2;
  }
  if (static_cast<store::CalibrationTarget>(verdict) == store::CalibrationTarget::reuse) {
    SRR_LOG(info) << "calibrate: '" << out << "' already holds these statistics (same settings, same checkpoint, "
                  << "checksums intact); reused";
    if (comm.rank() == 0 && vm.count("json"))
      std::cout << nlohmann::json{{"command", "calibrate"}, {"out", out}, {"reused", true},
                                  {"inputs", store::describe_calibration(out).inputs.size()}}
                       .dump()
                << std::endl;
    return 0;
  }

  Stopwatch forward;
  const auto stats = pipeline::calibrate(llama, ckpt, windows, with_xtx, comm);
  const double forward_s = forward.seconds();
  const std::int64_t tokens = stats.begin()->second.tokens;
  settings["tokens"] = tokens;
  SRR_LOG(info) << "calibrate: " << windows.size() << " windows of ≤ " << windows.front().size() << " tokens, "
                << stats.size() << " inputs, " << comm.size() << " rank(s)";
  if (comm.rank() == 0) store::write_calibration(out, stats, settings.dump(), ckpt.identity());
  comm.barrier(parallel::Wait::Poll);
  const double seconds = total.seconds();
  SRR_LOG(info) << "calibrate: " << tokens << " tokens in " << forward_s << " s forward ("
                << static_cast<double>(tokens) / forward_s << " tokens/s), wrote " << out;
  if (comm.rank() == 0 && vm.count("json"))
    std::cout << nlohmann::json{{"command", "calibrate"}, {"out", out}, {"tokens", tokens},
                                {"windows", windows.size()}, {"inputs", stats.size()}, {"seconds", seconds},
                                {"forward_seconds", forward_s}, {"tokens_per_second", tokens / forward_s}}
                     .dump()
              << std::endl;
  return 0;
}

}  // namespace srr::app
