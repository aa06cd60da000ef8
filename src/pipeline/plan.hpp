// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The plan of a quantize job: one work item per linear layer of the checkpoint, with the store layout its
/// shapes fix and the checks, made before any store is touched, that every layer fits the method settings
/// and that a calibration file fits the checkpoint.

#include <filesystem>
#include <string>
#include <vector>

#include "la/matrix.hpp"
#include "model/checkpoint.hpp"
#include "qer/method.hpp"
#include "store/calibration.hpp"
#include "store/store.hpp"

namespace srr::pipeline {

using la::index_t;

/// One layer to compute.
struct WorkItem {
  std::size_t index = 0;  ///< in the store's layout
  std::string name;
  std::string key;        ///< model::statistics_key: layers with equal keys share a scale
  index_t in = 0, out = 0;
  double cost = 0;        ///< estimated_cost: orders the work, and weighs progress for the ETA
};

/// Estimated work of a layer: the SVDs and products of decompose_layer are O(in·out·(in + r)).
double estimated_cost(index_t in, index_t out, index_t rank);

struct Plan {
  store::StoreLayout layout;
  std::vector<WorkItem> items;  ///< in layout order
};

/// Every q/k/v/o/gate/up/down layer of `ckpt`, each validated against `method` (InputError naming the
/// layer otherwise). With `per_layer` (from an allocation plan, in checkpoint order) each layer takes its own
/// bits and rank, recorded in the layout.
Plan plan_layers(const model::Checkpoint& ckpt, const qer::MethodSettings& method,
                 const std::vector<std::pair<std::string, qer::LayerSettings>>* per_layer = nullptr);

/// Every way the calibration file described by `info` fails to serve `items` (one readable line each): an
/// input without statistics, of another dimension, or without XᵀX when `needs_xtx`. Empty when it fits.
std::vector<std::string> calibration_problems(const store::CalibrationInfo& info, const std::vector<WorkItem>& items,
                                              bool needs_xtx);

/// Throws InputError naming both files and listing the first problems when the calibration file `calib`
/// does not fit the planned items of checkpoint `model`.
void require_calibration_fits(const std::filesystem::path& calib, const std::filesystem::path& model,
                              const std::vector<WorkItem>& items, bool needs_xtx);

}  // namespace srr::pipeline
