// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// JSON views of settings and results: what `srr layer` prints, and what the store and the sweep tables
/// record, so every consumer sees the same field names.

#include <nlohmann/json.hpp>

#include "qer/layer.hpp"

namespace srr::app {

/// Metrics, spectra, objective curve, k*, timings — everything but the matrices.
template <class T>
nlohmann::json to_json(const qer::LayerResult<T>& r, const qer::Scale& S);

}  // namespace srr::app
