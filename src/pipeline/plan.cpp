// SPDX-License-Identifier: MIT
#include "pipeline/plan.hpp"

#include <set>

#include "base/error.hpp"
#include "model/linear_inputs.hpp"

namespace srr::pipeline {

double estimated_cost(index_t in, index_t out, index_t rank) {
  return static_cast<double>(in) * static_cast<double>(out) * static_cast<double>(in + rank);
}

Plan plan_layers(const model::Checkpoint& ckpt, const qer::MethodSettings& method) {
  Plan plan;
  plan.layout.quant = method.layer.quant;
  plan.layout.rank = method.layer.method == qer::Method::WeightOnly ? 0 : method.layer.rank;
  for (const auto& name : ckpt.linear_layer_names()) {
    const auto shape = ckpt.shape(name + ".weight");  // [out][in]
    const index_t out = shape.at(0), in = shape.at(1);
    qer::validate(method.layer, in, out, name);
    plan.items.push_back({plan.layout.layers.size(), name, model::statistics_key(name), in, out,
                          estimated_cost(in, out, method.layer.rank)});
    plan.layout.layers.push_back({name, in, out});
  }
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
