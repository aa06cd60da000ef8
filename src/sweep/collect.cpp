// SPDX-License-Identifier: MIT
#include "sweep/collect.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <map>
#include <optional>
#include <tuple>
#include <sstream>

#include "base/error.hpp"
#include "quant/quantizer.hpp"
#include "store/hdf5.hpp"
#include "store/store.hpp"
#include "sweep/files.hpp"

namespace srr::sweep {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// Every plot collect can make; files of this list that no longer apply are removed.
const std::vector<std::string> kPlotFiles = {"ppl_vs_rank.svg", "k_star_per_layer.svg", "win_rate_by_scale.svg",
                                             "error_vs_bits.svg", "ppl_vs_bits_per_weight.svg"};

bool is_done(const Entry& e) { return e.status == Status::done; }
bool has(const Entry& e, const std::string& key) { return e.point.settings.count(key) > 0; }
std::string get(const Entry& e, const std::string& key) { return value_or(e.point.settings, key); }

std::optional<double> to_double(const std::string& s) {
  try {
    std::size_t used = 0;
    const double v = std::stod(s, &used);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (const char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

/// Markdown table cells must not contain a bare pipe.
std::string md_cell(const std::string& s) {
  std::string out;
  for (const char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

/// "mean ± std", with "(k/n)" when only k of the group's n points are done, "–" when none is.
std::string cell(const Collection& c, const std::vector<std::size_t>& members, const Metric& m, int digits,
                 double factor = 1, const std::string& unit = "") {
  std::vector<double> v;
  std::size_t done = 0;
  for (const auto i : members) {
    v.push_back(m(c, c.entries[i]) * factor);
    done += is_done(c.entries[i]);
  }
  const MeanStd s = mean_std(v);
  std::string out = s.n == 0 ? "–" : format_mean_std(s, digits) + unit;
  if (done < members.size()) out += " (" + std::to_string(done) + "/" + std::to_string(members.size()) + " done)";
  return out;
}

/// The members of `members` whose `key` has `value`, or all of them when they lack the key (a reference
/// such as FP32 or weight-only applies to every column).
std::vector<std::size_t> with_value(const Collection& c, const std::vector<std::size_t>& members, const std::string& key,
                                    const std::string& value) {
  std::vector<std::size_t> out;
  for (const auto i : members)
    if (!has(c.entries[i], key) || get(c.entries[i], key) == value) out.push_back(i);
  return out;
}

/// Values of `key` over the entries that have it, in order of first appearance.
std::vector<std::string> values_of(const Collection& c, const std::string& key,
                                   const std::function<bool(const Entry&)>& keep = {}) {
  std::vector<std::string> out;
  for (const auto& e : c.entries)
    if (has(e, key) && (!keep || keep(e)) && std::find(out.begin(), out.end(), get(e, key)) == out.end())
      out.push_back(get(e, key));
  return out;
}

/// Short layer names for a plot axis: "model.layers.3.mlp.down_proj" → "3.down_proj".
std::string short_layer(const std::string& name) {
  const auto at = name.find("layers.");
  const auto last = name.rfind('.');
  if (at == std::string::npos || last == std::string::npos) return name;
  const auto num_end = name.find('.', at + 7);
  return name.substr(at + 7, num_end - at - 7) + name.substr(last);
}

std::vector<Group> group_by_if(const Collection& c, const std::set<std::string>& exclude,
                               const std::function<bool(const Entry&)>& keep) {
  std::vector<Group> groups;
  for (std::size_t i = 0; i < c.entries.size(); ++i) {
    if (keep && !keep(c.entries[i])) continue;
    Settings key;
    for (const auto& k : c.varying)
      if (!exclude.count(k) && has(c.entries[i], k)) key[k] = get(c.entries[i], k);
    auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) { return g.key == key; });
    if (it == groups.end()) groups.push_back({key, {i}});
    else it->members.push_back(i);
  }
  return groups;
}

/// The look of a group's series: QER dashed, SRR solid, other methods dotted; the colour is shared by the
/// groups that differ only in their method (e.g. QER and SRR of one scale), so each pair reads at a glance.
void set_style(const Collection& c, const Settings& key, Series& s) {
  const auto method = key.find("method");
  const std::string m = method == key.end() ? "" : method->second;
  s.style = m == "srr" ? LineStyle::solid : m == "qer" ? LineStyle::dashed : LineStyle::dotted;
  Settings rest = key;
  rest.erase("method");
  s.colour_group = rest.empty() ? std::string("(all)") : label(c, rest);
}

/// A series over a numeric x key: one point per x value (mean ± std over the members with that value).
/// Groups without the key become a dotted horizontal reference across [x_lo, x_hi].
std::vector<Series> numeric_series(const Collection& c, const std::string& x_key, const Metric& metric,
                                   const std::function<bool(const Entry&)>& keep) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& e : c.entries)
    if (has(e, x_key) && (!keep || keep(e)))
      if (const auto x = to_double(get(e, x_key))) lo = std::min(lo, *x), hi = std::max(hi, *x);
  std::vector<Series> out;
  if (lo > hi) return out;
  for (const auto& g : group_by_if(c, {"seed", x_key}, keep)) {
    Series s;
    s.name = label(c, g.key);
    set_style(c, g.key, s);
    if (!has(c.entries[g.members.front()], x_key)) {
      const MeanStd m = over(c, g.members, metric);
      s.x = {lo, hi};
      s.y = {m.mean, m.mean};
      s.style = LineStyle::dotted;
      s.colour_group.clear();  // a reference has a colour of its own
    } else {
      std::vector<std::pair<double, std::string>> xs;
      for (const auto& v : values_of(c, x_key))
        if (const auto x = to_double(v); x && !with_value(c, g.members, x_key, v).empty()) xs.emplace_back(*x, v);
      std::sort(xs.begin(), xs.end());
      for (const auto& [x, v] : xs) {
        const MeanStd m = over(c, with_value(c, g.members, x_key, v), metric);
        s.x.push_back(x);
        s.y.push_back(m.mean);
        s.err.push_back(m.std);
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

bool is_srr(const Entry& e) { return get(e, "method") == "srr"; }

bool has_budget_points(const Collection& c) {
  return std::any_of(c.entries.begin(), c.entries.end(), [](const Entry& e) { return has(e, "budget"); });
}

/// Perplexity against memory: the budget points of a setting as a line (allocated plans), the uniform
/// points of a setting as markers (one per bits × rank), fp32 as a dotted reference; log perplexity axis.
Chart perplexity_vs_bits_chart(const Collection& c) {
  Chart ch{"Perplexity against memory: allocated plans (lines) and uniform settings (markers)",
           "average bits per linear weight (Q, shared exponents or scales, bf16 factors)", "perplexity (log scale)",
           {}, {}};
  ch.log_y = true;
  const auto quantized = [](const Entry& e) { return get(e, "method") != "fp32"; };
  const auto budget_points = [&](const Entry& e) { return quantized(e) && has(e, "budget"); };
  const auto uniform_points = [&](const Entry& e) { return quantized(e) && !has(e, "budget"); };
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  // One series per setting without seed, budget, bits and rank; one point per (budget, bits, rank) of it.
  const auto add_series = [&](const std::function<bool(const Entry&)>& keep, const char* suffix, LineStyle style) {
    for (const auto& g : group_by_if(c, {"seed", "budget", "bits", "rank"}, keep)) {
      Series s;
      s.name = label(c, g.key) + suffix;
      set_style(c, g.key, s);
      s.style = style;
      std::map<std::string, std::vector<std::size_t>> by_point;
      for (const auto i : g.members) {
        const Entry& e = c.entries[i];
        by_point[get(e, "budget") + "/" + get(e, "bits") + "/" + get(e, "rank")].push_back(i);
      }
      std::vector<std::tuple<double, double, double>> xs;
      for (const auto& [point, members] : by_point) {
        const MeanStd bpw = over(c, members, bits_per_weight_metric);
        const MeanStd ppl = over(c, members, perplexity_metric);
        if (!std::isfinite(bpw.mean)) continue;
        xs.emplace_back(bpw.mean, ppl.mean, ppl.std);
        lo = std::min(lo, bpw.mean), hi = std::max(hi, bpw.mean);
      }
      std::sort(xs.begin(), xs.end());
      for (const auto& [x, y, e] : xs) s.x.push_back(x), s.y.push_back(y), s.err.push_back(e);
      ch.series.push_back(std::move(s));
    }
  };
  add_series(budget_points, " (allocated)", LineStyle::solid);
  add_series(uniform_points, " (uniform)", LineStyle::none);
  if (lo <= hi)
    for (const auto& g : group_by_if(c, {"seed"}, [](const Entry& e) { return get(e, "method") == "fp32"; })) {
      const MeanStd m = over(c, g.members, perplexity_metric);
      Series s;
      s.name = label(c, g.key);
      s.x = {lo, hi};
      s.y = {m.mean, m.mean};
      s.style = LineStyle::dotted;
      ch.series.push_back(std::move(s));
    }
  return ch;
}

}  // namespace

std::string to_string(Status s) {
  switch (s) {
    case Status::done: return "done";
    case Status::failed: return "failed";
    case Status::missing: break;
  }
  return "missing";
}

Collection make_collection(std::string grid, ReportSettings report, std::vector<Entry> entries) {
  Collection c;
  c.grid = std::move(grid);
  c.report = std::move(report);
  c.entries = std::move(entries);
  std::vector<Point> points;
  for (const auto& e : c.entries) points.push_back(e.point);
  c.keys = ordered_keys(points);
  // A key varies when points that have it disagree. Absence alone does not count: canonical() drops the
  // settings a method ignores (FP32 has no calibration slice, weight-only no rank), and those points
  // appear as references in every column rather than as rows of their own.
  for (const auto& k : c.keys) {
    std::set<std::string> values;
    for (const auto& e : c.entries)
      if (has(e, k)) values.insert(get(e, k));
    if (values.size() > 1) c.varying.push_back(k);
  }
  std::map<std::string, const Entry*> by_id;
  for (const auto& e : c.entries) by_id[e.point.id] = &e;
  for (const auto& e : c.entries) {
    const auto partner = qer_partner_id(e.point.settings);
    if (!partner || !is_done(e)) continue;
    const auto it = by_id.find(*partner);
    if (it == by_id.end() || !is_done(*it->second)) continue;
    std::vector<double> srr, qer;
    for (const auto& l : e.result.layers) srr.push_back(l.rel_error_act);
    for (const auto& l : it->second->result.layers) qer.push_back(l.rel_error_act);
    c.win_rate[e.point.id] = win_rate(srr, qer);
  }
  return c;
}

/// Bits per weight of a uniform point whose result file predates srr recording it: its layers' shapes with
/// the point's quant, bits, block and rank (none: 0), counted as srr allocate counts them. NaN when the point
/// does not name all three quantizer settings.
double uniform_bits_per_weight(const Settings& s, const std::vector<LayerMetrics>& layers) {
  const auto named = [&](const char* k) { return s.count(k) > 0 && !s.at(k).empty(); };
  if (!named("quant") || !named("bits") || !named("block") || layers.empty()) return kNaN;
  store::StoreLayout layout;
  layout.quant = {quant::scheme_from_string(s.at("quant")), std::stoi(s.at("bits")), std::stoi(s.at("block"))};
  layout.rank = named("rank") ? std::stoll(s.at("rank")) : 0;
  for (const auto& l : layers) layout.layers.push_back({l.name, l.in, l.out});
  return bits_per_weight(layout);
}

Collection gather(const std::string& grid, const ReportSettings& report, const std::vector<Point>& points,
                  const SweepPaths& paths) {
  std::vector<Entry> entries;
  for (std::size_t t = 0; t < points.size(); ++t) {
    Entry e;
    e.task = t;
    e.point = points[t];
    const fs::path file = paths.point_file(points[t].id);
    if (fs::exists(file)) {
      try {
        e.result = read_point_file(file);
        e.status = e.result.status == "done" ? Status::done : Status::failed;
        if (e.status == Status::done && !std::isfinite(e.result.bits_per_weight))
          e.result.bits_per_weight = uniform_bits_per_weight(e.point.settings, e.result.layers);
      } catch (const Error& err) {
        e.status = Status::failed;
        e.result.message = std::string("unreadable result file: ") + err.what();
      }
    }
    entries.push_back(std::move(e));
  }
  return make_collection(grid, report, std::move(entries));
}

std::vector<Group> group_by(const Collection& c, const std::set<std::string>& exclude) {
  return group_by_if(c, exclude, {});
}

std::string label(const Collection& c, const Settings& key) {
  std::string out;
  for (const auto& k : c.keys) {
    const auto it = key.find(k);
    if (it == key.end()) continue;
    if (!out.empty()) out += ' ';
    out += k == "method" ? it->second : k + "=" + it->second;
  }
  return out.empty() ? c.grid : out;
}

double perplexity_metric(const Collection&, const Entry& e) { return is_done(e) ? e.result.perplexity : kNaN; }
double act_error_metric(const Collection&, const Entry& e) {
  return is_done(e) ? layer_mean(e.result.layers, &LayerMetrics::rel_error_act) : kNaN;
}
double bits_per_weight_metric(const Collection&, const Entry& e) {
  return is_done(e) ? e.result.bits_per_weight : std::numeric_limits<double>::quiet_NaN();
}

double k_star_metric(const Collection&, const Entry& e) {
  if (!is_done(e) || e.result.layers.empty()) return kNaN;
  double sum = 0;
  for (const auto& l : e.result.layers) sum += static_cast<double>(l.k_star);
  return sum / static_cast<double>(e.result.layers.size());
}
double win_rate_metric(const Collection& c, const Entry& e) {
  const auto it = c.win_rate.find(e.point.id);
  return it == c.win_rate.end() ? kNaN : it->second;
}

MeanStd over(const Collection& c, const std::vector<std::size_t>& members, const Metric& m) {
  std::vector<double> v;
  for (const auto i : members) v.push_back(m(c, c.entries[i]));
  return mean_std(v);
}

std::string summary_csv(const Collection& c) {
  std::ostringstream os;
  os << "task,id,status";
  for (const auto& k : c.keys) os << ',' << csv_field(k);
  os << ",perplexity,tokens,bits_per_weight,mean_k_star,mean_rel_error,mean_rel_error_scaled,mean_rel_error_act,win_rate_vs_qer,"
        "message\n";
  for (const auto& e : c.entries) {
    os << e.task << ',' << e.point.id << ',' << to_string(e.status);
    for (const auto& k : c.keys) os << ',' << csv_field(value_or(e.point.settings, k));
    const auto& l = e.result.layers;
    const bool done = is_done(e);
    os << ',' << (done ? format_number(e.result.perplexity, 10) : "") << ','
       << (done ? format_number(e.result.tokens, 10) : "") << ','
       << (done && std::isfinite(e.result.bits_per_weight) ? format_number(e.result.bits_per_weight, 10) : "") << ','
       << (done && !l.empty() ? format_number(k_star_metric(c, e), 10) : "") << ','
       << (done && !l.empty() ? format_number(layer_mean(l, &LayerMetrics::rel_error), 10) : "") << ','
       << (done && !l.empty() ? format_number(layer_mean(l, &LayerMetrics::rel_error_scaled), 10) : "") << ','
       << (done && !l.empty() ? format_number(layer_mean(l, &LayerMetrics::rel_error_act), 10) : "") << ','
       << (c.win_rate.count(e.point.id) ? format_number(c.win_rate.at(e.point.id), 10) : "") << ','
       << csv_field(e.status == Status::missing ? "no result file" : e.result.message) << '\n';
  }
  return os.str();
}

std::string summary_md(const Collection& c, const std::vector<std::string>& plots) {
  std::size_t done = 0, failed = 0, missing = 0;
  for (const auto& e : c.entries)
    (e.status == Status::done ? done : e.status == Status::failed ? failed : missing) += 1;
  std::ostringstream os;
  os << "# " << (c.report.title.empty() ? "Sweep " + c.grid : c.report.title) << "\n\n"
     << "Grid `" << c.grid << "`: " << c.entries.size() << " points planned: " << done << " done, " << failed
     << " failed, " << missing << " missing.\n\n";
  // the settings every point shares (a key some points lack is varying by definition)
  std::string fixed;
  for (const auto& k : c.keys) {
    if (std::find(c.varying.begin(), c.varying.end(), k) != c.varying.end()) continue;
    const auto e = std::find_if(c.entries.begin(), c.entries.end(), [&](const Entry& x) { return has(x, k); });
    if (e != c.entries.end()) fixed += (fixed.empty() ? "" : ", ") + std::string("`") + k + "=" + get(*e, k) + "`";
  }
  if (!fixed.empty()) os << "Shared settings (where a method uses them): " << fixed << ".\n\n";
  std::string protocol;
  for (const auto& e : c.entries)
    if (is_done(e)) protocol = e.result.protocol;
  os << "Perplexity: " << (protocol == "wikitext" ? "word" : "token") << " perplexity on the evaluation slice. "
     << "Layer error: mean over layers of tr(ΔᵀR_xxΔ)/tr(WᵀR_xxW). Win-rate: fraction of layers whose layer "
     << "error under SRR is below QER's at the same settings and seed (method.md §5.7). Cells are mean ± sample "
     << "std over seeds; \"(k/n done)\" marks a cell that lacks points.\n\n";

  const bool any_win = !c.win_rate.empty();
  const std::string& pivot = c.report.pivot;
  const bool pivoting = !pivot.empty() && std::find(c.varying.begin(), c.varying.end(), pivot) != c.varying.end();
  const auto header = [&](const std::vector<std::string>& row_keys, const std::vector<std::string>& columns) {
    os << '|';
    for (const auto& k : row_keys) os << ' ' << md_cell(k) << " |";
    for (const auto& col : columns) os << ' ' << md_cell(col) << " |";
    os << "\n|";
    for (std::size_t i = 0; i < row_keys.size() + columns.size(); ++i) os << "---|";
    os << '\n';
  };
  const auto row_start = [&](const std::vector<std::string>& row_keys, const Group& g) {
    os << '|';
    for (const auto& k : row_keys) os << ' ' << md_cell(value_or(g.key, k, "–")) << " |";
  };
  const auto keys_without = [&](const std::set<std::string>& exclude) {
    std::vector<std::string> out;
    for (const auto& k : c.varying)
      if (!exclude.count(k)) out.push_back(k);
    return out;
  };

  if (pivoting) {
    const auto values = values_of(c, pivot);
    const auto row_keys = keys_without({"seed", pivot});
    std::vector<std::string> columns;
    for (const auto& v : values) columns.push_back(pivot + " = " + v);
    const auto rows = group_by(c, {"seed", pivot});
    os << "## Perplexity by " << pivot << "\n\n";
    header(row_keys, columns);
    for (const auto& g : rows) {
      row_start(row_keys, g);
      for (const auto& v : values) {
        const auto m = with_value(c, g.members, pivot, v);
        os << ' ' << (m.empty() ? "" : md_cell(cell(c, m, perplexity_metric, 4))) << " |";
      }
      os << '\n';
    }
    os << '\n';
    if (any_win) {
      // SRR points only, and only the columns that have some (with pivot = method, just the srr column)
      const auto srr_of = [&](const std::vector<std::size_t>& members) {
        std::vector<std::size_t> out;
        for (const auto i : members)
          if (is_srr(c.entries[i])) out.push_back(i);
        return out;
      };
      std::vector<std::string> win_values, win_columns;
      for (std::size_t k = 0; k < values.size(); ++k)
        if (std::any_of(rows.begin(), rows.end(), [&](const Group& g) {
              return !with_value(c, srr_of(g.members), pivot, values[k]).empty();
            })) {
          win_values.push_back(values[k]);
          win_columns.push_back(columns[k]);
        }
      os << "## Win-rate of SRR over QER by " << pivot << "\n\n";
      header(row_keys, win_columns);
      for (const auto& g : rows) {
        const auto members = srr_of(g.members);
        if (members.empty()) continue;
        row_start(row_keys, g);
        for (const auto& v : win_values) {
          const auto m = with_value(c, members, pivot, v);
          os << ' ' << (m.empty() ? "" : md_cell(cell(c, m, win_rate_metric, 3, 100, " %"))) << " |";
        }
        os << '\n';
      }
      os << '\n';
    }
  }

  os << "## Every setting\n\n";
  const auto row_keys = keys_without({"seed"});
  std::vector<std::string> columns = {"points", "perplexity", "layer error (act)", "mean k*"};
  const bool any_budget = has_budget_points(c);  // grids without budgets keep their table as it was
  if (any_budget) columns.emplace_back("bits/weight");
  if (any_win) columns.emplace_back("win-rate vs QER");
  header(row_keys, columns);
  for (const auto& g : group_by(c, {"seed"})) {
    row_start(row_keys, g);
    os << ' ' << g.members.size() << " | " << md_cell(cell(c, g.members, perplexity_metric, 4)) << " | "
       << md_cell(cell(c, g.members, act_error_metric, 3)) << " | " << md_cell(cell(c, g.members, k_star_metric, 3))
       << " |";
    if (any_budget) os << ' ' << md_cell(cell(c, g.members, bits_per_weight_metric, 4)) << " |";
    if (any_win)
      os << ' '
         << (is_srr(c.entries[g.members.front()]) ? md_cell(cell(c, g.members, win_rate_metric, 3, 100, " %")) : "")
         << " |";
    os << '\n';
  }
  os << '\n';

  os << "## Missing and failed points\n\n";
  if (failed + missing == 0) {
    os << "None: all " << c.entries.size() << " points are done.\n\n";
  } else {
    os << "| task | id | status | settings | message |\n|---|---|---|---|---|\n";
    for (const auto& e : c.entries) {
      if (is_done(e)) continue;
      std::string settings;
      for (const auto& k : c.varying)
        if (has(e, k)) settings += (settings.empty() ? "" : " ") + k + "=" + get(e, k);
      os << "| " << e.task << " | " << e.point.id << " | " << to_string(e.status) << " | " << md_cell(settings)
         << " | " << md_cell(e.status == Status::missing ? "no result file" : e.result.message) << " |\n";
    }
    os << '\n';
  }
  if (!plots.empty()) {
    os << "## Plots\n\n";
    for (const auto& p : plots) os << "![" << p << "](" << p << ")\n\n";
  }
  return os.str();
}

/// k* per layer as a heat map: one row per SRR setting (mean over seeds), one column per layer in store
/// order; nullopt when no SRR point has finished.
std::optional<Heatmap> k_star_heatmap(const Collection& c) {
  const auto first_srr = std::find_if(c.entries.begin(), c.entries.end(),
                                      [](const Entry& e) { return is_srr(e) && is_done(e) && !e.result.layers.empty(); });
  if (first_srr == c.entries.end()) return std::nullopt;
  Heatmap map{"k* per layer: directions kept out of the quantizer (SRR, mean over seeds)", "layer", "setting", "k*",
              {}, {}, {}};
  for (const auto& l : first_srr->result.layers) map.columns.push_back(short_layer(l.name));
  for (const auto& g : group_by_if(c, {"seed"}, is_srr)) {
    map.rows.push_back(label(c, g.key));
    auto& row = map.values.emplace_back();
    for (std::size_t i = 0; i < map.columns.size(); ++i) {
      std::vector<double> v;
      for (const auto m : g.members) {
        const auto& e = c.entries[m];
        v.push_back(is_done(e) && i < e.result.layers.size() ? static_cast<double>(e.result.layers[i].k_star) : kNaN);
      }
      row.push_back(mean_std(v).mean);
    }
  }
  return map;
}

/// Every plot that applies, as (file, SVG text).
std::vector<std::pair<std::string, std::string>> make_plots(const Collection& c) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto quantized = [](const Entry& e) { return get(e, "method") != "fp32"; };
  if (!values_of(c, "rank").empty()) {
    Chart ch{"Perplexity against rank", "rank r", "perplexity", {}, numeric_series(c, "rank", perplexity_metric, {})};
    out.emplace_back("plots/ppl_vs_rank.svg", render_svg(ch));
  }
  if (const auto map = k_star_heatmap(c)) out.emplace_back("plots/k_star_per_layer.svg", render_heatmap_svg(*map));
  // win-rate per scale: one series per remaining setting (e.g. rank), mean ± std over seeds
  if (!c.win_rate.empty()) {
    Chart ch{"Win-rate of SRR over QER (layer error, activation-aware)", "scale", "layers where SRR wins (%)",
             values_of(c, "scale", is_srr), {}};
    if (ch.categories.empty()) ch.categories = {"(default scale)"};  // with_value() keeps points without a scale
    for (const auto& g : group_by_if(c, {"seed", "scale"}, is_srr)) {
      Series s;
      s.name = label(c, g.key);  // one colour per setting: the scales are the x axis here
      for (std::size_t i = 0; i < ch.categories.size(); ++i) {
        const MeanStd m = over(c, with_value(c, g.members, "scale", ch.categories[i]), win_rate_metric);
        s.x.push_back(static_cast<double>(i));
        s.y.push_back(m.mean * 100);
        s.err.push_back(m.std * 100);
      }
      ch.series.push_back(std::move(s));
    }
    out.emplace_back("plots/win_rate_by_scale.svg", render_svg(ch));
  }
  if (has_budget_points(c)) out.emplace_back("plots/ppl_vs_bits_per_weight.svg", render_svg(perplexity_vs_bits_chart(c)));
  if (!values_of(c, "bits", quantized).empty()) {
    Chart ch{"Layer error against bits", "bits", "mean tr(ΔᵀR_xxΔ)/tr(WᵀR_xxW)", {},
             numeric_series(c, "bits", act_error_metric, quantized)};
    out.emplace_back("plots/error_vs_bits.svg", render_svg(ch));
  }
  return out;
}

void write_index(const fs::path& path, const Collection& c) {
  nlohmann::json points = nlohmann::json::array();
  for (const auto& e : c.entries) {
    const bool linked = e.status != Status::missing;
    points.push_back({{"task", e.task},
                      {"id", e.point.id},
                      {"status", to_string(e.status)},
                      {"file", linked ? nlohmann::json("points/" + e.point.id + ".h5") : nlohmann::json(nullptr)},
                      {"settings", e.point.settings},
                      {"message", e.result.message}});
  }
  const std::string csv = summary_csv(c);
  store::write_hdf5_atomic(with_parents(path), [&](hid_t file, const std::string& name) {
    store::write_string_attribute(file, "format", "srr-sweep-index", name);
    store::write_string_attribute(file, "grid", c.grid, name);
    store::write_string_attribute(file, "points", points.dump(), name);
    store::write_string_attribute(file, "summary_csv", csv, name);
    const store::Hid group(SRR_H5_CALL(H5Gcreate2(file, "points", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), name));
    // Relative links: HDF5 looks for the target beside the index first, so the directory may move.
    for (const auto& e : c.entries)
      if (e.status != Status::missing)
        SRR_H5_CALL(H5Lcreate_external(("points/" + e.point.id + ".h5").c_str(), "/", group.get(), e.point.id.c_str(),
                                       H5P_DEFAULT, H5P_DEFAULT),
                    name);
  });
}

CollectCounts collect(const Grid& grid, const std::vector<Point>& points, const SweepPaths& paths) {
  const Collection c = gather(grid.name, grid.report, points, paths);
  const fs::path dir = paths.grid_dir();
  std::vector<std::string> plot_files;
  for (const auto& [file, svg] : make_plots(c)) {
    write_file_atomic(with_parents(dir / file), svg);
    plot_files.push_back(file);
  }
  for (const auto& f : kPlotFiles)
    if (std::find(plot_files.begin(), plot_files.end(), "plots/" + f) == plot_files.end()) {
      std::error_code ec;
      fs::remove(dir / "plots" / f, ec);
    }
  write_file_atomic(with_parents(dir / "summary.csv"), summary_csv(c));
  write_file_atomic(dir / "summary.md", summary_md(c, plot_files));
  write_index(dir / "index.h5", c);
  CollectCounts n;
  for (const auto& e : c.entries) (e.status == Status::done ? n.done : e.status == Status::failed ? n.failed : n.missing) += 1;
  return n;
}

}  // namespace srr::sweep
