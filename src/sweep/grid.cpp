// SPDX-License-Identifier: MIT
#include "sweep/grid.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "base/error.hpp"
#include "base/text.hpp"
#include "base/sha256.hpp"
#include "sweep/files.hpp"
#include "sweep/ini.hpp"

namespace srr::sweep {

namespace {

/// The text-slice keys a grid may give once for both slices or per slice as calib.K / eval.K.
const std::vector<std::string> kSliceKeys = {"text", "ctx", "max-chars", "windows", "skip-windows"};

/// Groups of method settings, by what ignores them (qer::decompose_layer and the store's layout).
const std::vector<std::string> kKRuleKeys = {"k-rule", "k", "probe", "mc-samples", "recon"};
const std::vector<std::string> kScaleKeys = {"scale", "qera-exact-impl", "eig-floor", "diag-floor"};
const std::vector<std::string> kLowRankKeys = {"rank",       "iters",       "seed",        "svd",
                                               "oversample", "power-iters", "krylov-iters"};

/// The settings of `srr allocate` (a point with a budget is quantized with the plan it makes); the sets
/// are one value each, written with commas ("2,3,4").
const std::vector<std::string> kAllocationKeys = {"budget", "bits-set", "rank-set", "weighting"};
const std::vector<std::string> kSetKeys = {"bits-set", "rank-set"};

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

bool is_set_key(const std::string& key) { return std::find(kSetKeys.begin(), kSetKeys.end(), key) != kSetKeys.end(); }

long parse_long(const std::string& value, const std::string& what) {
  try {
    std::size_t used = 0;
    const long v = std::stol(value, &used);
    if (used == value.size()) return v;
  } catch (const std::exception&) {
  }
  throw InputError(what + ": expected an integer, got '" + value + "'");
}

void drop(Settings& s, const std::vector<std::string>& keys) {
  for (const auto& k : keys) s.erase(k);
}

}  // namespace

bool is_data_key(const std::string& key) {
  if (key == "model" || key == "tokenizer" || key == "protocol" || key == "eval.protocol") return true;
  for (const auto& k : kSliceKeys)
    if (key == k || key == "calib." + k || key == "eval." + k) return true;
  return false;
}

std::string value_or(const Settings& s, const std::string& key, const std::string& fallback) {
  const auto it = s.find(key);
  return it == s.end() ? fallback : it->second;
}

Grid parse_grid(std::istream& in, const std::string& name, const std::string& file) {
  Grid g;
  g.name = name;
  require(!name.empty() && name.find('/') == std::string::npos, file, ": bad grid name '", name, "'");
  for (const auto& section : parse_ini(in, file)) {
    const auto where = [&](const IniEntry& e) { return file + ":" + std::to_string(e.line) + ": "; };
    for (const auto& e : section.entries) require(!e.value.empty(), where(e), "'", e.key, "' has no value");
    if (section.name == "data") {
      for (const auto& e : section.entries) {
        require(is_data_key(e.key), where(e), "'", e.key, "' is not a data key (model, tokenizer, text, ctx, ",
                "max-chars, windows, skip-windows, protocol, or calib./eval. variants); method options go in [fixed]");
        g.data[e.key] = e.value;
      }
    } else if (section.name == "fixed") {
      for (const auto& e : section.entries) {
        require(!is_data_key(e.key), where(e), "'", e.key, "' is a data key: put it in [data]");
        require(is_set_key(e.key) || e.value.find(',') == std::string::npos, where(e), "'", e.key,
                "' has several values: put it in [axes]");
        g.fixed[e.key] = e.value;
      }
    } else if (section.name == "axes" || starts_with(section.name, "axes.")) {
      SubGrid sub{section.name == "axes" ? "" : section.name.substr(5), {}};
      for (const auto& e : section.entries) {
        require(!is_set_key(e.key), where(e), "'", e.key, "' is one set of values (e.g. 2,3,4): put it in [fixed]");
        Axis axis{e.key, split_list(e.value)};
        std::set<std::string> seen;
        for (const auto& v : axis.values) {
          require(!v.empty(), where(e), "axis '", e.key, "' has an empty value");
          require(seen.insert(v).second, where(e), "axis '", e.key, "' lists '", v, "' twice");
        }
        sub.axes.push_back(std::move(axis));
      }
      g.subgrids.push_back(std::move(sub));
    } else if (section.name == "run") {
      for (const auto& e : section.entries) {
        if (e.key == "np" || e.key == "throttle") {
          const long v = parse_long(e.value, where(e) + e.key);
          require(v >= 1 && v <= 4096, where(e), e.key, " must be in 1..4096, got ", v);
          (e.key == "np" ? g.run.np : g.run.throttle) = static_cast<int>(v);
        } else if (e.key == "time") {
          g.run.time = e.value;
        } else if (e.key == "launcher") {
          require(e.value == "auto" || e.value == "direct" || e.value == "srun" || e.value == "mpirun", where(e),
                  "launcher must be auto, direct, srun or mpirun, got '", e.value, "'");
          g.run.launcher = e.value;
        } else {
          throw InputError(where(e) + "unknown key '" + e.key + "' in [run] (np, throttle, time, launcher)");
        }
      }
    } else if (section.name == "report") {
      for (const auto& e : section.entries) {
        if (e.key == "title") g.report.title = e.value;
        else if (e.key == "pivot") g.report.pivot = e.value;
        else throw InputError(where(e) + "unknown key '" + e.key + "' in [report] (title, pivot)");
      }
    } else {
      throw InputError(file + ":" + std::to_string(section.line) + ": unknown section [" + section.name +
                       "] (expected data, fixed, axes, axes.NAME, run, report)");
    }
  }
  if (g.subgrids.empty()) g.subgrids.push_back({});  // no axes: the one point of [data] + [fixed]
  return g;
}

Grid read_grid(const fs::path& path) {
  std::ifstream in(path);
  require(in.good(), "cannot read the grid file '", path.string(), "'");
  return parse_grid(in, path.stem().string(), path.string());
}

Settings resolve_data(const Settings& s) {
  Settings out = s;
  for (const auto& k : kSliceKeys) {
    const auto it = out.find(k);
    if (it == out.end()) continue;
    const std::string v = it->second;
    out.erase(it);
    out.emplace("calib." + k, v);  // emplace keeps an explicit calib.K
    out.emplace("eval." + k, v);
  }
  if (const auto it = out.find("protocol"); it != out.end()) {
    const std::string v = it->second;
    out.erase(it);
    out.emplace("eval.protocol", v);
  }
  return out;
}

bool is_allocated(const Settings& s) { return s.count("budget") > 0 && value_or(s, "method") != "fp32"; }

Settings allocation_settings(const Settings& s) {
  Settings out;
  for (const auto& k : kAllocationKeys)
    if (const auto it = s.find(k); it != s.end()) out.emplace(k, it->second);
  return out;
}

Settings canonical(const Settings& s) {
  Settings out = s;
  const std::string method = value_or(s, "method");
  // A budget point's bits and rank come from its plan; a uniform point has no use for the allocation keys.
  if (is_allocated(s)) drop(out, {"bits", "rank"});
  else drop(out, kAllocationKeys);
  if (method == "fp32") {
    for (auto it = out.begin(); it != out.end();)
      it = (it->first != "method" && (!is_data_key(it->first) || starts_with(it->first, "calib."))) ? out.erase(it)
                                                                                                     : std::next(it);
  } else if (method == "w-only") {
    drop(out, kKRuleKeys);
    drop(out, kScaleKeys);
    drop(out, kLowRankKeys);
  } else if (method == "loftq") {
    drop(out, kKRuleKeys);
    drop(out, kScaleKeys);
  } else if (method == "qer") {
    drop(out, kKRuleKeys);
  } else if (method == "srr") {
    // The command line's default rule, made explicit so that a grid that names it and one that does not
    // plan the same point (and tables show which rule SRR used).
    const std::string rule = out.emplace("k-rule", "criterion").first->second;
    if (rule != "fixed") out.erase("k");
    if (rule != "criterion") drop(out, {"probe", "mc-samples"});
  }
  return out;
}

std::string settings_id(const Settings& s) {
  Sha256 h;
  h.update(std::string_view("srr-sweep-point/1\n"));
  for (const auto& [k, v] : s) {  // length-prefixed, so that no two different settings hash the same text
    const std::string line = std::to_string(k.size()) + ":" + k + "=" + std::to_string(v.size()) + ":" + v + "\n";
    h.update(std::string_view(line));
  }
  return h.hex_digest().substr(0, 12);
}

Settings calibration_settings(const Settings& s) {
  Settings out;
  for (const auto& [k, v] : s)
    if (k == "model" || k == "tokenizer" || starts_with(k, "calib.")) out.emplace(k, v);
  return out;
}

std::string calibration_id(const Settings& s) {
  return value_or(s, "method") == "fp32" ? std::string() : settings_id(calibration_settings(s));
}

Settings method_settings(const Settings& s) {
  Settings out;
  for (const auto& [k, v] : s)
    if (!is_data_key(k)) out.emplace(k, v);
  return out;
}

std::optional<std::string> qer_partner_id(const Settings& s) {
  if (value_or(s, "method") != "srr") return std::nullopt;
  Settings q = s;
  q["method"] = "qer";
  return settings_id(canonical(q));
}

namespace {

/// Calibration and evaluation must not see the same windows of the same text (method.md §4.1 calibrates
/// and evaluates on disjoint data). Checked where it can be: the same text, the same window length and
/// the stream protocol.
void check_disjoint(const Settings& s, const std::string& what) {
  if (value_or(s, "eval.protocol", "stream") != "stream") return;
  if (value_or(s, "calib.text") != value_or(s, "eval.text")) return;
  if (value_or(s, "calib.ctx", "0") != value_or(s, "eval.ctx", "0")) return;
  constexpr long kAll = std::numeric_limits<long>::max() / 2;
  const auto range = [&](const std::string& slice) {
    const long skip = parse_long(value_or(s, slice + ".skip-windows", "0"), what + ": " + slice + ".skip-windows");
    const long n = parse_long(value_or(s, slice + ".windows", "-1"), what + ": " + slice + ".windows");
    return std::pair<long, long>{skip, n < 0 ? kAll : skip + n};
  };
  const auto [cs, ce] = range("calib");
  const auto [es, ee] = range("eval");
  const auto show = [](long a, long b) { return "[" + std::to_string(a) + ", " + (b >= kAll ? "end" : std::to_string(b)) + ")"; };
  require(ce <= es || ee <= cs, what, ": calibration windows ", show(cs, ce), " and evaluation windows ", show(es, ee),
          " overlap on the same text; set calib.windows and eval.skip-windows so that they are disjoint");
}

}  // namespace

std::vector<Point> expand(const Grid& grid) {
  std::vector<Point> points;
  std::set<std::string> ids;
  for (const auto& sub : grid.subgrids) {
    const std::string what = "grid " + grid.name + (sub.name.empty() ? " [axes]" : " [axes." + sub.name + "]");
    for (const auto& axis : sub.axes) require(!axis.values.empty(), what, ": axis '", axis.key, "' has no values");
    std::vector<std::size_t> at(sub.axes.size(), 0);  // an odometer over the axes, last axis fastest
    for (;;) {
      Settings s = grid.data;
      for (const auto& [k, v] : grid.fixed) s[k] = v;
      for (std::size_t a = 0; a < sub.axes.size(); ++a) s[sub.axes[a].key] = sub.axes[a].values[at[a]];
      s = resolve_data(s);
      require(s.count("method"), what, ": a point has no 'method' (set it in [fixed] or as an axis)");
      require(s.count("model"), what, ": a point has no 'model' (set it in [data])");
      require(s.count("eval.text"), what, ": a point has no evaluation text (set text or eval.text in [data])");
      if (value_or(s, "method") != "fp32") {
        require(s.count("calib.text"), what, ": a point has no calibration text (set text or calib.text in [data])");
        check_disjoint(s, what);
      }
      for (const auto& [k, v] : s)
        require(v.find_first_of("\t\n") == std::string::npos && v != "-", what, ": '", k, "' has the value '", v,
                "', which the manifest cannot hold");
      s = canonical(s);
      Point p{settings_id(s), calibration_id(s), s};
      if (ids.insert(p.id).second) points.push_back(std::move(p));
      std::size_t a = sub.axes.size();
      while (a > 0 && ++at[a - 1] == sub.axes[a - 1].values.size()) at[--a] = 0;
      if (a == 0) break;
    }
  }
  return points;
}

std::string expand_env(const std::string& text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 2, "${") != 0) {
      out += text[i++];
      continue;
    }
    const auto close = text.find('}', i + 2);
    require(close != std::string::npos, "unterminated ${ in '", text, "'");
    const std::string body = text.substr(i + 2, close - i - 2);
    const auto dash = body.find(":-");
    const std::string var = body.substr(0, dash);
    require(!var.empty() && std::all_of(var.begin(), var.end(), [](char c) {
              return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
            }),
            "bad variable name '", var, "' in '", text, "'");
    const char* value = std::getenv(var.c_str());
    if (value && *value) out += value;
    else if (dash != std::string::npos) out += body.substr(dash + 2);
    else throw InputError("'" + text + "' needs the environment variable " + var + ", which is not set");
    i = close + 1;
  }
  return out;
}

