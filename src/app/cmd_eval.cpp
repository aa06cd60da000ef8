// SPDX-License-Identifier: MIT
// `srr eval`: perplexity of the FP32 model and of a quantized one, data-parallel under MPI.
#include <cmath>
#include <iostream>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "app/logging.hpp"
#include "app/text_options.hpp"
#include "base/error.hpp"
#include "base/timer.hpp"
#include "model/forward.hpp"
#include "pipeline/evaluation.hpp"
#include "pipeline/layer_quantizer.hpp"
#include "export/export.hpp"

namespace srr::app {

namespace {

constexpr const char* kUsage =
    "usage: [mpirun -np N] srr eval --model PATH --text FILE [--store store.h5 | --quantize [method options] |\n"
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
      ("skip-fp32", "do not evaluate the FP32 model")
      ("json", "print a one-line JSON result on stdout");
  add_method_options(desc);
  po::variables_map vm;
  if (!parse_command(argc, argv, desc, vm, kUsage)) return 0;
  init_logging({.level = vm["log-level"].as<std::string>(), .file = vm["log-file"].as<std::string>(), .rank = comm.rank()});
  const std::string protocol = vm["protocol"].as<std::string>();
  require(protocol == "stream" || protocol == "wikitext", "--protocol must be stream or wikitext, got '", protocol, "'");
  require(vm.count("store") + vm.count("quantize") + vm.count("adapter") <= 1,
          "give one of --store, --quantize and --adapter");

  const pipeline::TextInput input = text_input(vm);
  const auto ckpt = model::Checkpoint::open(input.model);
  model::Llama llama(ckpt);
  const auto windows = protocol == "stream" ? pipeline::stream_windows(input, llama.config().max_pos)
                                            : std::vector<std::vector<int>>{};
  nlohmann::json out = {{"command", "eval"}, {"model", input.model.string()}, {"text", input.text.string()},
                        {"protocol", protocol}, {"max_chars", input.max_chars},
                        {"ctx", input.ctx == 0 ? llama.config().max_pos : input.ctx}, {"windows", windows.size()},
                        {"skip_windows", input.skip_windows}, {"ranks", comm.size()}};

  if (!vm.count("skip-fp32")) {
    Stopwatch t;
    const pipeline::Score fp32 = pipeline::evaluate(llama, input, protocol, windows, comm);
    out["fp32"] = fp32.to_json(protocol);
    out["fp32"]["seconds"] = t.seconds();
    out["fp32"]["tokens_per_second"] = fp32.tokens / t.seconds();
    SRR_LOG(info) << "fp32: perplexity " << fp32.perplexity() << " over " << fp32.tokens << " tokens";
  }
  if (vm.count("store") || vm.count("quantize") || vm.count("adapter")) {
    Stopwatch t;
    std::map<std::string, model::LinearOverride> overrides;
    if (vm.count("store")) {
      overrides = pipeline::load_store(vm["store"].as<std::string>(), ckpt);
      out["store"] = vm["store"].as<std::string>();
    } else if (vm.count("adapter")) {
      overrides = store::adapter_overrides(store::read_peft_adapter(vm["adapter"].as<std::string>()), ckpt);
      out["adapter"] = vm["adapter"].as<std::string>();
    } else {
      const qer::MethodSettings cfg = method_settings(vm);
      pipeline::LayerQuantizer q(ckpt, cfg, vm.count("calib") ? vm["calib"].as<std::string>() : std::string());
      overrides = pipeline::quantize_all(ckpt, q, comm);
      out["settings"] = qer::to_json(cfg);
    }
    const double quantize_s = t.seconds();
    for (auto& [name, o] : overrides) llama.replace_linear(name, std::move(o));
    t.restart();
    const pipeline::Score q = pipeline::evaluate(llama, input, protocol, windows, comm);
    out["quantized"] = q.to_json(protocol);
    out["quantized"]["seconds"] = t.seconds();
    out["quantized"]["prepare_seconds"] = quantize_s;
    SRR_LOG(info) << "quantized: perplexity " << q.perplexity() << " over " << q.tokens << " tokens";
  }
  if (comm.rank() == 0) std::cout << (vm.count("json") ? out.dump() : out.dump(2)) << std::endl;
  return 0;
}

}  // namespace srr::app
