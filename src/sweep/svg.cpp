// SPDX-License-Identifier: MIT
#include "sweep/svg.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace srr::sweep {

namespace {

constexpr double kWidth = 760, kHeight = 440;
constexpr double kLeft = 72, kRight = 210, kTop = 44, kBottom = 72;  // plot margins; the legend sits right
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;

/// Okabe–Ito's colour-blind-safe palette, then four of Tol's muted colours (a table (b) plot has 12 SRR
/// series); cycled beyond that.
constexpr const char* kColours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
                                    "#000000", "#999999", "#882255", "#44AA99", "#117733", "#AA4499"};

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string tick_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", std::abs(v) < 1e-12 ? 0.0 : v);
  return buf;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return lo > hi; }
  /// Widened so that points do not sit on the frame, and never of zero width.
  void pad(double fraction) {
    if (empty()) lo = 0, hi = 1;
    if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {
      const double d = std::max(std::abs(hi) * 0.1, 1e-3);
      lo -= d, hi += d;
    }
    const double d = (hi - lo) * fraction;
    lo -= d, hi += d;
  }
};

/// About `target` round tick values (1, 2, 5 × 10^k steps) inside [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target) {
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (const double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push_back(t);
  return ticks;
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string render_svg(const Chart& chart) {
  const bool categorical = !chart.categories.empty();
  Range xr, yr;
  if (categorical) {
    xr.add(-0.5);
    xr.add(static_cast<double>(chart.categories.size()) - 0.5);
  }
  for (const auto& s : chart.series)
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i]) || !std::isfinite(s.x[i])) continue;
      if (!categorical) xr.add(s.x[i]);
      const double e = i < s.err.size() && std::isfinite(s.err[i]) ? s.err[i] : 0.0;
      yr.add(s.y[i] - e);
      yr.add(s.y[i] + e);
    }
  if (!categorical) xr.pad(0.05);
  yr.pad(0.06);
  const auto px = [&](double x) { return kLeft + (x - xr.lo) / (xr.hi - xr.lo) * kPlotW; };
  const auto py = [&](double y) { return kTop + (yr.hi - y) / (yr.hi - yr.lo) * kPlotH; };

  std::ostringstream os;
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
     << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight
     << "\" viewBox=\"0 0 " << kWidth << ' ' << kHeight << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
     << "<text x=\"" << num(kWidth / 2) << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">"
     << xml_escape(chart.title) << "</text>\n";

  // axes, grid and tick labels
  os << "<g class=\"axes\" stroke=\"#444\" fill=\"none\">\n"
     << "<rect x=\"" << num(kLeft) << "\" y=\"" << num(kTop) << "\" width=\"" << num(kPlotW) << "\" height=\""
     << num(kPlotH) << "\"/>\n</g>\n<g class=\"ticks\">\n";
  for (const double t : nice_ticks(yr.lo, yr.hi, 6)) {
    os << "<line x1=\"" << num(kLeft) << "\" x2=\"" << num(kLeft + kPlotW) << "\" y1=\"" << num(py(t)) << "\" y2=\""
       << num(py(t)) << "\" stroke=\"#ddd\"/>\n"
       << "<text x=\"" << num(kLeft - 6) << "\" y=\"" << num(py(t) + 4) << "\" text-anchor=\"end\">"
       << tick_label(t) << "</text>\n";
  }
  if (categorical) {
    const bool rotate = chart.categories.size() > 8;
    for (std::size_t i = 0; i < chart.categories.size(); ++i) {
      const double x = px(static_cast<double>(i)), y = kTop + kPlotH + 16;
      os << "<text x=\"" << num(x) << "\" y=\"" << num(y) << "\" text-anchor=\"" << (rotate ? "end" : "middle") << "\"";
      if (rotate) os << " transform=\"rotate(-45 " << num(x) << ' ' << num(y) << ")\" font-size=\"9\"";
      os << '>' << xml_escape(chart.categories[i]) << "</text>\n";
    }
  } else {
    for (const double t : nice_ticks(xr.lo, xr.hi, 7))
      os << "<line x1=\"" << num(px(t)) << "\" x2=\"" << num(px(t)) << "\" y1=\"" << num(kTop) << "\" y2=\""
         << num(kTop + kPlotH) << "\" stroke=\"#eee\"/>\n"
         << "<text x=\"" << num(px(t)) << "\" y=\"" << num(kTop + kPlotH + 16) << "\" text-anchor=\"middle\">"
         << tick_label(t) << "</text>\n";
  }
  os << "</g>\n"
     << "<text x=\"" << num(kLeft + kPlotW / 2) << "\" y=\"" << num(kHeight - 8) << "\" text-anchor=\"middle\">"
     << xml_escape(chart.x_label) << "</text>\n"
     << "<text x=\"16\" y=\"" << num(kTop + kPlotH / 2) << "\" text-anchor=\"middle\" transform=\"rotate(-90 16 "
     << num(kTop + kPlotH / 2) << ")\">" << xml_escape(chart.y_label) << "</text>\n";

  // series: a polyline through the finite points in the order given, error bars, one circle per point
  for (std::size_t k = 0; k < chart.series.size(); ++k) {
    const auto& s = chart.series[k];
    const std::string colour = kColours[k % std::size(kColours)];
    std::vector<std::size_t> drawn;
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) drawn.push_back(i);
    os << "<g class=\"series\" data-name=\"" << xml_escape(s.name) << "\" data-points=\"" << drawn.size()
       << "\" stroke=\"" << colour << "\" fill=\"" << colour << "\">\n";
    if (drawn.size() > 1) {
      os << "<polyline fill=\"none\" stroke-width=\"1.6\"" << (s.dashed ? " stroke-dasharray=\"6 4\"" : "")
         << " points=\"";
      for (const auto i : drawn) os << num(px(s.x[i])) << ',' << num(py(s.y[i])) << ' ';
      os << "\"/>\n";
    }
    for (const auto i : drawn) {
      const double x = px(s.x[i]);
      if (i < s.err.size() && std::isfinite(s.err[i]) && s.err[i] > 0)
        os << "<line x1=\"" << num(x) << "\" x2=\"" << num(x) << "\" y1=\"" << num(py(s.y[i] - s.err[i]))
           << "\" y2=\"" << num(py(s.y[i] + s.err[i])) << "\"/>\n";
      os << "<circle cx=\"" << num(x) << "\" cy=\"" << num(py(s.y[i])) << "\" r=\"3\"/>\n";
    }
    os << "</g>\n";
  }

  // legend: every series, drawn or not, so a plot shows what it was meant to contain
  os << "<g class=\"legend\">\n";
  for (std::size_t k = 0; k < chart.series.size(); ++k) {
    const double y = kTop + 8 + 16 * static_cast<double>(k);
    const std::string colour = kColours[k % std::size(kColours)];
    os << "<line x1=\"" << num(kLeft + kPlotW + 12) << "\" x2=\"" << num(kLeft + kPlotW + 32) << "\" y1=\"" << num(y)
       << "\" y2=\"" << num(y) << "\" stroke=\"" << colour << "\" stroke-width=\"2\""
       << (chart.series[k].dashed ? " stroke-dasharray=\"4 3\"" : "") << "/>\n"
       << "<text x=\"" << num(kLeft + kPlotW + 38) << "\" y=\"" << num(y + 4) << "\" font-size=\"10\">"
       << xml_escape(chart.series[k].name) << "</text>\n";
  }
  os << "</g>\n</svg>\n";
  return os.str();
}

}  // namespace srr::sweep
