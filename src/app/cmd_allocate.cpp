// SPDX-License-Identifier: MIT
// `srr allocate`: the best bit width and rank per layer under a memory budget (qer/allocation.hpp).
//
// Memory accounting, per linear layer of in×out weights, in bits:
//   Q        in·out·w, plus MXINT's 8-bit shared exponent per block of B inputs (out·⌈in/B⌉·8), or INT-g's
//            float16 scale and w-bit zero point per group (out·⌈in/g⌉·(16 + w));
//   L·R      16·r·(in + out): the factors deployed in bf16.
// The budget is the average over every linear weight of the model (embeddings and norms are not counted).
//
// Objective: Σ over layers of the absolute activation-aware error tr(ΔᵀR_xxΔ) = rel_error_act · tr(WᵀR_xxW),
// i.e. the expected squared output error of each layer on the calibration distribution, summed. Each option's
// error is measured with a real decomposition (the method, scale and k rule of the options below, at that
// bit width and rank), not extrapolated; the layers are spread over the MPI ranks.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "app/logging.hpp"
#include "pipeline/layer_quantizer.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/timer.hpp"
#include "parallel/mpi.hpp"
#include "model/checkpoint.hpp"
#include "qer/allocation.hpp"

namespace srr::app {

namespace {

namespace fs = std::filesystem;
using la::index_t;

constexpr const char* kUsage =
    "usage: [mpirun -np N] srr allocate --model PATH --calib calib.h5 --budget BITS --out plan.tsv\n"
    "                     [--bits-set 2,3,4] [--rank-set 0,4,8,16,32] [method options]\n"
    "Chooses a bit width and a rank per linear layer minimising the summed activation-aware error\n"
    "Σ tr(ΔᵀR_xxΔ) with at most BITS bits per weight on average (Q, its shared exponents or scales, and bf16\n"
    "factors), and writes the plan: one line per layer.";

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

double quantized_bits(index_t in, index_t out, const quant::QuantSettings& q) {
  const double blocks = static_cast<double>(out) * static_cast<double>((in + q.block - 1) / q.block);
  const double per_block = q.scheme == quant::Scheme::Mxint ? 8.0 : 16.0 + q.width;
  return static_cast<double>(in) * static_cast<double>(out) * q.width + blocks * per_block;
}

double factor_bits(index_t in, index_t out, index_t rank) { return 16.0 * static_cast<double>(rank * (in + out)); }

struct Option {
  int bits = 0;
  index_t rank = 0;
  double cost = 0, error = 0, rel_error_act = 0, k_star = 0;
};

struct Layer {
  std::string name;
  index_t in = 0, out = 0;
  std::vector<Option> options;
};

/// Every layer's options that its shape admits (rank < min(in, out)), with their costs.
std::vector<Layer> layer_options(const model::Checkpoint& ckpt, const qer::MethodSettings& cfg, const std::vector<int>& bits,
                                 const std::vector<index_t>& ranks) {
  std::vector<Layer> layers;
  for (const auto& name : ckpt.linear_layer_names()) {
    const auto shape = ckpt.shape(name + ".weight");  // [out][in]
    Layer l{name, shape[1], shape[0], {}};
    for (int w : bits)
      for (index_t r : ranks) {
        if (r >= std::min(l.in, l.out)) continue;
        quant::QuantSettings q = cfg.layer.quant;
        q.width = w;
        l.options.push_back({w, r, quantized_bits(l.in, l.out, q) + factor_bits(l.in, l.out, r)});
      }
    require(!l.options.empty(), "layer ", name, " (", l.in, "×", l.out, ") admits none of the ranks of --rank-set");
    layers.push_back(std::move(l));
  }
  return layers;
}

/// Collective over `comm`: layer i is measured on rank i mod np, then every rank has every error.
void measure(std::vector<Layer>& layers, pipeline::LayerQuantizer& q, const parallel::Communicator& comm) {
  std::vector<double> values;
  for (const auto& l : layers) values.resize(values.size() + 3 * l.options.size(), 0.0);
  std::size_t at = 0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    Layer& l = layers[i];
    if (static_cast<int>(i % static_cast<std::size_t>(comm.size())) == comm.rank()) {
      const double energy = q.activation_energy(l.name);
      Stopwatch clock;
      for (std::size_t j = 0; j < l.options.size(); ++j) {
        qer::LayerSettings s = q.settings().layer;
        s.quant.width = l.options[j].bits;
        s.rank = l.options[j].rank;
        if (s.rank == 0) s.method = qer::Method::WeightOnly;
        const auto record = q.run(l.name, s);
        values[at + 3 * j] = record.rel_error_act * energy;
        values[at + 3 * j + 1] = record.rel_error_act;
        values[at + 3 * j + 2] = static_cast<double>(record.k_star);
      }
      SRR_LOG(info) << "allocate: measured " << l.name << " (" << l.options.size() << " options) in " << clock.seconds()
                    << " s";
    }
    at += 3 * l.options.size();
  }
  comm.allreduce(std::span<double>(values), parallel::ReduceOp::Sum);
  at = 0;
  for (auto& l : layers)
    for (auto& o : l.options) {
      o.error = values[at++];
      o.rel_error_act = values[at++];
      o.k_star = values[at++];
    }
}

/// The best plan that gives every layer the same (bits, rank), among those within the budget; choice empty
/// when none fits. A plan from the knapsack is never allowed to be worse than this.
qer::AllocationResult best_uniform(const std::vector<Layer>& layers, double budget_bits) {
  qer::AllocationResult best;
  for (const auto& candidate : layers.front().options) {
    qer::AllocationResult r;
    for (const auto& l : layers) {
      const auto it = std::find_if(l.options.begin(), l.options.end(), [&](const Option& o) {
        return o.bits == candidate.bits && o.rank == candidate.rank;
      });
      if (it == l.options.end()) break;
      r.choice.push_back(static_cast<int>(it - l.options.begin()));
      r.cost += it->cost;
      r.objective += it->error;
    }
    if (r.choice.size() == layers.size() && r.cost <= budget_bits && (best.choice.empty() || r.objective < best.objective))
      best = r;
  }
  return best;
}

std::string plan_text(const std::vector<Layer>& layers, const qer::AllocationResult& r, const qer::MethodSettings& cfg,
                      double budget, double weights, const std::string& model) {
  std::ostringstream out;
  out << std::setprecision(10);
  out << "# srr allocate plan v1\n"
      << "# model " << model << "\n"
      << "# method " << qer::to_string(cfg.layer.method) << " scale " << qer::to_string(cfg.scale.kind) << " k_rule "
      << qer::to_string(cfg.layer.k_rule) << " quant " << quant::to_string(cfg.layer.quant.scheme) << " block "
      << cfg.layer.quant.block << "\n"
      << "# budget_bits_per_weight " << budget << " used " << r.cost / weights << "\n"
      << "# objective " << r.objective << " lower_bound " << r.lower_bound << " gap " << r.gap() << "\n"
      << "layer\tbits\trank\tk_star\tpredicted_error\trel_error_act\tbits_per_weight\n";
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const Option& o = layers[i].options[static_cast<std::size_t>(r.choice[i])];
    const double n = static_cast<double>(layers[i].in) * static_cast<double>(layers[i].out);
    out << layers[i].name << '\t' << o.bits << '\t' << o.rank << '\t' << o.k_star << '\t' << o.error << '\t'
        << o.rel_error_act << '\t' << o.cost / n << '\n';
  }
  return out.str();
}

}  // namespace

