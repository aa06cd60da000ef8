// SPDX-License-Identifier: MIT
// `srr layer`: one method on one matrix, one JSON object out.
#include <iostream>
#include <optional>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "app/logging.hpp"
#include "base/error.hpp"
#include "model/checkpoint.hpp"
#include "model/linear_inputs.hpp"
#include "qer/synthetic.hpp"
#include "store/calibration.hpp"
#include "store/record.hpp"

namespace srr::app {

using la::index_t;

namespace {

constexpr const char* kUsage =
    "usage: srr layer (--model PATH --layer NAME | --synthetic INxOUT) [options]\n"
    "Decomposes one weight matrix W ≈ Q + L·R with one method and prints one JSON object with all settings\n"
    "and metrics. Statistics for the scale come from --calib (srr calibrate) or, without it, from a synthetic\n"
    "activation model (--stats-tokens, --stats-seed).";

struct LayerInput {
  std::string source;  ///< checkpoint path or "synthetic"
  std::string name;    ///< layer name (keys every random stream)
  la::Matrix<float> W;
};

/// "INxOUT" → (in, out), both in 1..2^20.
std::pair<index_t, index_t> parse_shape(const std::string& s) {
  const auto x = s.find_first_of("xX");
  const auto digits = [](const std::string& t) {
    return !t.empty() && t.size() <= 7 && t.find_first_not_of("0123456789") == std::string::npos;
  };
  const std::string a = x == std::string::npos ? "" : s.substr(0, x), b = x == std::string::npos ? "" : s.substr(x + 1);
  require(digits(a) && digits(b), "--synthetic must look like INxOUT (e.g. 4096x11008), got '", s, "'");
  const index_t in = std::stol(a), out = std::stol(b);
  require(in > 0 && out > 0 && in <= (1 << 20) && out <= (1 << 20), "--synthetic: dimensions must be in 1..2^20, got '",
          s, "'");
  return {in, out};
}

LayerInput load_input(const po::variables_map& vm) {
  const bool from_model = vm.count("model") > 0, synthetic = vm.count("synthetic") > 0;
  require(from_model != synthetic, "give either --model PATH --layer NAME or --synthetic INxOUT");
  if (from_model) {
    require(vm.count("layer") > 0, "--model needs --layer NAME (e.g. model.layers.0.self_attn.q_proj)");
    const auto path = vm["model"].as<std::string>();
    const auto ckpt = model::Checkpoint::open(path);
    const auto name = vm["layer"].as<std::string>();
    return {path, name, ckpt.linear_weight(name)};
  }
  const auto [in, out] = parse_shape(vm["synthetic"].as<std::string>());
  qer::SyntheticWeightSpec spec{.in = in, .out = out, .decay = vm["decay"].as<double>(),
                                .seed = vm["weight-seed"].as<std::uint64_t>()};
  return {"synthetic", "synthetic." + std::to_string(in) + "x" + std::to_string(out), qer::synthetic_weight(spec)};
}

template <class T>
nlohmann::json decompose(const LayerInput& input, const qer::MethodSettings& cfg, const qer::InputStatistics& stats) {
  const qer::Scale S = qer::build_scale(stats, cfg.scale, input.name);
  const qer::LocalSvdEngine engine(cfg.svd);
  const la::Matrix<double> R = stats.has_xtx() ? stats.rxx() : la::Matrix<double>();
  const auto W = input.W.cast<T>();
  const auto result = qer::decompose_layer(W, S, cfg.layer, input.name, engine, stats.has_xtx() ? &R : nullptr);
  SRR_LOG(info) << input.name << " " << W.rows() << "×" << W.cols() << " k*=" << result.k_star
                << " err_S " << result.rel_error_scaled << " err " << result.rel_error << " in "
                << result.seconds.get(qer::Stage::Total) << " s";
  return store::to_json(store::make_record(result, S.report()));
}

}  // namespace

int run_layer(int argc, char** argv) {
  po::options_description desc("srr layer options");
  add_common_options(desc);
  desc.add_options()
      ("model", po::value<std::string>(), "checkpoint: llama2.c .bin, .safetensors, or a Hugging Face model directory")
      ("layer", po::value<std::string>(), "linear layer name, e.g. model.layers.0.mlp.down_proj")
      ("synthetic", po::value<std::string>(), "synthetic weight INxOUT (bulk + power-law spikes)")
      ("decay", po::value<double>()->default_value(1.0), "synthetic spectrum decay exponent")
      ("weight-seed", po::value<std::uint64_t>()->default_value(1), "synthetic weight seed")
      ("calib", po::value<std::string>(), "calibration file (from srr calibrate) holding this layer's input statistics")
      ("stats-tokens", po::value<long>()->default_value(0), "synthetic statistics: tokens (0 = 2·in)")
      ("stats-seed", po::value<std::uint64_t>()->default_value(2), "synthetic statistics seed")
      ("json", "print the JSON object on one line (default: indented)");
  add_method_options(desc);
  po::variables_map vm;
  if (!parse_command(argc, argv, desc, vm, kUsage)) return 0;
  init_logging({.level = vm["log-level"].as<std::string>(), .file = vm["log-file"].as<std::string>()});

  const qer::MethodSettings cfg = method_settings(vm);
  const LayerInput input = load_input(vm);
  const long tokens = vm["stats-tokens"].as<long>();
  require(tokens >= 0, "--stats-tokens must be >= 0, got ", tokens);
  const bool from_file = vm.count("calib") > 0;
  require(!from_file || input.source != "synthetic", "--calib needs --model/--layer (a synthetic weight has no calibration)");
  const std::string key = from_file ? model::statistics_key(input.name) : "synthetic";
  const auto stats = from_file ? store::read_statistics(vm["calib"].as<std::string>(), key)
                               : qer::synthetic_statistics({.dim = input.W.rows(), .tokens = tokens,
                                                            .seed = vm["stats-seed"].as<std::uint64_t>()});
  require(stats.dim == input.W.rows(), "statistics ", key, " have dimension ", stats.dim, " but ", input.name, " has ",
          input.W.rows(), " inputs");

  nlohmann::json out = {{"tool", "srr"},
                        {"version", SRR_VERSION},
                        {"command", "layer"},
                        {"input", {{"source", input.source}, {"layer", input.name}, {"in", input.W.rows()},
                                   {"out", input.W.cols()},
                                   {"statistics", from_file ? vm["calib"].as<std::string>() : std::string("synthetic")},
                                   {"statistics_tokens", stats.tokens}}},
                        {"settings", qer::to_json(cfg)}};
  out["result"] = cfg.float64 ? decompose<double>(input, cfg, stats) : decompose<float>(input, cfg, stats);
  std::cout << (vm.count("json") ? out.dump() : out.dump(2)) << std::endl;
  return 0;
}

}  // namespace srr::app
