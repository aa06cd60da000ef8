// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Which layer a free worker computes next (docs/store.md, "Scheduling"). The rules, in order, for worker w:
///   1. a pending layer of an input w has started (its scale is in w's cache: built once, used for all);
///   2. else the costliest layer of an input nobody has started;
///   3. else the costliest pending layer of any input (takeover at the end: rebuilding that input's scale
///      beats idling while the owner works through the rest).
/// Ties in cost go by input key, then by store index, so the order is a function of the plan alone.
/// The same class drives `srr quantize` and `bench_schedule`'s simulation (simulate()).

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/plan.hpp"

namespace srr::pipeline {

class Scheduler {
public:
  explicit Scheduler(std::vector<WorkItem> items);
  /// The next layer for `worker`, or nothing when every layer has been handed out.
  std::optional<WorkItem> next(int worker);
  std::size_t pending() const { return pending_.size(); }

private:
  std::vector<WorkItem> pending_;     ///< costliest first
  std::map<std::string, int> owner_;  ///< input key → the first worker handed one of its layers
};

/// How long a worker takes for a layer: `scale_cached` is false when the worker must (re)build the layer
/// input's scale first.
using LayerTime = std::function<double(const WorkItem& item, bool scale_cached)>;

struct Simulation {
  double makespan = 0;
  std::vector<double> busy;   ///< per worker: seconds of work
  std::int64_t scales_built = 0;
};

/// Runs the job's Scheduler on `workers` identical workers in simulated time: a free worker (the one free
/// earliest; ties by worker number, as the master serves them in order) asks for its next layer, which
/// takes `time(item, cached)`; each worker caches the scales of its `cache_size` most recently used inputs
/// as LayerQuantizer does.
Simulation simulate(const std::vector<WorkItem>& items, int workers, const LayerTime& time, std::size_t cache_size);

}  // namespace srr::pipeline
