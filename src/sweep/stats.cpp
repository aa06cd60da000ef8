// SPDX-License-Identifier: MIT
#include "sweep/stats.hpp"

#include <cmath>
#include <cstdio>
#include <limits>

#include "base/error.hpp"

namespace srr::sweep {

MeanStd mean_std(std::span<const double> values) {
  MeanStd m;
  double sum = 0;
  for (const double v : values)
    if (std::isfinite(v)) sum += v, ++m.n;
  if (m.n == 0) {
    m.mean = m.std = std::numeric_limits<double>::quiet_NaN();
    return m;
  }
  m.mean = sum / static_cast<double>(m.n);
  double ss = 0;
  for (const double v : values)
    if (std::isfinite(v)) ss += (v - m.mean) * (v - m.mean);
  m.std = m.n > 1 ? std::sqrt(ss / static_cast<double>(m.n - 1)) : 0.0;
  // equal values whose mean is not representable leave rounding noise, not a spread worth printing
  if (m.std <= 1e-12 * std::abs(m.mean)) m.std = 0;
  return m;
}

std::string format_number(double v, int digits) {
  if (std::isnan(v)) return "nan";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

std::string format_mean_std(const MeanStd& m, int digits) {
  if (m.n == 0) return "–";
  if (m.n == 1) return format_number(m.mean, digits);
  return format_number(m.mean, digits) + " ± " + format_number(m.std, 2);
}

double win_rate(std::span<const double> srr, std::span<const double> qer) {
  require(srr.size() == qer.size(), "win-rate: ", srr.size(), " SRR layers against ", qer.size(), " QER layers");
  std::size_t wins = 0, counted = 0;
  for (std::size_t i = 0; i < srr.size(); ++i) {
    if (!std::isfinite(srr[i]) || !std::isfinite(qer[i])) continue;
    ++counted;
    if (srr[i] < qer[i]) ++wins;
  }
  return counted ? static_cast<double>(wins) / static_cast<double>(counted) : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace srr::sweep
