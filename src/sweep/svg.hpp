// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Line charts and heat maps as standalone SVG, the plots of `srr sweep collect`. Written by hand because the
/// project has no plotting dependency and the charts are simple: one or more series of (x, y ± err) points
/// over a linear numeric or a categorical x axis, with a legend; or a matrix of values as coloured cells.
///
/// The output is well-formed XML (text escaped) with one `<g class="series" data-name="…" data-points="n"
/// data-colour="…" data-style="…">` per series holding one `<circle>` per drawn point, and one `<rect
/// class="cell" data-row data-col data-value>` per heat-map cell, so tests and scripts can check a plot's
/// content without rendering it.

#include <string>
#include <vector>

namespace srr::sweep {

/// How a series' line is drawn: the sweep plots draw SRR solid, QER dashed, references (FP32, weight-only)
/// and other methods dotted; `none` draws the points only (settings that are not a curve, e.g. uniform
/// settings among allocated plans).
enum class LineStyle { solid, dashed, dotted, none };

struct Series {
  std::string name;
  std::vector<double> x, y;
  std::vector<double> err;  ///< ± error bar per point (empty: none); non-finite y are not drawn
  LineStyle style = LineStyle::solid;
  /// Series with the same non-empty group share one colour (e.g. QER and SRR of one scale, told apart by
  /// style); a series without a group gets a colour of its own.
  std::string colour_group;
};

struct Chart {
  std::string title, x_label, y_label;
  /// Non-empty: a categorical x axis; a point's x is the index of its category.
  std::vector<std::string> categories;
  std::vector<Series> series;
  bool log_y = false;  ///< a logarithmic y axis (ticks at 1, 2, 5 × 10^k); non-positive y are not drawn
};

/// The chart as an SVG document. Series without a finite point still appear in the legend (and as an
/// empty group), so a plot shows what it was meant to contain.
std::string render_svg(const Chart& chart);

/// A matrix of values as coloured cells (white → dark blue over [0, max]), rows and columns labelled; a
/// non-finite value is a grey cell. values[row][column].
struct Heatmap {
  std::string title, x_label, y_label, value_label;
  std::vector<std::string> rows, columns;
  std::vector<std::vector<double>> values;
};

std::string render_heatmap_svg(const Heatmap& map);

/// `text` with &, <, >, " and ' replaced by entities.
std::string xml_escape(const std::string& text);

}  // namespace srr::sweep
