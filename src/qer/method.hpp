// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Everything that defines how one layer is decomposed, in one struct: what `srr layer`, `srr quantize`,
/// `srr eval --quantize` and a library user set, and its JSON view (the `config` a store records, the
/// `settings` of `srr layer`'s report), so every consumer sees the same names.

#include <nlohmann/json.hpp>

#include "qer/layer.hpp"
#include "qer/scale.hpp"
#include "qer/svd.hpp"

namespace srr::qer {

struct MethodSettings {
  LayerSettings layer;
  ScaleSettings scale;
  SvdSettings svd;
  bool float64 = false;  ///< decomposition precision (statistics and S⁻¹ are float64 regardless)
};

/// Every setting that changes a result, by its command-line name (underscored).
nlohmann::json to_json(const MethodSettings& m);

}  // namespace srr::qer
