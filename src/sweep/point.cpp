// SPDX-License-Identifier: MIT
#include "sweep/point.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "qer/allocation.hpp"
#include "store/hdf5.hpp"
#include "sweep/files.hpp"

namespace srr::sweep {

namespace {

constexpr const char* kFormat = "srr-sweep-point";
constexpr std::int64_t kFormatVersion = 1;

using nlohmann::json;

/// NaN and ±Inf are not JSON; null stands for them.
json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
double number(const json& j) { return j.is_number() ? j.get<double>() : std::numeric_limits<double>::quiet_NaN(); }

template <class T>
void write_column(hid_t file, const char* name, const std::vector<T>& v, const std::string& where) {
  const store::Hid d = store::create_dataset(file, name, store::file_type<T>(), {v.size()}, true, where);
  store::write_dataset<T>(d.get(), v, where);
}

template <class T>
std::vector<T> read_column(hid_t file, const char* name, std::size_t n, const std::string& where) {
  const store::Hid d = store::open_dataset(file, name, where);
  return store::read_dataset<T>(d.get(), static_cast<std::int64_t>(n), where);
}

}  // namespace

void write_point_file(const fs::path& path, const PointResult& r) {
  json seconds = json::object();
  for (const auto& [k, v] : r.seconds) seconds[k] = number(v);
  json names = json::array();
  for (const auto& l : r.layers) names.push_back(l.name);
  json result = {{"status", r.status},     {"message", r.message},   {"protocol", r.protocol},
                 {"perplexity", number(r.perplexity)}, {"tokens", r.tokens}, {"seconds", seconds},
                 {"tool_version", r.tool_version}, {"layers", names}};
  if (std::isfinite(r.bits_per_weight)) result["bits_per_weight"] = r.bits_per_weight;  // quantized points only
  store::write_hdf5_atomic(with_parents(path), [&](hid_t file, const std::string& name) {
    store::write_string_attribute(file, "format", kFormat, name);
    store::write_int_attribute(file, "format_version", kFormatVersion, name);
    store::write_string_attribute(file, "id", r.id, name);
    store::write_string_attribute(file, "settings", json(r.settings).dump(), name);
    store::write_string_attribute(file, "result", result.dump(), name);
    if (r.layers.empty()) return;
    const auto column = [&](auto member) {
      std::vector<std::remove_cvref_t<decltype(r.layers[0].*member)>> v;
      for (const auto& l : r.layers) v.push_back(l.*member);
      return v;
    };
    write_column(file, "k_star", column(&LayerMetrics::k_star), name);
    write_column(file, "in", column(&LayerMetrics::in), name);
    write_column(file, "out", column(&LayerMetrics::out), name);
    write_column(file, "rel_error", column(&LayerMetrics::rel_error), name);
    write_column(file, "rel_error_scaled", column(&LayerMetrics::rel_error_scaled), name);
    write_column(file, "rel_error_act", column(&LayerMetrics::rel_error_act), name);
  });
}

PointResult read_point_file(const fs::path& path) {
  store::h5_init();
  const std::string name = path.string();
  const hid_t id = H5Fopen(name.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) {
    H5Eclear2(H5E_DEFAULT);
    throw InputError("'" + name + "' cannot be opened as an HDF5 file");
  }
  const store::Hid file(id);
  require(store::has_attribute(file.get(), "format", name) &&
              store::read_string_attribute(file.get(), "format", name) == kFormat,
          "'", name, "' is not a sweep point file");
  PointResult r;
  try {
    r.id = store::read_string_attribute(file.get(), "id", name);
    r.settings = json::parse(store::read_string_attribute(file.get(), "settings", name)).get<Settings>();
    const json result = json::parse(store::read_string_attribute(file.get(), "result", name));
    r.status = result.at("status").get<std::string>();
    r.message = result.at("message").get<std::string>();
    r.protocol = result.at("protocol").get<std::string>();
    r.perplexity = number(result.at("perplexity"));
    r.tokens = result.at("tokens").get<double>();
    if (result.contains("bits_per_weight")) r.bits_per_weight = number(result.at("bits_per_weight"));
    for (const auto& [k, v] : result.at("seconds").items()) r.seconds[k] = number(v);
    r.tool_version = result.at("tool_version").get<std::string>();
    const auto names = result.at("layers").get<std::vector<std::string>>();
    if (!names.empty()) {
      const auto n = names.size();
      const auto k = read_column<std::int64_t>(file.get(), "k_star", n, name);
      const auto in = read_column<std::int64_t>(file.get(), "in", n, name);
      const auto out = read_column<std::int64_t>(file.get(), "out", n, name);
      const auto e = read_column<double>(file.get(), "rel_error", n, name);
      const auto es = read_column<double>(file.get(), "rel_error_scaled", n, name);
      const auto ea = read_column<double>(file.get(), "rel_error_act", n, name);
      for (std::size_t i = 0; i < n; ++i) r.layers.push_back({names[i], in[i], out[i], k[i], e[i], es[i], ea[i]});
    }
  } catch (const json::exception& e) {
    throw InputError("'" + name + "': malformed point attributes: " + e.what());
  }
  return r;
}

double layer_mean(const std::vector<LayerMetrics>& layers, double LayerMetrics::*metric) {
  double sum = 0;
  std::size_t n = 0;
  for (const auto& l : layers)
    if (std::isfinite(l.*metric)) sum += l.*metric, ++n;
  return n ? sum / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
}

double bits_per_weight(const store::StoreLayout& layout) {
  double bits = 0, weights = 0;
  for (const auto& l : layout.layers) {
    quant::QuantSettings q = layout.quant;
    q.width = layout.bits_of(l);
    bits += qer::layer_bits(l.in, l.out, q, layout.rank_of(l));
    weights += static_cast<double>(l.in) * static_cast<double>(l.out);
  }
  return weights > 0 ? bits / weights : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace srr::sweep
