// SPDX-License-Identifier: MIT
#include "pipeline/progress.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <sstream>

#include "pipeline/log.hpp"

namespace srr::pipeline {

std::int64_t peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;  // KiB on Linux
}

std::string duration_text(double seconds) {
  const auto s = static_cast<long>(std::max(0.0, seconds) + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

Progress::Progress(std::size_t total, std::size_t done_before, double total_cost)
    : total_(total), done_(done_before), cost_left_(total_cost) {}

void Progress::finished(const WorkItem& w, const store::LayerRecord& r) {
  ++done_;
  ++computed_;
  cost_done_ += w.cost;
  cost_left_ -= w.cost;
  sum_err_ += r.rel_error_scaled;
  const double elapsed = clock_.seconds();
  const double eta = cost_done_ > 0 ? elapsed * std::max(cost_left_, 0.0) / cost_done_ : 0;
  std::ostringstream line;
  line << "[" << done_ << "/" << total_ << "] " << w.name << "  " << w.in << "×" << w.out << "  k*=" << r.k_star
       << "  err_S " << std::fixed << std::setprecision(4) << r.rel_error_scaled << "  " << std::setprecision(2)
       << r.seconds.get(qer::Stage::Layer) << " s  eta " << duration_text(eta) << "  (rank "
       << r.mpi_rank << ")";
  SRR_LOG(info) << line.str();
}

void Progress::summary(const std::vector<std::int64_t>& peak_kib, std::int64_t scales_built, std::size_t inputs) const {
  const double wall = clock_.seconds();
  std::ostringstream mem;
  for (std::size_t i = 0; i < peak_kib.size(); ++i)
    mem << (i ? ", " : "") << "rank " << i << " " << std::fixed << std::setprecision(1)
        << static_cast<double>(peak_kib[i]) / 1024.0 << " MiB";
  std::ostringstream line;
  line << "done: " << computed_ << " layers computed, " << (done_ - computed_) << " already in the store, " << done_
       << "/" << total_ << " done; wall " << std::fixed << std::setprecision(2) << wall << " s, "
       << std::setprecision(3) << (wall > 0 ? static_cast<double>(computed_) / wall : 0.0) << " layers/s";
  if (computed_ > 0) line << ", mean err_S " << std::setprecision(4) << sum_err_ / static_cast<double>(computed_);
  if (scales_built >= 0) line << ", scales built " << scales_built << " for " << inputs << " inputs";
  SRR_LOG(info) << line.str();
  SRR_LOG(info) << "peak memory: " << mem.str();
}

}  // namespace srr::pipeline
