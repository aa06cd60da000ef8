// SPDX-License-Identifier: MIT
// `srr calibrate`: text → windows → per-input statistics (method.md §4) → calibration file, layer by layer
// (pipeline/calibration.hpp). Token-parallel under MPI: rank i takes windows i, i + np, …; each layer's
// partial statistics are reduced onto rank 0 (max for LQER's running max, sums for Σx² and XᵀX), which
// writes them before the next layer, so any rank count gives the same file up to float64 summation order
// and a stopped run, rerun, keeps its finished layers.
#include <filesystem>
#include <iostream>
#include <optional>
#include <span>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "app/logging.hpp"
#include "app/text_options.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/sha256.hpp"
#include "base/timer.hpp"
#include "model/checkpoint.hpp"
#include "parallel/mpi.hpp"
#include "pipeline/calibration.hpp"
#include "pipeline/memory_plan.hpp"
#include "store/calibration.hpp"

namespace srr::app {

namespace {

constexpr const char* kUsage =
    "usage: [mpirun -np N] srr calibrate --model PATH --text FILE --out calib.h5 [options]\n"
    "Runs the fp32 model, one decoder layer at a time, over windows of the text and records, for every distinct linear-layer input\n"
    "(q/k/v share one, gate/up share one), LQER's running max of per-window mean |x|, Σx², XᵀX (float64)\n"
    "and the token count.";

/// The content hash of a complete calibration file (what a store pins).
std::string content_sha256(const std::string& path) {
  return nlohmann::json::parse(store::calibration_identity(path))["content_sha256"].get<std::string>();
}

}  // namespace

int run_calibrate(int argc, char** argv) {
  parallel::MpiEnvironment env(argc, argv);
  const auto comm = parallel::Communicator::world();
  po::options_description desc("srr calibrate options");
  add_common_options(desc);
  add_text_options(desc, "200000");
  desc.add_options()
      ("out", po::value<std::string>(), "calibration file to write (HDF5); an existing one made with the same "
       "settings is reused (or completed, when a run was stopped), anything else there is refused")
      ("overwrite", "allow replacing an srr calibration file made with other settings (never any other file)")
      ("no-xtx", "skip XᵀX (QERA-exact needs it; it costs m(m+1)/2 doubles per input)")
      ("panel-mib", po::value<int>()->default_value(256), "bound on one XᵀX column panel per rank (MiB)")
      ("json", "print a one-line JSON summary on stdout");
  add_memory_option(desc);
  po::variables_map vm;
  if (!parse_command(argc, argv, desc, vm, kUsage)) return 0;
  init_logging({.level = vm["log-level"].as<std::string>(), .file = vm["log-file"].as<std::string>(), .rank = comm.rank()});
  require(vm.count("out") > 0, "--out is required");
  const std::string out = vm["out"].as<std::string>();
  require(!out.empty(), "--out must name a file, got ''");
  const bool with_xtx = vm.count("no-xtx") == 0;
  const int panel_mib = vm["panel-mib"].as<int>();
  require(panel_mib >= 1, "--panel-mib must be at least 1, got ", panel_mib);

  Stopwatch total;
  const pipeline::TextInput input = text_input(vm);
  const auto ckpt = model::Checkpoint::open(input.model);
  const model::LlamaConfig& config = ckpt.config();
  const auto windows = pipeline::stream_windows(input, config.max_pos);
  const std::string text_bytes = read_file(input.text);
  std::int64_t tokens = 0;
  for (const auto& w : windows) tokens += static_cast<std::int64_t>(w.size());
  nlohmann::json settings = {{"model", input.model.string()}, {"tokenizer", input.tokenizer_path.string()},
                             {"text", input.text.string()},
                             {"text_sha256", sha256_hex(std::as_bytes(std::span(text_bytes)))},
                             {"max_chars", input.max_chars},
                             {"ctx", input.ctx == 0 ? config.max_pos : input.ctx},
                             {"windows", windows.size()}, {"skip_windows", input.skip_windows},
                             {"xtx", with_xtx}, {"ranks", comm.size()}, {"tokens", tokens}};

  // The memory plan, before any work: the rank with the most windows holds the most hidden states.
  const pipeline::CalibrationSettings cs{with_xtx, static_cast<std::size_t>(panel_mib) << 20};
  const auto plan = pipeline::calibrate_plan(config, model::dtype_size(ckpt.dtype(ckpt.linear_layer_names().front() + ".weight")),
                                             pipeline::most_tokens_per_rank(windows, comm.size()),
                                             windows.front().size(), with_xtx, cs.panel_bytes);
  pipeline::check_memory_plans({plan}, memory_per_rank(vm, comm), comm);

  const auto layout = pipeline::calibration_layout(ckpt, with_xtx);
  const auto output = pipeline::open_calibration_output(out, layout, settings.dump(), ckpt.identity(),
                                                        vm.count("overwrite") > 0, comm);
  if (!output) return 0;  // refused: rank 0 reports it and exits 2
  const auto target = output->target;
  if (target == store::CalibrationTarget::reuse) {
    SRR_LOG(info) << "calibrate: '" << out << "' already holds these statistics (same settings, same checkpoint, "
                  << "checksums intact); reused";
    if (comm.rank() == 0 && vm.count("json"))
      std::cout << nlohmann::json{{"command", "calibrate"}, {"out", out}, {"reused", true},
                                  {"inputs", store::describe_calibration(out).inputs.size()},
                                  {"content_sha256", content_sha256(out)}}
                       .dump()
                << std::endl;
    return 0;
  }
  if (target == store::CalibrationTarget::resume)
    SRR_LOG(info) << "calibrate: '" << out << "' was left unfinished by a run with the same settings; its "
                  << "finished layers are kept";

  Stopwatch work;
  std::optional<pipeline::CalibrationFileSink> sink;
  if (comm.rank() == 0) sink.emplace(out);
  const auto report = pipeline::calibrate(ckpt, windows, cs, comm, sink ? &*sink : nullptr);
  if (sink) sink->close();
  const double work_s = work.seconds();
  comm.barrier(parallel::Wait::Poll);
  const auto peaks = pipeline::peak_rss_per_rank(comm);
  const double seconds = total.seconds();
  SRR_LOG(info) << "calibrate: " << windows.size() << " windows of ≤ " << windows.front().size() << " tokens, "
                << layout.size() << " inputs, " << comm.size() << " rank(s); " << report.layers_computed
                << " layers computed, " << report.layers_kept << " kept from the earlier run";
  SRR_LOG(info) << "calibrate: " << tokens << " tokens in " << work_s << " s (" << static_cast<double>(tokens) / work_s
                << " tokens/s; rank 0: forward " << report.forward_seconds << " s, statistics "
                << report.statistics_seconds << " s, reductions " << report.reduce_seconds << " s, writing "
                << report.write_seconds << " s), wrote " << out;
  std::string peak_text;
  for (std::size_t r = 0; r < peaks.size(); ++r) peak_text += (r ? ", " : "") + pipeline::format_bytes(peaks[r]);
  SRR_LOG(info) << "calibrate: peak RSS per rank " << peak_text << " (plan " << pipeline::format_bytes(plan.total()) << ")";
  if (comm.rank() == 0 && vm.count("json"))
    std::cout << nlohmann::json{{"command", "calibrate"}, {"out", out}, {"tokens", tokens},
                                {"windows", windows.size()}, {"inputs", layout.size()}, {"seconds", seconds},
                                {"calibrate_seconds", work_s}, {"tokens_per_second", tokens / work_s},
                                {"layers_computed", report.layers_computed}, {"layers_kept", report.layers_kept},
                                {"forward_seconds", report.forward_seconds},
                                {"statistics_seconds", report.statistics_seconds},
                                {"reduce_seconds", report.reduce_seconds}, {"write_seconds", report.write_seconds},
                                {"memory_plan", plan.to_json()}, {"peak_rss_per_rank", peaks},
                                {"file_bytes", std::filesystem::file_size(out)},
                                {"content_sha256", content_sha256(out)}}
                     .dump()
              << std::endl;
  return 0;
}

}  // namespace srr::app
