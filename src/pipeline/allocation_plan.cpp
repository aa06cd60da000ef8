// SPDX-License-Identifier: MIT
#include "pipeline/allocation_plan.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include "base/error.hpp"
#include "base/text.hpp"
#include "base/files.hpp"
#include "base/sha256.hpp"
#include "base/timer.hpp"
#include "model/forward.hpp"
#include "pipeline/evaluation.hpp"
#include "pipeline/layer_quantizer.hpp"
#include "pipeline/log.hpp"

namespace srr::pipeline {

namespace {

constexpr int kMinBits = 2, kMaxBits = 8;

/// The best plan that gives every layer the same (bits, rank), among those within `budget` bits; choice
/// empty when none fits.
qer::AllocationResult best_uniform(const std::vector<AllocationLayer>& layers, double budget) {
  qer::AllocationResult best;
  for (const auto& candidate : layers.front().options) {
    qer::AllocationResult r;
    for (const auto& l : layers) {
      const auto it = std::find_if(l.options.begin(), l.options.end(), [&](const AllocationOption& o) {
        return o.bits == candidate.bits && o.rank == candidate.rank;
      });
      if (it == l.options.end()) break;
      r.choice.push_back(static_cast<int>(it - l.options.begin()));
      r.cost += it->cost;
      r.objective += it->error;
    }
    if (r.choice.size() == layers.size() && r.cost <= budget && (best.choice.empty() || r.objective < best.objective))
      best = r;
  }
  return best;
}

/// Σ over layers of the cheapest option: the least any plan needs.
double cheapest(const std::vector<AllocationLayer>& layers) {
  double total = 0;
  for (const auto& l : layers) {
    double m = l.options.front().cost;
    for (const auto& o : l.options) m = std::min(m, o.cost);
    total += m;
  }
  return total;
}

/// A whole decimal integer, or nullopt.
std::optional<long long> whole_number(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return std::nullopt;
  for (std::size_t j = i; j < s.size(); ++j)
    if (s[j] < '0' || s[j] > '9') return std::nullopt;
  return std::stoll(s);
}

}  // namespace

void validate(const AllocateSettings& settings) {
  require(std::isfinite(settings.budget) && settings.budget > 0,
          "--budget must be a positive number of bits per weight, got ", settings.budget);
  require(!settings.bits.empty(), "--bits-set is empty");
  require(!settings.ranks.empty(), "--rank-set is empty");
  for (int w : settings.bits) require(w >= kMinBits && w <= kMaxBits, "--bits-set: ", w, " is outside 2..8");
  for (index_t r : settings.ranks) require(r >= 0, "--rank-set: rank ", r, " is negative");
}

std::vector<AllocationLayer> layer_options(const model::Checkpoint& ckpt, const qer::MethodSettings& method,
                                           const AllocateSettings& settings) {
  validate(settings);
  std::vector<AllocationLayer> layers;
  for (const auto& name : ckpt.linear_layer_names()) {
    const auto shape = ckpt.shape(name + ".weight");  // [out][in]
    AllocationLayer l{name, shape.at(1), shape.at(0), {}};
    for (int w : settings.bits)
      for (index_t r : settings.ranks) {
        if (r >= std::min(l.in, l.out)) continue;
        quant::QuantSettings q = method.layer.quant;
        q.width = w;
        l.options.push_back({w, r, qer::layer_bits(l.in, l.out, q, r)});
      }
    require(!l.options.empty(), "layer ", name, " (", l.in, "×", l.out, ") admits none of the ranks of --rank-set");
    layers.push_back(std::move(l));
  }
  require(!layers.empty(), "the checkpoint has no linear layers to allocate");
  return layers;
}

void measure_options(std::vector<AllocationLayer>& layers, LayerQuantizer& q, const parallel::Communicator& comm) {
  constexpr std::size_t kValues = 3;  // error, rel_error_act, k_star
  std::vector<double> values;
  for (const auto& l : layers) values.resize(values.size() + kValues * l.options.size(), 0.0);
  std::size_t at = 0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    AllocationLayer& l = layers[i];
    if (static_cast<int>(i % static_cast<std::size_t>(comm.size())) == comm.rank()) {
      const double energy = q.activation_energy(l.name);
      Stopwatch clock;
      for (std::size_t j = 0; j < l.options.size(); ++j) {
        qer::LayerSettings s = q.settings().layer;
        s.quant.width = l.options[j].bits;
        s.rank = l.options[j].rank;
        if (s.rank == 0) s.method = qer::Method::WeightOnly;
        const auto record = q.run(l.name, s);
        values[at + kValues * j] = record.rel_error_act * energy;  // tr(ΔᵀR_xxΔ)
        values[at + kValues * j + 1] = record.rel_error_act;
        values[at + kValues * j + 2] = static_cast<double>(record.k_star);
      }
      SRR_LOG(info) << "allocate: measured " << l.name << " (" << l.options.size() << " options) in " << clock.seconds()
                    << " s";
    }
    at += kValues * l.options.size();
  }
  comm.allreduce(std::span<double>(values), parallel::ReduceOp::Sum);
  at = 0;
  for (auto& l : layers)
    for (auto& o : l.options) {
      o.act_error = values[at++];
      o.rel_error_act = values[at++];
      o.k_star = values[at++];
      o.error = l.sensitivity * o.act_error;
    }
}

