// SPDX-License-Identifier: MIT
#include "store/calibration.hpp"

#include <nlohmann/json.hpp>

#include "base/sha256.hpp"
#include "store/hdf5.hpp"

namespace srr::store {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kFormat = "srr-calibration";
constexpr const char* kInputs = "inputs";

template <class T>
void hash_value(Sha256& h, const T& v) {
  h.update(std::span<const std::byte>(reinterpret_cast<const std::byte*>(&v), sizeof v));
}

template <class T>
void hash_array(Sha256& h, const T* data, std::size_t n) {
  h.update(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), n * sizeof(T)));
}

/// SHA-256 over every key and every statistic in key order: equal content ⇔ equal hash.
std::string content_hash(const std::map<std::string, qer::InputStatistics>& stats) {
  Sha256 h;
  for (const auto& [key, s] : stats) {
    hash_value(h, static_cast<std::uint64_t>(key.size()));
    h.update(std::string_view(key));
    hash_value(h, static_cast<std::int64_t>(s.dim));
    hash_value(h, s.tokens);
    hash_array(h, s.mean_abs_max.data(), s.mean_abs_max.size());
    hash_array(h, s.sum_sq.data(), s.sum_sq.size());
    hash_value(h, static_cast<std::uint8_t>(s.has_xtx()));
    if (s.has_xtx()) hash_array(h, s.xtx.data(), s.xtx.size());
  }
  return h.hex_digest();
}

json parse_or_null(const std::string& text, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw InputError(what + " is not JSON: " + e.what());
  }
}

Hid open_calibration(const fs::path& path) {
  h5_init();
  const std::string name = path.string();
  require(fs::exists(path), "calibration file '", name, "' does not exist");
  const hid_t id = H5Fopen(name.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) {
    H5Eclear2(H5E_DEFAULT);
    throw InputError("calibration file '" + name + "' cannot be opened as an HDF5 file");
  }
  Hid file(id);
  require(has_attribute(file.get(), "format", name) && read_string_attribute(file.get(), "format", name) == kFormat,
          "'", name, "' is not an srr calibration file (no format = \"", kFormat, "\" attribute)");
  return file;
}

}  // namespace

void write_calibration(const fs::path& path, const std::map<std::string, qer::InputStatistics>& stats,
                       const std::string& settings_json, const std::string& checkpoint_identity) {
  h5_init();
  for (const auto& [key, s] : stats) {
    require(!key.empty() && key.find('/') == std::string::npos, "calibration: bad input key '", key, "'");
    s.validate("calibration input " + key);
  }
  const json settings = parse_or_null(settings_json, "calibration settings");
  const json identity = {{"checkpoint", parse_or_null(checkpoint_identity, "checkpoint identity")},
                         {"content_sha256", content_hash(stats)},
                         {"inputs", stats.size()}};
  std::uint64_t bytes = 1 << 20;
  for (const auto& [key, s] : stats)
    bytes += 8 * (2 * s.mean_abs_max.size() + s.xtx.size()) + (16 << 10);
  require_free_space(path, bytes, "the calibration file '" + path.string() + "'");
  write_hdf5_atomic(path, [&](hid_t file, const std::string& name) {
    write_string_attribute(file, "format", kFormat, name);
    write_string_attribute(file, "settings", settings.dump(), name);
    write_string_attribute(file, "identity", identity.dump(), name);
    Hid inputs(SRR_H5_CALL(H5Gcreate2(file, kInputs, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), name));
    for (const auto& [key, s] : stats) {
      Hid g(SRR_H5_CALL(H5Gcreate2(inputs.get(), key.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), name));
      write_int_attribute(g.get(), "tokens", s.tokens, name);
      const auto m = static_cast<hsize_t>(s.dim);
      Hid mean = create_dataset(g.get(), "mean_abs_max", file_type<double>(), {m}, false, name);
      write_dataset<double>(mean.get(), s.mean_abs_max, name);
      Hid sq = create_dataset(g.get(), "sum_sq", file_type<double>(), {m}, false, name);
      write_dataset<double>(sq.get(), s.sum_sq, name);
      if (s.has_xtx()) {
        // XᵀX is symmetric, so its column-major bytes are also its row-major [m][m] bytes.
        Hid xtx = create_dataset(g.get(), "xtx", file_type<double>(), {m, m}, false, name);
        write_dataset<double>(xtx.get(), std::span<const double>(s.xtx.data(), s.xtx.size()), name);
      }
    }
    inputs.close(name);
  });
}

