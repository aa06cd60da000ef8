// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// `srr sweep collect`: every point's result file → `summary.csv` (one row per planned point),
/// `summary.md` (tables with mean ± std over seeds), SVG plots and `index.h5` (HDF5 external links to every
/// point's file). A point without a result file is listed as missing and a failed one as failed, in the CSV,
/// in the Markdown and in the index: nothing planned is ever silently dropped.

#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "sweep/grid.hpp"
#include "sweep/point.hpp"
#include "sweep/run.hpp"
#include "sweep/stats.hpp"
#include "sweep/svg.hpp"

namespace srr::sweep {

enum class Status { done, failed, missing };
std::string to_string(Status s);

struct Entry {
  std::size_t task = 0;
  Point point;
  Status status = Status::missing;
  PointResult result;  ///< from the point's file (empty when missing)
};

struct Collection {
  std::string grid;
  ReportSettings report;
  std::vector<Entry> entries;              ///< in manifest order
  std::vector<std::string> keys;           ///< every setting key, in manifest column order
  std::vector<std::string> varying;        ///< keys whose value (or absence) differs between points
  std::map<std::string, double> win_rate;  ///< SRR point id → win-rate over its QER partner (both done)
};

/// Fills keys, varying and win_rate from the entries. The win-rate of an SRR point is the fraction of
/// layers whose rel_error_act is strictly lower than that of the QER point with the same settings
/// (qer_partner_id: same scale, bits, rank, seed, data), method.md §5.7.
Collection make_collection(std::string grid, ReportSettings report, std::vector<Entry> entries);
/// Reads the result file of every planned point.
Collection gather(const std::string& grid, const ReportSettings& report, const std::vector<Point>& points,
                  const SweepPaths& paths);

/// Points that differ only in excluded keys (normally the seed) form a group: one row of a table or one
/// point of a plotted series.
struct Group {
  Settings key;                      ///< the varying, non-excluded settings the members share
  std::vector<std::size_t> members;  ///< indices into Collection::entries
};
/// Groups in order of first appearance.
std::vector<Group> group_by(const Collection& c, const std::set<std::string>& exclude);
/// Readable name of a group: the method bare, the rest as key=value ("srr scale=lqer rank=8").
std::string label(const Collection& c, const Settings& key);

/// A number per entry, NaN when it has none (not done, or not applicable).
using Metric = std::function<double(const Collection&, const Entry&)>;
double perplexity_metric(const Collection& c, const Entry& e);
double act_error_metric(const Collection& c, const Entry& e);  ///< mean rel_error_act over layers
double k_star_metric(const Collection& c, const Entry& e);     ///< mean k* over layers
double bits_per_weight_metric(const Collection& c, const Entry& e);  ///< PointResult::bits_per_weight
double win_rate_metric(const Collection& c, const Entry& e);
MeanStd over(const Collection& c, const std::vector<std::size_t>& members, const Metric& m);

std::string summary_csv(const Collection& c);
/// `plots` are the plot files (relative to the summary) to show.
std::string summary_md(const Collection& c, const std::vector<std::string>& plots);
/// The plots that apply to this collection, as (file name, SVG text): perplexity vs rank, k* per layer (a
/// heat map), win-rate of SRR over QER per scale, layer error vs bits, and for grids with budgets perplexity
/// vs bits per weight (allocated plans as lines, uniform settings as markers). Line charts draw one colour per
/// setting without its method and one line style per method (SRR solid, QER dashed, others dotted).
std::vector<std::pair<std::string, std::string>> make_plots(const Collection& c);
/// Writes index.h5 atomically: `/points/<id>` is an external link to `points/<id>.h5` for every point that
/// has a file; root attributes hold the grid name, every planned point with its status (JSON) and the CSV.
void write_index(const std::filesystem::path& path, const Collection& c);

struct CollectCounts {
  std::size_t done = 0, failed = 0, missing = 0;
};
/// Everything above into paths.grid_dir(); returns how many points are done, failed and missing.
CollectCounts collect(const Grid& grid, const std::vector<Point>& points, const SweepPaths& paths);

}  // namespace srr::sweep
