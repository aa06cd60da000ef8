// SPDX-License-Identifier: MIT
// `srr eval`: perplexity of the FP32 model and of a quantized one, data-parallel under MPI.
#include <cmath>
#include <iostream>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "app/logging.hpp"
#include "app/quantized_model.hpp"
#include "app/report.hpp"
#include "app/text_input.hpp"
#include "base/error.hpp"
#include "base/timer.hpp"
#include "model/forward.hpp"
#include "model/text.hpp"

namespace srr::app {

namespace {

constexpr const char* kUsage =
    "usage: [mpirun -np N] srr eval --model PATH --text FILE [--store store.h5 | --quantize [method options]]\n"
    "Perplexity of the FP32 model and, with --store or --quantize, of the quantized model (Q + L·R in every\n"
    "linear layer). --protocol stream: the text as one token stream cut into BOS-prefixed windows (token\n"
    "perplexity); --protocol wikitext: lm-eval's WikiText-2 word perplexity (documents, detokenizer, rolling\n"
    "windows; method.md §8.1).";

/// Sums over the scored tokens; reduced across ranks.
struct Score {
  double nll = 0;         ///< Σ −log p
  double tokens = 0;      ///< predicted tokens
  double words = 0;       ///< wikitext: words of the original documents
  double bytes = 0;       ///< wikitext: UTF-8 bytes of the detokenized documents
  nlohmann::json to_json(const std::string& protocol) const {
    nlohmann::json j = {{"nll_sum", nll}, {"tokens", tokens}, {"token_perplexity", std::exp(nll / tokens)}};
    if (protocol == "wikitext") {
      j["words"] = words;
      j["word_perplexity"] = std::exp(nll / words);
      j["byte_perplexity"] = std::exp(nll / bytes);
      j["bits_per_byte"] = nll / bytes / std::log(2.0);
    }
    return j;
  }
};

/// Σ −log p over window positions [first, end) (position p predicted by column p − 1).
double window_nll(const model::Llama& llama, std::span<const int> window, std::size_t first) {
  const auto logits = llama.logits(window);
  const auto count = static_cast<double>(window.size() - first);
  return model::mean_nll(logits, window, static_cast<int>(first)) * count;
}

Score score_stream(const model::Llama& llama, const std::vector<std::vector<int>>& windows, const dist::Communicator& comm) {
  Score s;
  for (std::size_t w = static_cast<std::size_t>(comm.rank()); w < windows.size(); w += static_cast<std::size_t>(comm.size())) {
    s.nll += window_nll(llama, windows[w], 1);
    s.tokens += static_cast<double>(windows[w].size() - 1);
  }
  return s;
}

Score score_wikitext(const model::Llama& llama, const TextInput& in, int max_len, const dist::Communicator& comm) {
  const auto docs = model::split_wikitext_documents(model::read_text(in.text, in.max_chars));
  Score s;
  for (std::size_t d = static_cast<std::size_t>(comm.rank()); d < docs.size(); d += static_cast<std::size_t>(comm.size())) {
    const std::string text = model::wikitext_detokenize(docs[d]);
    const auto tokens = in.tokenizer->encode(text);
    for (const auto& w : model::rolling_windows(tokens, max_len, in.tokenizer->bos())) {
      s.nll += window_nll(llama, w.input, w.first_scored);
      s.tokens += static_cast<double>(w.target_count());
    }
    s.words += static_cast<double>(model::word_count(docs[d]));
    s.bytes += static_cast<double>(text.size());
  }
  return s;
}

/// Collective over `comm`.
Score evaluate(const model::Llama& llama, const TextInput& in, const std::string& protocol,
               const std::vector<std::vector<int>>& windows, const dist::Communicator& comm) {
  const int max_len = in.ctx == 0 ? llama.config().max_pos : in.ctx;
  Score s = protocol == "stream" ? score_stream(llama, windows, comm) : score_wikitext(llama, in, max_len, comm);
  std::array<double, 4> sums = {s.nll, s.tokens, s.words, s.bytes};
  comm.allreduce(std::span<double>(sums), dist::ReduceOp::Sum);
  return {sums[0], sums[1], sums[2], sums[3]};
}

}  // namespace

int run_eval(int argc, char** argv) {
  dist::MpiEnvironment env(argc, argv);
  const auto comm = dist::Communicator::world();
  po::options_description desc("srr eval options");
  add_common_options(desc);
  add_text_options(desc, "100000");
  desc.add_options()
      ("protocol", po::value<std::string>()->default_value("stream"), "stream | wikitext")
      ("store", po::value<std::string>(), "evaluate the quantized model in this store (from srr quantize)")
      ("quantize", "quantize every linear layer on the spot with the method options below")
      ("calib", po::value<std::string>(), "calibration file for --quantize (from srr calibrate)")
      ("skip-fp32", "do not evaluate the FP32 model")
      ("json", "print a one-line JSON result on stdout");
  add_method_options(desc);
  po::variables_map vm;
  if (!parse_command(argc, argv, desc, vm, kUsage)) return 0;
  init_logging({.level = vm["log-level"].as<std::string>(), .file = vm["log-file"].as<std::string>(), .rank = comm.rank()});
  const std::string protocol = vm["protocol"].as<std::string>();
  require(protocol == "stream" || protocol == "wikitext", "--protocol must be stream or wikitext, got '", protocol, "'");
  require(!(vm.count("store") && vm.count("quantize")), "give --store or --quantize, not both");

  const TextInput input = text_input(vm);
  const auto ckpt = model::Checkpoint::open(input.model);
  model::Llama llama(ckpt);
  const auto windows = protocol == "stream" ? stream_windows(input, llama.config().max_pos)
                                            : std::vector<std::vector<int>>{};
  nlohmann::json out = {{"command", "eval"}, {"model", input.model.string()}, {"text", input.text.string()},
                        {"protocol", protocol}, {"max_chars", input.max_chars},
                        {"ctx", input.ctx == 0 ? llama.config().max_pos : input.ctx}, {"windows", windows.size()},
                        {"skip_windows", input.skip_windows}, {"ranks", comm.size()}};

  if (!vm.count("skip-fp32")) {
    Stopwatch t;
    const Score fp32 = evaluate(llama, input, protocol, windows, comm);
    out["fp32"] = fp32.to_json(protocol);
    out["fp32"]["seconds"] = t.seconds();
    out["fp32"]["tokens_per_second"] = fp32.tokens / t.seconds();
    SRR_LOG(info) << "fp32: perplexity " << std::exp(fp32.nll / fp32.tokens) << " over " << fp32.tokens << " tokens";
  }
  if (vm.count("store") || vm.count("quantize")) {
    Stopwatch t;
    std::map<std::string, model::LinearOverride> overrides;
    if (vm.count("store")) {
      overrides = load_store(vm["store"].as<std::string>());
      out["store"] = vm["store"].as<std::string>();
    } else {
      const MethodConfig cfg = method_config(vm);
      std::optional<std::filesystem::path> calib;
      if (vm.count("calib")) calib = vm["calib"].as<std::string>();
      LayerQuantizer q(ckpt, cfg, calib);
      overrides = quantize_all(ckpt, q, comm);
      out["settings"] = to_json(cfg);
    }
    const double quantize_s = t.seconds();
    for (auto& [name, o] : overrides) llama.replace_linear(name, std::move(o));
    t.restart();
    const Score q = evaluate(llama, input, protocol, windows, comm);
    out["quantized"] = q.to_json(protocol);
    out["quantized"]["seconds"] = t.seconds();
    out["quantized"]["prepare_seconds"] = quantize_s;
    SRR_LOG(info) << "quantized: perplexity " << std::exp(q.nll / q.tokens) << " over " << q.tokens << " tokens";
  }
  if (comm.rank() == 0) std::cout << (vm.count("json") ? out.dump() : out.dump(2)) << std::endl;
  return 0;
}

}  // namespace srr::app
