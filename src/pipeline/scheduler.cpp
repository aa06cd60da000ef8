// SPDX-License-Identifier: MIT
#include "pipeline/scheduler.hpp"

#include <algorithm>
#include <deque>

#include "base/error.hpp"

namespace srr::pipeline {

Scheduler::Scheduler(std::vector<WorkItem> items) : pending_(std::move(items)) {
  std::stable_sort(pending_.begin(), pending_.end(), [](const WorkItem& a, const WorkItem& b) {
    if (a.cost != b.cost) return a.cost > b.cost;
    if (a.key != b.key) return a.key < b.key;
    return a.index < b.index;
  });
}

std::optional<WorkItem> Scheduler::next(int worker) {
  auto pick = std::find_if(pending_.begin(), pending_.end(), [&](const WorkItem& w) {
    const auto it = owner_.find(w.key);
    return it != owner_.end() && it->second == worker;
  });
  if (pick == pending_.end())
    pick = std::find_if(pending_.begin(), pending_.end(), [&](const WorkItem& w) { return !owner_.count(w.key); });
  if (pick == pending_.end()) pick = pending_.begin();
  if (pick == pending_.end()) return std::nullopt;
  owner_.emplace(pick->key, worker);
  WorkItem w = std::move(*pick);
  pending_.erase(pick);
  return w;
}

Simulation simulate(const std::vector<WorkItem>& items, int workers, const LayerTime& time, std::size_t cache_size) {
  SRR_ASSERT(workers >= 1 && cache_size >= 1);
  Scheduler scheduler(items);
  Simulation sim;
  sim.busy.assign(static_cast<std::size_t>(workers), 0.0);
  std::vector<double> free_at(static_cast<std::size_t>(workers), 0.0);
  std::vector<std::deque<std::string>> cache(static_cast<std::size_t>(workers));  // most recent first
  for (;;) {
    const auto w = static_cast<std::size_t>(std::min_element(free_at.begin(), free_at.end()) - free_at.begin());
    const auto item = scheduler.next(static_cast<int>(w));
    if (!item) break;
    auto& c = cache[w];
    const auto hit = std::find(c.begin(), c.end(), item->key);
    const bool cached = hit != c.end();
    if (cached) c.erase(hit);
    else ++sim.scales_built;
    c.push_front(item->key);
    if (c.size() > cache_size) c.pop_back();
    const double t = time(*item, cached);
    free_at[w] += t;
    sim.busy[w] += t;
  }
  sim.makespan = *std::max_element(free_at.begin(), free_at.end());
  return sim;
}

}  // namespace srr::pipeline
