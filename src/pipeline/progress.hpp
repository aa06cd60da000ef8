// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The master's bookkeeping of a quantize job: one line per finished layer with an ETA weighted by the
/// plan's cost estimates, and the summary at the end (layers, wall time, mean error, peak memory per rank).

#include <cstdint>
#include <string>
#include <vector>

#include "base/timer.hpp"
#include "pipeline/plan.hpp"
#include "store/record.hpp"

namespace srr::pipeline {

/// Peak resident set size of this process, KiB (getrusage).
std::int64_t peak_rss_kib();
/// "12s", "3m10s", "2h05m".
std::string duration_text(double seconds);

class Progress {
public:
  Progress(std::size_t total, std::size_t done_before, double total_cost);
  /// Logs `[done/total] name in×out k*=… err_S … s eta … (rank r)`.
  void finished(const WorkItem& w, const store::LayerRecord& r);
  /// Logs the summary; `scales_built` < 0 leaves the scale count out.
  void summary(const std::vector<std::int64_t>& peak_kib, std::int64_t scales_built, std::size_t inputs) const;

private:
  Stopwatch clock_;
  std::size_t total_, done_, computed_ = 0;
  double cost_done_ = 0, cost_left_ = 0, sum_err_ = 0;
};

}  // namespace srr::pipeline
