// SPDX-License-Identifier: MIT
#include "qer/method.hpp"

namespace srr::qer {

nlohmann::json to_json(const MethodSettings& m) {
  const auto& l = m.layer;
  return {{"method", to_string(l.method)},
          {"scale", to_string(m.scale.kind)},
          {"qera_exact_impl", to_string(m.scale.exact_impl)},
          {"eig_floor", m.scale.eig_floor},
          {"diag_floor", m.scale.diag_floor},
          {"quant", quant::to_string(l.quant.scheme)},
          {"bits", l.quant.width},
          {"block", l.quant.block},
          {"bits_per_weight", quant::bits_per_weight(l.quant)},
          {"rank", l.rank},
          {"k_rule", to_string(l.k_rule)},
          {"k", l.k},
          {"recon", to_string(l.recon)},
          {"iters", l.iters},
          {"probe", to_string(l.probe)},
          {"mc_samples", l.mc_samples},
          {"seed", l.seed},
          {"diagnostics", to_string(l.diagnostics)},
          {"svd", to_string(m.svd.method)},
          {"oversample", m.svd.oversample},
          {"power_iters", m.svd.power_iters},
          {"krylov_iters", m.svd.krylov_iters},
          {"precision", m.float64 ? "float64" : "float32"}};
}

}  // namespace srr::qer
