// SPDX-License-Identifier: MIT
#include "pipeline/plan.hpp"

#include <algorithm>
#include <set>

#include "base/error.hpp"
#include "model/linear_inputs.hpp"

namespace srr::pipeline {

double estimated_cost(index_t in, index_t out, index_t rank) {
  return static_cast<double>(in) * static_cast<double>(out) * static_cast<double>(in + rank);
}

Plan plan_layers(const model::Checkpoint& ckpt, const qer::MethodSettings& method,
                 const std::vector<std::pair<std::string, qer::LayerSettings>>* per_layer) {
  Plan plan;
  plan.layout.quant = method.layer.quant;
  plan.layout.rank = method.layer.method == qer::Method::WeightOnly ? 0 : method.layer.rank;
  const auto names = ckpt.linear_layer_names();
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    const auto shape = ckpt.shape(name + ".weight");  // [out][in]
    const index_t out = shape.at(0), in = shape.at(1);
    const qer::LayerSettings& s = per_layer ? per_layer->at(i).second : method.layer;
    SRR_ASSERT(!per_layer || per_layer->at(i).first == name);
    qer::validate(s, in, out, name);
    const index_t rank = s.method == qer::Method::WeightOnly ? 0 : s.rank;
    plan.items.push_back({plan.layout.layers.size(), name, model::statistics_key(name), in, out,
                          estimated_cost(in, out, rank)});
    plan.layout.layers.push_back({name, in, out, s.quant.width, rank});
  }
  if (per_layer) {  // the root's figures: the largest of the layers' (docs/store.md)
    plan.layout.quant.width = 0;
    plan.layout.rank = 0;
    for (const auto& l : plan.layout.layers) {
      plan.layout.quant.width = std::max(plan.layout.quant.width, l.bits);
      plan.layout.rank = std::max(plan.layout.rank, l.rank);
    }
  }
  plan.layout.canonicalize();
  return plan;
}

std::vector<std::string> calibration_problems(const store::CalibrationInfo& info, const std::vector<WorkItem>& items,
                                              bool needs_xtx) {
  std::vector<std::string> problems;
  std::set<std::string> checked;
  for (const auto& w : items) {
    if (!checked.insert(w.key).second) continue;
    const auto it = info.inputs.find(w.key);
    if (it == info.inputs.end()) problems.push_back("no statistics for input '" + w.key + "'");
    else if (it->second.dim != w.in)
      problems.push_back(detail::concat("input '", w.key, "' has dimension ", it->second.dim, ", layer ", w.name,
                                        " has ", w.in, " inputs"));
    else if (needs_xtx && !it->second.has_xtx)
      problems.push_back("input '" + w.key + "' has no XᵀX, which --scale qera-exact needs");
  }
  return problems;
}

void require_calibration_fits(const std::filesystem::path& calib, const std::filesystem::path& model,
                              const std::vector<WorkItem>& items, bool needs_xtx) {
  const auto problems = calibration_problems(store::describe_calibration(calib), items, needs_xtx);
  if (problems.empty()) return;
  constexpr std::size_t kShown = 8;
  std::string msg = "calibration file '" + calib.string() + "' does not fit checkpoint '" + model.string() + "':";
  for (std::size_t i = 0; i < problems.size() && i < kShown; ++i) msg += "\n  " + problems[i];
  if (problems.size() > kShown) msg += detail::concat("\n  ... and ", problems.size() - kShown, " more");
  throw InputError(msg);
}

}  // namespace srr::pipeline
