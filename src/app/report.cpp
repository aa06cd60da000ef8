// SPDX-License-Identifier: MIT
#include "app/report.hpp"

#include <cmath>

namespace srr::app {

using nlohmann::json;

namespace {
/// JSON has no NaN: unknown metrics become null.
json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
}  // namespace

template <class T>
json to_json(const qer::LayerResult<T>& r, const qer::Scale& S) {
  json timings = json::object();
  for (const auto& [k, v] : r.seconds) timings[k] = v;
  return {{"k_star", r.k_star},
          {"preserved", r.preserved},
          {"rel_error", number(r.rel_error)},
          {"rel_error_scaled", number(r.rel_error_scaled)},
          {"rel_error_act", number(r.rel_error_act)},
          {"sw_frobenius2", r.sw_frobenius2},
          {"sw_singular_values", r.sw_singular_values},
          {"probe_singular_values", r.probe_singular_values},
          {"objective", r.objective},
          {"oracle_errors", r.oracle_errors},
          {"scored_directions", r.scored_directions},
          {"scale_floored", S.report().floored},
          {"scale_condition", number(S.report().condition)},
          {"scale_shrinkage", S.report().shrinkage_lambda},
          {"scale_ridge", S.report().ridge},
          {"seconds", timings}};
}

template json to_json<float>(const qer::LayerResult<float>&, const qer::Scale&);
template json to_json<double>(const qer::LayerResult<double>&, const qer::Scale&);

}  // namespace srr::app