std::vector<std::string> ordered_keys(const std::vector<Point>& points) {
  std::set<std::string> method_keys, data_keys;
  for (const auto& p : points)
    for (const auto& [k, v] : p.settings)
      if (k != "method") (is_data_key(k) ? data_keys : method_keys).insert(k);
  std::vector<std::string> keys = {"method"};
  keys.insert(keys.end(), method_keys.begin(), method_keys.end());
  // model and tokenizer first, then calib.*, eval.*: std::set orders "calib." < "eval." < "model" < "tokenizer"
  for (const char* k : {"model", "tokenizer"})
    if (data_keys.erase(k)) keys.emplace_back(k);
  keys.insert(keys.end(), data_keys.begin(), data_keys.end());
  return keys;
}

void write_manifest(const fs::path& path, const std::vector<Point>& points) {
  const auto keys = ordered_keys(points);
  std::ostringstream os;
  os << "task\tid\tcalib";
  for (const auto& k : keys) os << '\t' << k;
  os << '\n';
  for (std::size_t t = 0; t < points.size(); ++t) {
    const auto& p = points[t];
    os << t << '\t' << p.id << '\t' << (p.calib.empty() ? "-" : p.calib);
    for (const auto& k : keys) os << '\t' << value_or(p.settings, k, "-");
    os << '\n';
  }
  write_file_atomic(with_parents(path), os.str());
}

std::vector<Point> read_manifest(const fs::path& path) {
  std::ifstream in(path);
  require(in.good(), "cannot read the manifest '", path.string(), "' (run srr sweep plan first)");
  std::string line;
  require(static_cast<bool>(std::getline(in, line)), path.string(), ": empty manifest");
  const auto header = split_fields(line);
  require(header.size() >= 3 && header[0] == "task" && header[1] == "id" && header[2] == "calib", path.string(),
          ": not a sweep manifest (the header must start with task, id, calib)");
  std::vector<Point> points;
  int line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    const auto f = split_fields(line);
    require(f.size() == header.size(), path.string(), ":", line_no, ": ", f.size(), " fields, the header has ",
            header.size());
    require(f[0] == std::to_string(points.size()), path.string(), ":", line_no, ": task ", f[0], ", expected ",
            points.size());
    Point p{f[1], f[2] == "-" ? "" : f[2], {}};
    for (std::size_t i = 3; i < f.size(); ++i)
      if (f[i] != "-") p.settings.emplace(header[i], f[i]);
    points.push_back(std::move(p));
  }
  return points;
}

}  // namespace srr::sweep
