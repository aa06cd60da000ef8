// SPDX-License-Identifier: MIT
#include "pipeline/calibration.hpp"

#include <set>

#include "model/linear_inputs.hpp"
#include "pipeline/ranks.hpp"

namespace srr::pipeline {

std::map<std::string, qer::InputStatistics> calibrate(model::Llama& llama, const model::Checkpoint& ckpt,
                                                      const std::vector<std::vector<int>>& windows, bool with_xtx,
                                                      const parallel::Communicator& comm) {
  std::map<std::string, qer::InputStatistics> stats;
  for (const auto& name : ckpt.linear_layer_names()) {  // every input, even on a rank without windows
    const auto key = model::statistics_key(name);
    if (!stats.count(key)) stats.emplace(key, qer::make_statistics(ckpt.shape(name + ".weight").at(1), with_xtx));
  }
  std::set<std::string> seen;  // inputs already accumulated for the current window (q/k/v share one)
  llama.set_input_hook([&](const std::string& name, const la::Matrix<float>& X) {
    const auto key = model::statistics_key(name);
    if (seen.insert(key).second) stats.at(key).accumulate(X, with_xtx);
  });
  for_my_share(windows.size(), comm, [&](std::size_t w) {
    seen.clear();
    (void)llama.logits(windows[w]);
  });
  llama.set_input_hook(nullptr);
  for (auto& [key, s] : stats) {  // map order: identical on every rank, as the collectives require
    comm.allreduce(std::span<double>(s.mean_abs_max), parallel::ReduceOp::Max);
    comm.allreduce(std::span<double>(s.sum_sq), parallel::ReduceOp::Sum);
    if (with_xtx)
      comm.allreduce(std::span<double>(s.xtx.data(), static_cast<std::size_t>(s.xtx.size())), parallel::ReduceOp::Sum);
    s.tokens = comm.allreduce_value(s.tokens, parallel::ReduceOp::Sum);
    if (with_xtx) s.symmetrize();
  }
  return stats;
}

}  // namespace srr::pipeline
