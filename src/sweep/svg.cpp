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

const char* dash_array(LineStyle style, bool legend) {
  switch (style) {
    case LineStyle::solid: return "";
    case LineStyle::dashed: return legend ? " stroke-dasharray=\"4 3\"" : " stroke-dasharray=\"6 4\"";
    case LineStyle::dotted: return " stroke-dasharray=\"1.5 3\"";
    case LineStyle::none: return legend ? " stroke-opacity=\"0\"" : "";
  }
  return "";
}

const char* style_name(LineStyle style) {
  switch (style) {
    case LineStyle::solid: return "solid";
    case LineStyle::dashed: return "dashed";
    case LineStyle::dotted: return "dotted";
    case LineStyle::none: break;
  }
  return "none";
}

/// Ticks of a log axis over [lo, hi] (in log10 units): 1, 2 and 5 times the powers of ten inside it.
std::vector<double> log_ticks(double lo, double hi) {
  std::vector<double> ticks;
  for (int d = static_cast<int>(std::floor(lo)); d <= static_cast<int>(std::ceil(hi)); ++d)
    for (const double m : {1.0, 2.0, 5.0}) {
      const double t = m * std::pow(10.0, d);
      if (std::log10(t) >= lo && std::log10(t) <= hi) ticks.push_back(t);
    }
  return ticks;
}

/// The colour of every series: one per colour group, in order of first appearance, and one for each
/// series without a group.
std::vector<std::string> series_colours(const std::vector<Series>& series) {
  std::vector<std::string> groups, out;
  for (const auto& s : series) {
    std::size_t index = groups.size();
    if (!s.colour_group.empty()) index = std::find(groups.begin(), groups.end(), s.colour_group) - groups.begin();
    if (index == groups.size()) groups.push_back(s.colour_group.empty() ? "\x01" + s.name : s.colour_group);
    out.push_back(kColours[index % std::size(kColours)]);
  }
  return out;
}

/// White → dark blue as t goes 0 → 1.
std::string cell_colour(double t) {
  t = std::clamp(t, 0.0, 1.0);
  const auto mix = [&](double a, double b) { return static_cast<int>(std::lround(a + (b - a) * t)); };
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", mix(255, 8), mix(255, 48), mix(255, 107));
  return buf;
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
  // On a log axis y is placed by log10(y); an error bar reaching below zero is cut at the value.
  const auto ty = [&](double y) { return chart.log_y ? std::log10(y) : y; };
  const auto drawable = [&](double x, double y) { return std::isfinite(x) && std::isfinite(y) && (!chart.log_y || y > 0); };
  for (const auto& s : chart.series)
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!drawable(s.x[i], s.y[i])) continue;
      if (!categorical) xr.add(s.x[i]);
      const double e = i < s.err.size() && std::isfinite(s.err[i]) ? s.err[i] : 0.0;
      yr.add(ty(chart.log_y && s.y[i] - e <= 0 ? s.y[i] : s.y[i] - e));
      yr.add(ty(s.y[i] + e));
    }
  if (!categorical) xr.pad(0.05);
  yr.pad(0.06);
  const auto px = [&](double x) { return kLeft + (x - xr.lo) / (xr.hi - xr.lo) * kPlotW; };
  const auto py = [&](double y) { return kTop + (yr.hi - ty(y)) / (yr.hi - yr.lo) * kPlotH; };

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
  for (const double t : chart.log_y ? log_ticks(yr.lo, yr.hi) : nice_ticks(yr.lo, yr.hi, 6)) {
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
  const auto colours = series_colours(chart.series);
  for (std::size_t k = 0; k < chart.series.size(); ++k) {
    const auto& s = chart.series[k];
    const std::string& colour = colours[k];
    std::vector<std::size_t> drawn;
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (drawable(s.x[i], s.y[i])) drawn.push_back(i);
    os << "<g class=\"series\" data-name=\"" << xml_escape(s.name) << "\" data-points=\"" << drawn.size()
       << "\" data-colour=\"" << colour << "\" data-style=\"" << style_name(s.style) << "\" stroke=\"" << colour
       << "\" fill=\"" << colour << "\">\n";
    if (drawn.size() > 1 && s.style != LineStyle::none) {
      os << "<polyline fill=\"none\" stroke-width=\"1.6\"" << dash_array(s.style, false)
         << " points=\"";
      for (const auto i : drawn) os << num(px(s.x[i])) << ',' << num(py(s.y[i])) << ' ';
      os << "\"/>\n";
    }
    for (const auto i : drawn) {
      const double x = px(s.x[i]);
      if (i < s.err.size() && std::isfinite(s.err[i]) && s.err[i] > 0)
        os << "<line x1=\"" << num(x) << "\" x2=\"" << num(x) << "\" y1=\""
           << num(py(chart.log_y && s.y[i] - s.err[i] <= 0 ? s.y[i] : s.y[i] - s.err[i]))
           << "\" y2=\"" << num(py(s.y[i] + s.err[i])) << "\"/>\n";
      if (s.style == LineStyle::none)  // points only: an open square, told apart from a curve's dots
        os << "<rect class=\"marker\" x=\"" << num(x - 4) << "\" y=\"" << num(py(s.y[i]) - 4)
           << "\" width=\"8\" height=\"8\" fill=\"none\" stroke-width=\"1.5\"/>\n";
      os << "<circle cx=\"" << num(x) << "\" cy=\"" << num(py(s.y[i])) << "\" r=\"" << (s.style == LineStyle::none ? 1.5 : 3)
         << "\"/>\n";
    }
    os << "</g>\n";
  }

  // legend: every series, drawn or not, so a plot shows what it was meant to contain
  os << "<g class=\"legend\">\n";
  for (std::size_t k = 0; k < chart.series.size(); ++k) {
    const double y = kTop + 8 + 16 * static_cast<double>(k);
    const std::string& colour = colours[k];
    os << "<line x1=\"" << num(kLeft + kPlotW + 12) << "\" x2=\"" << num(kLeft + kPlotW + 32) << "\" y1=\"" << num(y)
       << "\" y2=\"" << num(y) << "\" stroke=\"" << colour << "\" stroke-width=\"2\""
       << dash_array(chart.series[k].style, true) << "/>\n";
    if (chart.series[k].style == LineStyle::none)
      os << "<rect x=\"" << num(kLeft + kPlotW + 18) << "\" y=\"" << num(y - 4) << "\" width=\"8\" height=\"8\" fill=\"none\" "
         << "stroke=\"" << colour << "\" stroke-width=\"1.5\"/>\n";
    os << "<text x=\"" << num(kLeft + kPlotW + 38) << "\" y=\"" << num(y + 4) << "\" font-size=\"10\">"
       << xml_escape(chart.series[k].name) << "</text>\n";
  }
  os << "</g>\n</svg>\n";
  return os.str();
}