std::string to_string(Weighting w) { return w == Weighting::none ? "none" : "loss"; }

Weighting weighting_from_string(const std::string& s) {
  if (s == "none") return Weighting::none;
  if (s == "loss") return Weighting::loss;
  throw InputError("--weighting must be none or loss, got '" + s + "'");
}

namespace {
/// The FP32 checkpoint with one linear layer replaced (what a layer's sensitivity is measured on).
class OneLayerReplaced : public LayerSource {
public:
  OneLayerReplaced(const model::Checkpoint& ckpt, std::string name, model::LinearOverride o)
      : ckpt_(ckpt), name_(std::move(name)), o_(std::move(o)) {
    const auto names = ckpt.linear_layer_names();
    decoder_layer_ = static_cast<int>((std::find(names.begin(), names.end(), name_) - names.begin()) / 7);
  }
  model::DecoderLayer load(int l) override {
    model::DecoderLayer layer = model::DecoderLayer::load(ckpt_, l);
    if (l == decoder_layer_) layer.replace_linear(name_, o_);
    return layer;
  }

private:
  const model::Checkpoint& ckpt_;
  std::string name_;
  model::LinearOverride o_;
  int decoder_layer_ = 0;
};
}  // namespace

double measure_sensitivity(std::vector<AllocationLayer>& layers, const model::Checkpoint& ckpt, LayerQuantizer& q,
                           const std::vector<std::vector<int>>& windows, const parallel::Communicator& comm) {
  require(!windows.empty(), "--weighting loss: the sensitivity text has no windows (see --text, --windows)");
  const TextInput unused;  // the stream protocol reads only `windows`
  const EvalWork work = eval_work(unused, "stream", windows, 0, comm);
  const auto mean_nll = [&](LayerSource& source) {
    const Score s = evaluate(ckpt, work, source, comm);
    return s.nll / s.tokens;
  };
  Fp32Layers fp32_layers(ckpt);
  const double fp32 = mean_nll(fp32_layers);
  for (auto& l : layers) {
    Stopwatch clock;
    // The cheapest option has the largest error: the strongest signal above the noise of the text.
    const auto ref = std::min_element(l.options.begin(), l.options.end(),
                                      [](const AllocationOption& a, const AllocationOption& b) { return a.cost < b.cost; });
    qer::LayerSettings s = q.settings().layer;
    s.quant.width = ref->bits;
    s.rank = ref->rank;
    if (s.rank == 0) s.method = qer::Method::WeightOnly;
    OneLayerReplaced replaced(ckpt, l.name, store::to_override(q.run(l.name, s)));  // every rank computes it: same bits
    const double increase = mean_nll(replaced) - fp32;
    // A layer whose damage the text cannot see (ΔNLL ≤ 0) weighs nothing: it gets the cheapest option.
    l.sensitivity = ref->act_error > 0 ? std::max(increase, 0.0) / ref->act_error : 0.0;
    for (auto& o : l.options) o.error = l.sensitivity * o.act_error;
    SRR_LOG(info) << "allocate: sensitivity of " << l.name << ": ΔNLL " << increase << " at " << ref->bits
                  << " bits, rank " << ref->rank << " (error " << ref->act_error << ") in " << clock.seconds() << " s";
  }
  return fp32;
}

