// SPDX-License-Identifier: MIT
#include "qer/allocation.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/error.hpp"

namespace srr::qer {

double quantized_bits(la::index_t in, la::index_t out, const quant::QuantSettings& q) {
  const double blocks = static_cast<double>(out) * static_cast<double>((in + q.block - 1) / q.block);
  const double per_block = q.scheme == quant::Scheme::Mxint ? 8.0 : 16.0 + q.width;
  return static_cast<double>(in) * static_cast<double>(out) * q.width + blocks * per_block;
}

double factor_bits(la::index_t in, la::index_t out, la::index_t rank) {
  return 16.0 * static_cast<double>(rank) * static_cast<double>(in + out);
}

double layer_bits(la::index_t in, la::index_t out, const quant::QuantSettings& q, la::index_t rank) {
  return quantized_bits(in, out, q) + factor_bits(in, out, rank);
}

namespace {

void validate(const std::vector<std::vector<AllocationOption>>& options, const std::vector<std::string>& names,
              const AllocationSettings& s) {
  require(names.size() == options.size(), "allocate: ", names.size(), " names for ", options.size(), " layers");
  require(std::isfinite(s.budget) && s.budget > 0, "the budget must be a positive number of bits, got ", s.budget);
  require(s.grid >= 0 && s.grid <= (std::int64_t{1} << 24), "allocate: grid of ", s.grid, " cells is out of range");
  for (std::size_t i = 0; i < options.size(); ++i) {
    require(!options[i].empty(), "layer ", names[i], " has no allocation option");
    for (const auto& o : options[i])
      require(std::isfinite(o.cost) && o.cost >= 0 && std::isfinite(o.error) && o.error >= 0, "layer ", names[i],
              ": an option has cost ", o.cost, " and error ", o.error, " (both must be finite and >= 0)");
  }
}

struct Step {
  std::size_t layer = 0;
  int to = 0;  ///< position on the layer's hull after the step
  double dcost = 0, derror = 0;  ///< dcost > 0, derror < 0
};

/// The greedy on the hulls: starts from every layer's cheapest option and takes steps by error saved per
/// bit. Returns the integer plan and the LP bound (the first step that does not fit, taken fractionally).
AllocationResult greedy(const std::vector<std::vector<AllocationOption>>& options,
                        const std::vector<std::vector<int>>& hulls, double budget) {
  AllocationResult r;
  std::vector<Step> steps;
  for (std::size_t i = 0; i < options.size(); ++i) {
    r.choice.push_back(hulls[i][0]);
    r.cost += options[i][hulls[i][0]].cost;
    r.objective += options[i][hulls[i][0]].error;
    for (std::size_t h = 1; h < hulls[i].size(); ++h) {
      const auto& a = options[i][hulls[i][h - 1]];
      const auto& b = options[i][hulls[i][h]];
      steps.push_back({i, static_cast<int>(h), b.cost - a.cost, b.error - a.error});
    }
  }
  // By error saved per bit, best first; ties broken by layer and position so the plan is deterministic.
  std::stable_sort(steps.begin(), steps.end(), [](const Step& x, const Step& y) {
    return -x.derror * y.dcost > -y.derror * x.dcost;
  });
  std::vector<int> position(options.size(), 0);
  double bound = r.objective;
  bool fractional_taken = false;
  for (const Step& s : steps) {
    if (position[s.layer] != s.to - 1) continue;  // an earlier step of this layer was skipped
    if (r.cost + s.dcost <= budget) {
      position[s.layer] = s.to;
      r.choice[s.layer] = hulls[s.layer][static_cast<std::size_t>(s.to)];
      r.cost += s.dcost;
      r.objective += s.derror;
      if (!fractional_taken) bound = r.objective;
    } else if (!fractional_taken) {
      bound = r.objective + (budget - r.cost) / s.dcost * s.derror;
      fractional_taken = true;
    }
  }
  r.lower_bound = std::max(0.0, bound);
  return r;
}

/// Dynamic programme over costs rounded up to `grid` cells of the budget left after every layer's cheapest
/// option; every plan it returns fits the true budget.
AllocationResult dynamic_programme(const std::vector<std::vector<AllocationOption>>& options, double budget,
                                   std::int64_t grid) {
  const std::size_t n = options.size();
  std::vector<double> base(n);
  double spare = budget;
  for (std::size_t i = 0; i < n; ++i) {
    base[i] = std::min_element(options[i].begin(), options[i].end(), [](auto& a, auto& b) { return a.cost < b.cost; })
                  ->cost;
    spare -= base[i];
  }
  const double cell = spare / static_cast<double>(grid);
  const auto cells = static_cast<std::size_t>(grid) + 1;
  constexpr double inf = std::numeric_limits<double>::infinity();
  std::vector<double> best(cells, inf), next(cells);
  best[0] = 0;
  std::vector<std::vector<std::int16_t>> pick(n, std::vector<std::int16_t>(cells, -1));
  for (std::size_t i = 0; i < n; ++i) {
    std::fill(next.begin(), next.end(), inf);
    for (std::size_t j = 0; j < options[i].size(); ++j) {
      const double extra = options[i][j].cost - base[i];
      const double units = cell > 0 ? std::ceil(extra / cell - 1e-12) : (extra > 0 ? inf : 0.0);
      if (!(units <= static_cast<double>(grid))) continue;
      const auto u = static_cast<std::size_t>(units);
      for (std::size_t c = 0; c + u < cells; ++c) {
        if (best[c] == inf) continue;
        const double e = best[c] + options[i][j].error;
        if (e < next[c + u]) {
          next[c + u] = e;
          pick[i][c + u] = static_cast<std::int16_t>(j);
        }
      }
    }
    std::swap(best, next);
  }
  AllocationResult r;
  std::size_t c = static_cast<std::size_t>(std::min_element(best.begin(), best.end()) - best.begin());
  if (best[c] == inf) return r;  // cannot happen: the cheapest plan always fits
  r.choice.assign(n, 0);
  for (std::size_t i = n; i-- > 0;) {
    const int j = pick[i][c];
    r.choice[i] = j;
    const double extra = options[i][static_cast<std::size_t>(j)].cost - base[i];
    c -= static_cast<std::size_t>(cell > 0 ? std::ceil(extra / cell - 1e-12) : 0.0);
  }
  r.from_dp = true;
  return r;
}

/// Cost and objective of r.choice, summed in layer order (the greedy's running sums differ in rounding).
void total(const std::vector<std::vector<AllocationOption>>& options, AllocationResult& r) {
  r.cost = r.objective = 0;
  for (std::size_t i = 0; i < options.size(); ++i) {
    r.cost += options[i][static_cast<std::size_t>(r.choice[i])].cost;
    r.objective += options[i][static_cast<std::size_t>(r.choice[i])].error;
  }
}

}  // namespace

std::vector<int> lower_convex_hull(const std::vector<AllocationOption>& options) {
  std::vector<int> order(options.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    const auto &x = options[static_cast<std::size_t>(a)], &y = options[static_cast<std::size_t>(b)];
    return x.cost != y.cost ? x.cost < y.cost : x.error < y.error;
  });
  std::vector<int> hull;
  for (int idx : order) {
    const auto& c = options[static_cast<std::size_t>(idx)];
    // Dominated: no cheaper error than the last kept option.
    if (!hull.empty() && c.error >= options[static_cast<std::size_t>(hull.back())].error) continue;
    while (hull.size() >= 2) {
      const auto& a = options[static_cast<std::size_t>(hull[hull.size() - 2])];
      const auto& b = options[static_cast<std::size_t>(hull.back())];
      // b on or above the segment a–c: it never wins for any price of a bit.
      if ((b.error - a.error) * (c.cost - a.cost) >= (c.error - a.error) * (b.cost - a.cost))
        hull.pop_back();
      else
        break;
    }
    hull.push_back(idx);
  }
  return hull;
}

AllocationResult allocate(const std::vector<std::vector<AllocationOption>>& options,
                          const std::vector<std::string>& layer_names, const AllocationSettings& settings) {
  validate(options, layer_names, settings);
  for (const auto& o : options)
    require(o.size() <= 32767, "allocate: at most 32767 options a layer, got ", o.size());
  double minimum = 0;
  std::vector<std::vector<int>> hulls;
  for (const auto& o : options) {
    hulls.push_back(lower_convex_hull(o));
    minimum += o[static_cast<std::size_t>(hulls.back()[0])].cost;
  }
  require(minimum <= settings.budget, "no plan meets the budget of ", settings.budget,
          " bits: the cheapest option of every layer already needs ", minimum, " bits");
  AllocationResult best = greedy(options, hulls, settings.budget);
  total(options, best);
  if (settings.grid > 0 && !options.empty()) {
    AllocationResult dp = dynamic_programme(options, settings.budget, settings.grid);
    if (dp.from_dp) total(options, dp);
    if (dp.from_dp && dp.objective < best.objective) {
      dp.lower_bound = best.lower_bound;
      best = std::move(dp);
    }
  }
  return best;
}

}  // namespace srr::qer