std::string render_heatmap_svg(const Heatmap& map) {
  const double cols = static_cast<double>(std::max<std::size_t>(map.columns.size(), 1));
  const double rows = static_cast<double>(std::max<std::size_t>(map.rows.size(), 1));
  const double cell_w = std::clamp(620.0 / cols, 6.0, 28.0), cell_h = std::clamp(300.0 / rows, 10.0, 24.0);
  const double left = 240, top = 48, plot_w = cell_w * cols, plot_h = cell_h * rows;
  const double width = left + plot_w + 120, height = top + plot_h + 110;
  double vmax = 0;
  for (const auto& row : map.values)
    for (double v : row)
      if (std::isfinite(v)) vmax = std::max(vmax, v);
  std::ostringstream os;
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
     << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(width) << "\" height=\"" << num(height)
     << "\" viewBox=\"0 0 " << num(width) << ' ' << num(height) << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
     << "<text x=\"" << num(width / 2) << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">"
     << xml_escape(map.title) << "</text>\n<g class=\"cells\">\n";
  for (std::size_t i = 0; i < map.rows.size(); ++i)
    for (std::size_t j = 0; j < map.columns.size(); ++j) {
      const double v = i < map.values.size() && j < map.values[i].size() ? map.values[i][j] : NAN;
      os << "<rect class=\"cell\" data-row=\"" << i << "\" data-col=\"" << j << "\" data-value=\""
         << (std::isfinite(v) ? tick_label(v) : "nan") << "\" x=\"" << num(left + cell_w * static_cast<double>(j))
         << "\" y=\"" << num(top + cell_h * static_cast<double>(i)) << "\" width=\"" << num(cell_w) << "\" height=\""
         << num(cell_h) << "\" fill=\"" << (std::isfinite(v) ? cell_colour(vmax > 0 ? v / vmax : 0) : "#bbbbbb")
         << "\"><title>" << xml_escape(map.rows[i]) << " · " << xml_escape(map.columns[j]) << ": "
         << (std::isfinite(v) ? tick_label(v) : "missing") << "</title></rect>\n";
    }
  os << "</g>\n<g class=\"labels\">\n";
  for (std::size_t i = 0; i < map.rows.size(); ++i)
    os << "<text x=\"" << num(left - 6) << "\" y=\"" << num(top + cell_h * (static_cast<double>(i) + 0.5) + 4)
       << "\" text-anchor=\"end\">" << xml_escape(map.rows[i]) << "</text>\n";
  for (std::size_t j = 0; j < map.columns.size(); ++j) {
    const double x = left + cell_w * (static_cast<double>(j) + 0.5), y = top + plot_h + 12;
    os << "<text x=\"" << num(x) << "\" y=\"" << num(y) << "\" text-anchor=\"end\" font-size=\"9\" transform=\"rotate(-60 "
       << num(x) << ' ' << num(y) << ")\">" << xml_escape(map.columns[j]) << "</text>\n";
  }
  os << "<text x=\"" << num(left + plot_w / 2) << "\" y=\"" << num(height - 8) << "\" text-anchor=\"middle\">"
     << xml_escape(map.x_label) << "</text>\n"
     << "<text x=\"14\" y=\"" << num(top + plot_h / 2) << "\" text-anchor=\"middle\" transform=\"rotate(-90 14 "
     << num(top + plot_h / 2) << ")\">" << xml_escape(map.y_label) << "</text>\n</g>\n";
  // colour bar: 0 at the bottom, the largest value at the top
  const double bx = left + plot_w + 24, bh = std::max(plot_h, 60.0);
  os << "<g class=\"colour-bar\">\n";
  for (int k = 0; k < 20; ++k)
    os << "<rect x=\"" << num(bx) << "\" y=\"" << num(top + bh * (19 - k) / 20.0) << "\" width=\"14\" height=\""
       << num(bh / 20.0 + 0.5) << "\" fill=\"" << cell_colour((k + 0.5) / 20.0) << "\"/>\n";
  os << "<text x=\"" << num(bx + 18) << "\" y=\"" << num(top + 8) << "\">" << tick_label(vmax) << "</text>\n"
     << "<text x=\"" << num(bx + 18) << "\" y=\"" << num(top + bh) << "\">0</text>\n"
     << "<text x=\"" << num(bx) << "\" y=\"" << num(top + bh + 18) << "\" font-size=\"10\">"
     << xml_escape(map.value_label) << "</text>\n</g>\n</svg>\n";
  return os.str();
}

}  // namespace srr::sweep
