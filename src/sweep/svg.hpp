// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Line charts as standalone SVG, the plots of `srr sweep collect`. Written by hand because the project
/// has no plotting dependency and the charts are simple: one or more series of (x, y ± err) points over a
/// linear numeric or a categorical x axis, with a legend.
///
/// The output is well-formed XML (text escaped) with one `<g class="series" data-name="…"
/// data-points="n">` per series holding one `<circle>` per drawn point, so tests and scripts can check a
/// plot's content without rendering it.

#include <string>
#include <vector>

namespace srr::sweep {

struct Series {
  std::string name;
  std::vector<double> x, y;
  std::vector<double> err;  ///< ± error bar per point (empty: none); non-finite y are not drawn
  bool dashed = false;      ///< reference lines (FP32, weight-only)
};

struct Chart {
  std::string title, x_label, y_label;
  /// Non-empty: a categorical x axis; a point's x is the index of its category.
  std::vector<std::string> categories;
  std::vector<Series> series;
};

/// The chart as an SVG document. Series without a finite point still appear in the legend (and as an
/// empty group), so a plot shows what it was meant to contain.
std::string render_svg(const Chart& chart);

/// `text` with &, <, >, " and ' replaced by entities.
std::string xml_escape(const std::string& text);

}  // namespace srr::sweep