Allocation allocate(const model::Checkpoint& ckpt, const qer::MethodSettings& method,
                    const std::filesystem::path& calib, const AllocateSettings& settings,
                    const std::vector<std::vector<int>>& windows, const parallel::Communicator& comm) {
  Allocation a;
  a.layers = layer_options(ckpt, method, settings);
  for (const auto& l : a.layers) a.weights += l.weights();
  const double budget = settings.budget * a.weights;
  // Refused before any decomposition: the cheapest plan does not depend on the errors.
  const double minimum = cheapest(a.layers);
  if (minimum > budget)
    throw InputError(detail::concat("--budget ", settings.budget, " bits per weight: no plan meets it; the cheapest "
                                    "options of --bits-set and --rank-set need ", minimum / a.weights,
                                    " bits per weight"));
  LayerQuantizer q(ckpt, method, calib);
  measure_options(a.layers, q, comm);
  a.weighting = settings.weighting;
  if (settings.weighting == Weighting::loss) a.fp32_nll = measure_sensitivity(a.layers, ckpt, q, windows, comm);

  std::vector<std::vector<qer::AllocationOption>> options;
  std::vector<std::string> names;
  for (const auto& l : a.layers) {
    names.push_back(l.name);
    options.emplace_back();
    for (const auto& o : l.options) options.back().push_back({o.cost, o.error});
  }
  a.plan = qer::allocate(options, names, {.budget = budget, .grid = settings.grid});
  a.uniform = best_uniform(a.layers, budget);
  if (!a.uniform.choice.empty() && a.uniform.objective < a.plan.objective) {  // only when the grid's rounding hid it
    const double bound = a.plan.lower_bound;
    a.plan = a.uniform;
    a.plan.lower_bound = bound;
  }
  return a;
}

std::string plan_text(const Allocation& a, const qer::MethodSettings& method, double budget, const std::string& model) {
  std::ostringstream out;
  out << std::setprecision(10);
  out << "# srr allocate plan v1\n"
      << "# model " << model << "\n"
      << "# method " << qer::to_string(method.layer.method) << " scale " << qer::to_string(method.scale.kind)
      << " k_rule " << qer::to_string(method.layer.k_rule) << " quant " << quant::to_string(method.layer.quant.scheme)
      << " block " << method.layer.quant.block << "\n"
      << "# budget_bits_per_weight " << budget << " used " << a.bits_per_weight(a.plan) << "\n"
      << "# weighting " << to_string(a.weighting)
      << (a.weighting == Weighting::loss ? " (objective: predicted increase of the mean token NLL, nats)" : "")
      << "\n"
      << "# objective " << a.plan.objective << " lower_bound " << a.plan.lower_bound << " gap " << a.plan.gap() << "\n";
  if (!a.uniform.choice.empty())
    out << "# best_uniform objective " << a.uniform.objective << " bits_per_weight " << a.bits_per_weight(a.uniform)
        << "\n";
  out << "layer\tbits\trank\tk_rule\tk_star\tpredicted_error\tact_error\trel_error_act\tsensitivity\tbits_per_weight\n";
  for (std::size_t i = 0; i < a.layers.size(); ++i) {
    const AllocationOption& o = a.layers[i].options[static_cast<std::size_t>(a.plan.choice[i])];
    out << a.layers[i].name << '\t' << o.bits << '\t' << o.rank << '\t' << qer::to_string(method.layer.k_rule) << '\t'
        << o.k_star << '\t' << o.error << '\t' << o.act_error << '\t' << o.rel_error_act << '\t'
        << a.layers[i].sensitivity << '\t' << o.cost / a.layers[i].weights() << '\n';
  }
  return out.str();
}