qer::InputStatistics read_statistics(const fs::path& path, const std::string& key) {
  const std::string name = path.string();
  const Hid file = open_calibration(path);
  const std::string group = std::string(kInputs) + "/" + key;
  if (key.empty() || key.find('/') != std::string::npos || !exists(file.get(), group, name)) {
    std::size_t count = 0;
    if (exists(file.get(), kInputs, name)) {
      H5G_info_t info{};
      Hid inputs = open_group(file.get(), kInputs, name);
      SRR_H5_CALL(H5Gget_info(inputs.get(), &info), name);
      count = info.nlinks;
    }
    throw InputError(detail::concat("calibration file '", name, "' has no statistics for input '", key, "' (it has ",
                                    count, " inputs; was it made for another model?)"));
  }
  Hid g = open_group(file.get(), group, name);
  qer::InputStatistics s;
  s.tokens = read_int_attribute(g.get(), "tokens", name);
  Hid mean = open_dataset(g.get(), "mean_abs_max", name);
  s.mean_abs_max = read_dataset<double>(mean.get(), -1, name);
  s.dim = static_cast<la::index_t>(s.mean_abs_max.size());
  Hid sq = open_dataset(g.get(), "sum_sq", name);
  s.sum_sq = read_dataset<double>(sq.get(), s.dim, name);
  if (exists(g.get(), "xtx", name)) {
    Hid xtx = open_dataset(g.get(), "xtx", name);
    const auto values = read_dataset<double>(xtx.get(), s.dim * s.dim, name);
    s.xtx = la::Matrix<double>(s.dim, s.dim);
    std::copy(values.begin(), values.end(), s.xtx.data());
  }
  s.validate("calibration file '" + name + "', input '" + key + "'");
  return s;
}

CalibrationInfo describe_calibration(const fs::path& path) {
  const std::string name = path.string();
  const Hid file = open_calibration(path);
  CalibrationInfo info;
  info.settings = read_string_attribute(file.get(), "settings", name);
  info.identity = read_string_attribute(file.get(), "identity", name);
  Hid inputs = open_group(file.get(), kInputs, name);
  std::vector<std::string> keys;
  hsize_t idx = 0;
  SRR_H5_CALL(H5Literate(
                  inputs.get(), H5_INDEX_NAME, H5_ITER_INC, &idx,
                  [](hid_t, const char* key, const H5L_info_t*, void* data) -> herr_t {
                    static_cast<std::vector<std::string>*>(data)->emplace_back(key);
                    return 0;
                  },
                  &keys),
              name);
  for (const auto& key : keys) {
    Hid g = open_group(inputs.get(), key, name);
    Hid mean = open_dataset(g.get(), "mean_abs_max", name);
    const auto dims = dataset_dims(mean.get(), name);
    require(dims.size() == 1, "'", name, "': inputs/", key, "/mean_abs_max is not a vector");
    info.inputs[key] = {static_cast<la::index_t>(dims[0]), read_int_attribute(g.get(), "tokens", name),
                        exists(g.get(), "xtx", name)};
  }
  return info;
}

std::string calibration_identity(const fs::path& path) {
  const auto info = describe_calibration(path);
  const json identity = parse_or_null(info.identity, detail::concat("'", path.string(), "': identity attribute"));
  std::error_code ec;
  const fs::path abs = fs::absolute(path, ec);
  return json{{"path", ec ? path.string() : abs.lexically_normal().string()},
              {"content_sha256", identity.value("content_sha256", std::string())},
              {"checkpoint", identity.value("checkpoint", json())}}
      .dump();
}

}  // namespace srr::store
