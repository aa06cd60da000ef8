// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Allocation of bits and rank across layers under a memory budget: a multiple-choice knapsack. Each layer
/// i offers options j (a bit width, a rank, a k rule) with a memory cost c_ij in bits and a predicted error
/// e_ij; choose exactly one option per layer to minimise Σ_i e_ij subject to Σ_i c_ij ≤ budget.
///
/// Solved with a proven bound, never a heuristic without one:
///  * the Lagrangian / LP relaxation (each layer's options reduced to their lower convex hull in the
///    (cost, error) plane, hull segments taken greedily by error saved per bit) gives a lower bound on the
///    optimum and a feasible integer plan (the greedy solution without its last, fractional step);
///  * dynamic programming over costs rounded UP to a grid of `grid` cells gives a feasible plan (rounded
///    costs bound the true ones) that is optimal up to the rounding, and is kept when it beats the greedy;
///  * the reported gap is (objective − lower bound) / lower bound, so a plan is within `gap` of the true
///    optimum whatever the rounding did.

#include <cstdint>
#include <string>
#include <vector>

#include "la/matrix.hpp"
#include "quant/quantizer.hpp"

namespace srr::qer {

/// Memory of a quantized in×out layer, in bits: Q's in·out·w, plus MXINT's 8-bit shared exponent per block
/// of B inputs (8/B bits per weight) or INT-g's float16 scale and w-bit zero point per group.
double quantized_bits(la::index_t in, la::index_t out, const quant::QuantSettings& q);
/// Memory of the low-rank factors L (in×r) and R (r×out) deployed in bf16: 16·r·(in + out) bits.
double factor_bits(la::index_t in, la::index_t out, la::index_t rank);
/// Memory of a quantized layer with its factors: quantized_bits + factor_bits, the cost every budget counts.
double layer_bits(la::index_t in, la::index_t out, const quant::QuantSettings& q, la::index_t rank);

struct AllocationOption {
  double cost = 0;   ///< memory in bits (Q, shared exponents or scales, and the low-rank factors)
  double error = 0;  ///< predicted error, e.g. tr(ΔᵀR_xxΔ) (absolute, so layers add up)
};

struct AllocationSettings {
  double budget = 0;      ///< total bits allowed
  std::int64_t grid = 1 << 15;  ///< cost cells of the dynamic programme (0 = greedy only)
};

struct AllocationResult {
  std::vector<int> choice;  ///< option index per layer
  double cost = 0;          ///< Σ chosen costs (≤ budget)
  double objective = 0;     ///< Σ chosen errors
  double lower_bound = 0;   ///< LP-relaxation bound: no plan within the budget has a smaller objective
  double gap() const { return lower_bound > 0 ? (objective - lower_bound) / lower_bound : 0.0; }
  bool from_dp = false;     ///< the dynamic programme, not the greedy, produced `choice`
};

/// Solves the allocation; InputError naming the layer for an option with a negative or non-finite cost or
/// error or a layer without options, and naming the minimum achievable cost when no plan fits the budget.
/// `layer_names` (same length as `options`) are used in messages only.
AllocationResult allocate(const std::vector<std::vector<AllocationOption>>& options,
                          const std::vector<std::string>& layer_names, const AllocationSettings& settings);

/// Indices of the options on the lower convex hull of (cost, error), by increasing cost and strictly
/// decreasing error: the only options a Lagrangian relaxation ever picks.
std::vector<int> lower_convex_hull(const std::vector<AllocationOption>& options);

}  // namespace srr::qer