AllocationPlan parse_plan(const std::string& text, const std::filesystem::path& path) {
  Sha256 sha;
  sha.update(std::string_view(text));
  AllocationPlan plan{path, {}, text, sha.hex_digest()};
  const std::string file = path.string();
  std::map<std::string, std::size_t> column;  // header name → index
  std::size_t columns = 0;
  std::map<std::string, std::size_t> seen;    // layer → line
  std::istringstream in(text);
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const auto fields = split_fields(line);
    const auto where = [&] { return detail::concat(file, ":", number, ": "); };
    if (column.empty()) {
      for (std::size_t i = 0; i < fields.size(); ++i)
        require(column.emplace(fields[i], i).second, where(), "column '", fields[i], "' is named twice");
      for (const char* c : {"layer", "bits", "rank"})
        require(column.count(c) > 0, where(), "the header has no column '", c,
                "' (expected: layer, bits, rank[, k_rule, …] separated by tabs)");
      columns = fields.size();
      continue;
    }
    require(fields.size() == columns, where(), fields.size(), " fields, the header has ", columns,
            " (fields are separated by tabs)");
    PlanEntry e;
    e.line = number;
    e.layer = fields[column.at("layer")];
    require(!e.layer.empty(), where(), "empty layer name");
    const auto bits = whole_number(fields[column.at("bits")]);
    require(bits.has_value(), where(), "bits '", fields[column.at("bits")], "' is not a whole number");
    require(*bits >= kMinBits && *bits <= kMaxBits, where(), "layer ", e.layer, ": bits ", *bits, " is outside 2..8");
    e.bits = static_cast<int>(*bits);
    const auto rank = whole_number(fields[column.at("rank")]);
    require(rank.has_value(), where(), "rank '", fields[column.at("rank")], "' is not a whole number");
    require(*rank >= 0, where(), "layer ", e.layer, ": rank ", *rank, " is negative");
    e.rank = static_cast<index_t>(*rank);
    if (column.count("k_rule")) {
      try {
        e.k_rule = qer::k_rule_from_string(fields[column.at("k_rule")]);
      } catch (const InputError& err) {
        throw InputError(where() + "layer " + e.layer + ": " + err.what());
      }
    }
    const auto [it, fresh] = seen.emplace(e.layer, number);
    require(fresh, where(), "layer ", e.layer, " is listed twice (also on line ", it->second, ")");
    plan.entries.push_back(std::move(e));
  }
  require(!column.empty(), file, ": no header line (layer, bits, rank, …); is this a plan from srr allocate?");
  return plan;
}

AllocationPlan read_plan(const std::filesystem::path& path) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const std::exception& e) {
    throw InputError(detail::concat("--plan '", path.string(), "': ", e.what()));
  }
  return parse_plan(text, path);
}

index_t largest_rank(const AllocationPlan& plan) {
  index_t r = 0;
  for (const auto& e : plan.entries) r = std::max(r, e.rank);
  return r;
}

std::vector<std::pair<std::string, qer::LayerSettings>> plan_settings(const AllocationPlan& plan,
                                                                      const model::Checkpoint& ckpt,
                                                                      const qer::LayerSettings& base) {
  const std::string file = plan.path.string();
  const auto names = ckpt.linear_layer_names();
  const std::set<std::string> known(names.begin(), names.end());
  std::map<std::string, const PlanEntry*> by_name;
  for (const auto& e : plan.entries) {
    require(known.count(e.layer) > 0, file, ":", e.line, ": layer ", e.layer,
            " is not a linear layer of the checkpoint (", names.size(), " layers, e.g. ", names.front(), ")");
    by_name[e.layer] = &e;
  }
  std::vector<std::pair<std::string, qer::LayerSettings>> out;
  for (const auto& name : names) {
    const auto it = by_name.find(name);
    require(it != by_name.end(), file, ": layer ", name, " of the checkpoint is missing from the plan");
    const PlanEntry& e = *it->second;
    const auto shape = ckpt.shape(name + ".weight");  // [out][in]
    const index_t in = shape.at(1), out_dim = shape.at(0);
    require(e.rank < std::min(in, out_dim), file, ":", e.line, ": layer ", name, ": rank ", e.rank,
            " must be smaller than min(in, out) = ", std::min(in, out_dim), " (", in, "×", out_dim, ")");
    qer::LayerSettings s = base;
    s.quant.width = e.bits;
    s.rank = e.rank;
    if (e.k_rule) s.k_rule = *e.k_rule;
    require(base.method != qer::Method::WeightOnly || e.rank == 0, file, ":", e.line, ": layer ", name, ": rank ",
            e.rank, " with --method w-only (a plan's ranks need qer, srr or loftq)");
    if (s.rank == 0) s.method = qer::Method::WeightOnly;
    try {
      qer::validate(s, in, out_dim, name);
    } catch (const InputError& err) {
      throw InputError(detail::concat(file, ":", e.line, ": ", err.what()));
    }
    out.emplace_back(name, s);
  }
  return out;
}

}  // namespace srr::pipeline
