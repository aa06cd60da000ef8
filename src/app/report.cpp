// SPDX-License-Identifier: MIT
#include "app/report.hpp"

#include <cmath>

namespace srr::app {

using nlohmann::json;

json to_json(const MethodConfig& c) {
  const auto& l = c.layer;
  return {{"method", qer::to_string(l.method)},
          {"scale", qer::to_string(c.scale.kind)},
          {"qera_exact_impl", qer::to_string(c.scale.exact_impl)},
          {"eig_floor", c.scale.eig_floor},
          {"diag_floor", c.scale.diag_floor},
          {"quant", quant::to_string(l.quant.scheme)},
          {"bits", l.quant.width},
          {"block", l.quant.block},
          {"bits_per_weight", quant::bits_per_weight(l.quant)},
          {"rank", l.rank},
          {"k_rule", qer::to_string(l.k_rule)},
          {"k", l.k},
          {"recon", qer::to_string(l.recon)},
          {"iters", l.iters},
          {"probe", qer::to_string(l.probe)},
          {"mc_samples", l.mc_samples},
          {"seed", l.seed},
          {"svd", qer::to_string(c.svd.method)},
          {"oversample", c.svd.oversample},
          {"power_iters", c.svd.power_iters},
          {"krylov_iters", c.svd.krylov_iters},
          {"precision", c.float64 ? "float64" : "float32"}};
}

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
          {"scale_floored", S.report().floored},
          {"scale_condition", number(S.report().condition)},
          {"scale_shrinkage", S.report().shrinkage_lambda},
          {"seconds", timings}};
}

template json to_json<float>(const qer::LayerResult<float>&, const qer::Scale&);
template json to_json<double>(const qer::LayerResult<double>&, const qer::Scale&);

}  // namespace srr::app
