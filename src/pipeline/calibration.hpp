// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The calibration loop of `srr calibrate`: the FP32 model over windows of text, recording per distinct
/// linear-layer input the statistics of method.md §4, data-parallel over a communicator.

#include <map>
#include <string>
#include <vector>

#include "model/checkpoint.hpp"
#include "model/forward.hpp"
#include "parallel/mpi.hpp"
#include "qer/statistics.hpp"

namespace srr::pipeline {

/// Collective over `comm`: statistics of every distinct linear-layer input (keyed by
/// model::statistics_key) over all windows, rank i taking windows i, i + np, …; the partial statistics are
/// reduced (max for LQER's running max, sums for Σx², XᵀX and the token count), so every rank returns the
/// same result, equal for any rank count up to float64 summation order.
std::map<std::string, qer::InputStatistics> calibrate(model::Llama& llama, const model::Checkpoint& ckpt,
                                                      const std::vector<std::vector<int>>& windows, bool with_xtx,
                                                      const parallel::Communicator& comm);

}  // namespace srr::pipeline