int run_allocate(int argc, char** argv) {
  parallel::MpiEnvironment env(argc, argv);
  const auto comm = parallel::Communicator::world();
  po::options_description desc("srr allocate options");
  add_common_options(desc);
  add_method_options(desc);
  desc.add_options()
      ("model", po::value<std::string>(), "checkpoint (llama2.c .bin, .safetensors, or a HF directory)")
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
  const qer::MethodSettings cfg = method_settings(vm);
  const auto bits = parse_list<int>(vm["bits-set"].as<std::string>(), "bits-set");
  const auto ranks = parse_list<index_t>(vm["rank-set"].as<std::string>(), "rank-set");
  for (int w : bits) require(w >= 2 && w <= 8, "--bits-set: ", w, " is outside 2..8");
  for (index_t r : ranks) require(r >= 0, "--rank-set: rank ", r, " is negative");
  const double budget = vm["budget"].as<double>();
  require(std::isfinite(budget) && budget > 0, "--budget must be a positive number of bits per weight, got ", budget);
  const fs::path out = vm["out"].as<std::string>();
  require(!out.empty() && !fs::exists(out), "--out '", out.string(), "' exists; srr never overwrites a plan");
  require(out.parent_path().empty() || fs::is_directory(out.parent_path()), "--out '", out.string(),
          "': directory '", out.parent_path().string(), "' does not exist");

  Stopwatch clock;
  const auto ckpt = model::Checkpoint::open(vm["model"].as<std::string>());
  auto layers = layer_options(ckpt, cfg, bits, ranks);
  double weights = 0;
  for (const auto& l : layers) weights += static_cast<double>(l.in) * static_cast<double>(l.out);
  pipeline::LayerQuantizer q(ckpt, cfg, vm["calib"].as<std::string>());
  measure(layers, q, comm);

  std::vector<std::vector<qer::AllocationOption>> options;
  std::vector<std::string> names;
  for (const auto& l : layers) {
    names.push_back(l.name);
    options.emplace_back();
    for (const auto& o : l.options) options.back().push_back({o.cost, o.error});
  }
  qer::AllocationResult r;
  try {
    r = qer::allocate(options, names, {.budget = budget * weights, .grid = vm["grid"].as<std::int64_t>()});
  } catch (const InputError&) {
    double minimum = 0;
    for (const auto& l : layers) {
      double m = l.options.front().cost;
      for (const auto& o : l.options) m = std::min(m, o.cost);
      minimum += m;
    }
    if (minimum > budget * weights)
      throw InputError(detail::concat("--budget ", budget, " bits per weight: no plan meets it; the cheapest options of --bits-set and "
                                      "--rank-set need ", minimum / weights, " bits per weight"));
    throw;
  }
  const qer::AllocationResult uniform = best_uniform(layers, budget * weights);
  if (!uniform.choice.empty() && uniform.objective < r.objective) {  // only when the grid's rounding hid it
    const double bound = r.lower_bound;
    r = uniform;
    r.lower_bound = bound;
  }
  if (comm.rank() == 0) {
    write_file_atomic(out, plan_text(layers, r, cfg, budget, weights, vm["model"].as<std::string>()), Replace::never);
  }
  SRR_LOG(info) << "allocate: " << layers.size() << " layers, budget " << budget << " bits/weight, used "
                << r.cost / weights << ", objective " << r.objective << " (lower bound " << r.lower_bound << ", gap "
                << r.gap() << ") in " << clock.seconds() << " s; wrote " << out.string();
  if (comm.rank() == 0 && vm.count("json"))
    std::cout << nlohmann::json{{"command", "allocate"}, {"out", out.string()}, {"layers", layers.size()},
                                {"budget_bits_per_weight", budget}, {"used_bits_per_weight", r.cost / weights},
                                {"objective", r.objective}, {"lower_bound", r.lower_bound}, {"gap", r.gap()},
                                {"from_dp", r.from_dp}, {"seconds", clock.seconds()},
                                {"uniform_objective", uniform.choice.empty() ? nlohmann::json(nullptr)
                                                                             : nlohmann::json(uniform.objective)},
                                {"uniform_bits_per_weight", uniform.choice.empty() ? nlohmann::json(nullptr)
                                                                                   : nlohmann::json(uniform.cost / weights)}}
                     .dump()
              << std::endl;
  return 0;
}

}  // namespace srr::app
