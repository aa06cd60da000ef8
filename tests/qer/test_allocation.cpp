// SPDX-License-Identifier: MIT
// Allocation across layers (multiple-choice knapsack): the plan fits the budget, is optimal where the costs
// sit on the programme's grid (checked against exhaustive search), and its reported lower bound really is
// one (never above the exhaustive optimum).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "base/error.hpp"
#include "qer/allocation.hpp"

using namespace srr::qer;

namespace {

using Options = std::vector<std::vector<AllocationOption>>;

std::vector<std::string> names(std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back("layer" + std::to_string(i));
  return out;
}

/// Best objective over every plan with cost ≤ budget (exhaustive), +inf when none fits.
double exhaustive(const Options& o, double budget) {
  double best = INFINITY;
  std::vector<std::size_t> pick(o.size(), 0);
  while (true) {
    double cost = 0, err = 0;
    for (std::size_t i = 0; i < o.size(); ++i) {
      cost += o[i][pick[i]].cost;
      err += o[i][pick[i]].error;
    }
    if (cost <= budget) best = std::min(best, err);
    std::size_t i = 0;
    while (i < o.size() && ++pick[i] == o[i].size()) pick[i++] = 0;
    if (i == o.size()) return best;
  }
}

/// Random layers whose error falls with cost, like (bits, rank) options do, on integer costs.
Options random_options(std::mt19937_64& gen, std::size_t layers, std::size_t per_layer) {
  std::uniform_int_distribution<int> cost(1, 40);
  std::uniform_real_distribution<double> err(0.0, 10.0);
  Options o(layers);
  for (auto& layer : o)
    for (std::size_t j = 0; j < per_layer; ++j) layer.push_back({double(cost(gen)), err(gen)});
  return o;
}

}  // namespace

TEST(Allocation, LowerConvexHullKeepsOnlyOptionsALagrangianCanPick) {
  // (cost, error): 1 is dominated by 0, 3 lies above the segment 2–4, 5 is dominated by 4.
  const std::vector<AllocationOption> o = {{1, 10}, {2, 11}, {3, 5}, {5, 4.5}, {6, 2}, {7, 2}};
  EXPECT_EQ(lower_convex_hull(o), (std::vector<int>{0, 2, 4}));
}

TEST(Allocation, ExactOnTheGridAndTheBoundHolds) {
  std::mt19937_64 gen(2026);
  for (int trial = 0; trial < 200; ++trial) {
    const Options o = random_options(gen, 5, 4);
    double lo = 0, hi = 0;
    for (const auto& layer : o) {
      double mn = INFINITY, mx = 0;
      for (const auto& x : layer) mn = std::min(mn, x.cost), mx = std::max(mx, x.cost);
      lo += mn;
      hi += mx;
    }
    const double budget = std::floor(lo + (hi - lo) * (trial % 10) / 10.0);
    const double best = exhaustive(o, budget);
    // One cell per bit of spare budget: rounding up changes no cost, so the programme is exact.
    const AllocationResult r = allocate(o, names(o.size()), {.budget = budget, .grid = std::int64_t(budget - lo)});
    EXPECT_LE(r.cost, budget);
    EXPECT_NEAR(r.objective, best, 1e-9 * (1 + best)) << "trial " << trial;
    EXPECT_LE(r.lower_bound, best + 1e-9 * (1 + best)) << "trial " << trial;
    EXPECT_GE(r.gap(), -1e-12);
    double cost = 0, err = 0;
    for (std::size_t i = 0; i < o.size(); ++i) cost += o[i][r.choice[i]].cost, err += o[i][r.choice[i]].error;
    EXPECT_DOUBLE_EQ(cost, r.cost);
    EXPECT_DOUBLE_EQ(err, r.objective);
  }
}

TEST(Allocation, CoarseGridAndGreedyStayFeasibleAndBounded) {
  std::mt19937_64 gen(7);
  for (int trial = 0; trial < 100; ++trial) {
    const Options o = random_options(gen, 6, 5);
    double lo = 0;
    for (const auto& layer : o) {
      double mn = INFINITY;
      for (const auto& x : layer) mn = std::min(mn, x.cost);
      lo += mn;
    }
    const double budget = lo + 37.5;
    const double best = exhaustive(o, budget);
    for (std::int64_t grid : {0, 7, 64}) {
      const AllocationResult r = allocate(o, names(o.size()), {.budget = budget, .grid = grid});
      EXPECT_LE(r.cost, budget);
      EXPECT_GE(r.objective, best - 1e-9);
      EXPECT_LE(r.lower_bound, best + 1e-9);
    }
  }
}

TEST(Allocation, RefusesWhatNoPlanCanMeetAndNamesTheLayer) {
  const Options o = {{{10, 1}, {20, 0.5}}, {{5, 2}}};
  try {
    allocate(o, {"a", "b"}, {.budget = 14});
    FAIL() << "no InputError";
  } catch (const srr::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("15"), std::string::npos) << e.what();
  }
  EXPECT_THROW(allocate({{{1, -1}}}, {"model.layers.0.mlp.up_proj"}, {.budget = 5}), srr::InputError);
  EXPECT_THROW(allocate({{}}, {"x"}, {.budget = 5}), srr::InputError);
  EXPECT_THROW(allocate(o, {"a", "b"}, {.budget = -1}), srr::InputError);
  // The exact fit: both cheapest options.
  const AllocationResult r = allocate(o, {"a", "b"}, {.budget = 15});
  EXPECT_EQ(r.choice, (std::vector<int>{0, 0}));
  EXPECT_DOUBLE_EQ(r.objective, 3);
}
