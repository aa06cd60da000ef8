// SPDX-License-Identifier: MIT
// `srr eval`: perplexity of the FP32 model and of a quantized one, layer by layer and token-parallel under MPI
// (pipeline/evaluation.hpp).
#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <memory>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "app/logging.hpp"
#include "app/text_options.hpp"
#include "base/error.hpp"
#include "base/timer.hpp"
#include "model/forward.hpp"
#include "pipeline/allocation_plan.hpp"
#include "pipeline/evaluation.hpp"
#include "pipeline/layer_quantizer.hpp"
#include "pipeline/memory_plan.hpp"
#include "store/store.hpp"
#include "export/export.hpp"

namespace srr::app {

namespace {

constexpr const char* kUsage =
    "usage: [mpirun -np N] srr eval --model PATH --text FILE [--store store.h5 | --quantize [--plan P] [method options] |\n"
    "                                --adapter DIR]\n"
    "Perplexity of the FP32 model and, with --store or --quantize, of the quantized model (Q + L·R in every\n"
    "linear layer), or with --adapter, of --model with a PEFT LoRA adapter (from srr export) applied.\n"
    "--protocol stream: the text as one token stream cut into BOS-prefixed windows (token perplexity);\n"
    "--protocol wikitext: lm-eval's WikiText-2 word perplexity (documents, detokenizer, rolling windows;\n"
    "method.md §8.1).";

}  // namespace

int run_eval(int argc, char** argv) {
  parallel::MpiEnvironment env(argc, argv);
  const auto comm = parallel::Communicator::world();
  po::options_description desc("srr eval options");
  add_common_options(desc);
  add_text_options(desc, "100000");
  desc.add_options()
      ("protocol", po::value<std::string>()->default_value("stream"), "stream | wikitext")
      ("store", po::value<std::string>(), "evaluate the quantized model in this store (from srr quantize)")
      ("quantize", "quantize every linear layer on the spot with the method options below")
      ("adapter", po::value<std::string>(), "evaluate --model with the PEFT LoRA adapter in this directory applied "
       "(e.g. srr export's: --model DIR --adapter DIR)")
      ("calib", po::value<std::string>(), "calibration file for --quantize (from srr calibrate)")
      ("plan", po::value<std::string>(), "with --quantize: per-layer bits, rank and k rule from this plan (srr "
       "allocate); the other settings from the method options")
      ("skip-fp32", "do not evaluate the FP32 model")
      ("json", "print a one-line JSON result on stdout");
  add_memory_option(desc);
  add_method_options(desc);
  po::variables_map vm;
  if (!parse_command(argc, argv, desc, vm, kUsage)) return 0;
  init_logging({.level = vm["log-level"].as<std::string>(), .file = vm["log-file"].as<std::string>(), .rank = comm.rank()});
  const std::string protocol = vm["protocol"].as<std::string>();
  require(protocol == "stream" || protocol == "wikitext", "--protocol must be stream or wikitext, got '", protocol, "'");
  require(vm.count("store") + vm.count("quantize") + vm.count("adapter") <= 1,
          "give one of --store, --quantize and --adapter");
  require(!vm.count("plan") || vm.count("quantize"), "--plan needs --quantize (a store made with --plan records its plan)");

  const pipeline::TextInput input = text_input(vm);
  const auto ckpt = model::Checkpoint::open(input.model);
  const model::LlamaConfig& config = ckpt.config();
  nlohmann::json plan_json;
  // --plan: read and checked against the checkpoint before any work; the largest rank sizes the memory plan.
  std::map<std::string, qer::LayerSettings> per_layer;
  int rank = vm.count("plan") ? 0 : static_cast<int>(vm["rank"].as<long>());
  if (vm.count("plan")) {
    const auto plan = pipeline::read_plan(vm["plan"].as<std::string>());
    for (auto& [name, s] : pipeline::plan_settings(plan, ckpt, method_settings(vm).layer)) {
      rank = std::max(rank, static_cast<int>(s.rank));
      per_layer.emplace(name, s);
    }
    plan_json = {{"file", vm["plan"].as<std::string>()}, {"sha256", plan.sha256}};
  }
  if (vm.count("store"))  // the store's rank (its largest layer's, for a plan's store), not --rank
    rank = static_cast<int>(store::Store::open_read_only(vm["store"].as<std::string>()).layout().rank);
  const auto windows = protocol == "stream" ? pipeline::stream_windows(input, config.max_pos)
                                            : std::vector<std::vector<int>>{};
  const int max_len = input.ctx == 0 ? config.max_pos : input.ctx;
  require(max_len <= config.max_pos, "--ctx ", max_len, " exceeds the model's maximum of ", config.max_pos, " positions");
  const pipeline::EvalWork work = pipeline::eval_work(input, protocol, windows, max_len, comm);
  nlohmann::json out = {{"command", "eval"}, {"model", input.model.string()}, {"text", input.text.string()},
                        {"protocol", protocol}, {"max_chars", input.max_chars},
                        {"ctx", max_len}, {"windows", windows.size()},
                        {"skip_windows", input.skip_windows}, {"ranks", comm.size()}};

  // The memory plan, before any work: the rank with the most tokens holds the most hidden states.
  const std::uint64_t most_tokens = comm.allreduce_value(static_cast<std::int64_t>(work.tokens()), parallel::ReduceOp::Max);
  const std::uint64_t longest = comm.allreduce_value(static_cast<std::int64_t>(work.longest()), parallel::ReduceOp::Max);
  const bool quantized = vm.count("store") || vm.count("quantize") || vm.count("adapter");
  const std::size_t dtype_bytes = model::dtype_size(ckpt.dtype(ckpt.linear_layer_names().front() + ".weight"));
  std::vector<pipeline::MemoryPlan> plans = {pipeline::eval_plan(
      config, dtype_bytes, most_tokens, longest, quantized ? rank : 0)};
  if (vm.count("store")) plans.front().items.push_back(pipeline::layer_record_item(config, rank));
  if (vm.count("quantize")) {  // the decomposition of one linear layer at a time, on top of the evaluation
    const qer::MethodSettings m = method_settings(vm);
    const auto worker = pipeline::quantize_worker_plan(config, rank, m.float64,
                                                       m.scale.kind == qer::ScaleKind::QeraExact);
    for (std::size_t i = 1; i < worker.items.size(); ++i) plans.front().items.push_back(worker.items[i]);
  }
  const std::uint64_t limit = memory_per_rank(vm, comm);
  pipeline::check_memory_plans(plans, limit, comm);
  out["memory_plan"] = plans.front().to_json();

  if (!vm.count("skip-fp32")) {
    Stopwatch t;
    pipeline::Fp32Layers layers(ckpt);
    const pipeline::Score fp32 = pipeline::evaluate(ckpt, work, layers, comm);
    out["fp32"] = fp32.to_json(protocol);
    out["fp32"]["seconds"] = t.seconds();
    out["fp32"]["tokens_per_second"] = fp32.tokens / t.seconds();
    SRR_LOG(info) << "fp32: perplexity " << fp32.perplexity() << " over " << fp32.tokens << " tokens";
  }
  if (quantized) {
    Stopwatch t;
    std::unique_ptr<pipeline::LayerSource> layers;
    std::unique_ptr<pipeline::LayerQuantizer> quantizer;
    if (vm.count("store")) {
      layers = std::make_unique<pipeline::StoreLayers>(vm["store"].as<std::string>(), ckpt);
      out["store"] = vm["store"].as<std::string>();
    } else if (vm.count("adapter")) {
      layers = std::make_unique<pipeline::AdapterLayers>(store::read_peft_adapter(vm["adapter"].as<std::string>()), ckpt);
      out["adapter"] = vm["adapter"].as<std::string>();
    } else {
      const qer::MethodSettings cfg = method_settings(vm);
      if (vm.count("plan")) out["plan"] = plan_json;
      quantizer = std::make_unique<pipeline::LayerQuantizer>(ckpt, cfg,
                                                             vm.count("calib") ? vm["calib"].as<std::string>() : std::string());
      layers = std::make_unique<pipeline::QuantizedLayers>(ckpt, *quantizer, comm, std::move(per_layer));
      out["settings"] = qer::to_json(cfg);
    }
    const double prepare_s = t.seconds();
    const pipeline::Score q = pipeline::evaluate(ckpt, work, *layers, comm);
    out["quantized"] = q.to_json(protocol);
    out["quantized"]["seconds"] = t.seconds();
    out["quantized"]["prepare_seconds"] = prepare_s;
    SRR_LOG(info) << "quantized: perplexity " << q.perplexity() << " over " << q.tokens << " tokens";
  }
  const auto peaks = pipeline::peak_rss_per_rank(comm);
  out["peak_rss_per_rank"] = peaks;
  std::string peak_text;
  for (std::size_t r = 0; r < peaks.size(); ++r) peak_text += (r ? ", " : "") + pipeline::format_bytes(peaks[r]);
  SRR_LOG(info) << "eval: peak RSS per rank " << peak_text << " (plan " << pipeline::format_bytes(plans.front().total()) << ")";
  if (comm.rank() == 0) std::cout << (vm.count("json") ? out.dump() : out.dump(2)) << std::endl;
  return 0;
}

}  // namespace srr::app
