// SPDX-License-Identifier: MIT
#include "store/calibration.hpp"

#include <unistd.h>

#include <set>

#include <nlohmann/json.hpp>

#include "base/sha256.hpp"
#include "store/hdf5.hpp"

namespace srr::store {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kFormat = "srr-calibration";
constexpr const char* kInputs = "inputs";
/// Version 2 added the per-input checksums (attribute `sha256`) and the content hash over them.
constexpr std::int64_t kFormatVersion = 2;

template <class T>
void hash_value(Sha256& h, const T& v) {
  h.update(std::span<const std::byte>(reinterpret_cast<const std::byte*>(&v), sizeof v));
}

template <class T>
void hash_array(Sha256& h, const T* data, std::size_t n) {
  h.update(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), n * sizeof(T)));
}

/// SHA-256 over one input's key and statistics: the checksum stored with the input (attribute `sha256`).
std::string input_digest(const std::string& key, const qer::InputStatistics& s) {
  Sha256 h;
  hash_value(h, static_cast<std::uint64_t>(key.size()));
  h.update(std::string_view(key));
  hash_value(h, static_cast<std::int64_t>(s.dim));
  hash_value(h, s.tokens);
  hash_array(h, s.mean_abs_max.data(), s.mean_abs_max.size());
  hash_array(h, s.sum_sq.data(), s.sum_sq.size());
  hash_value(h, static_cast<std::uint8_t>(s.has_xtx()));
  if (s.has_xtx()) hash_array(h, s.xtx.data(), s.xtx.size());
  return h.hex_digest();
}

/// SHA-256 over every key and its input's digest, in key order: equal content ⇔ equal hash. Computed from
/// the per-input digests, so that checking it needs no statistics, and each input is checked when read.
std::string content_hash(const std::map<std::string, std::string>& digests) {
  Sha256 h;
  for (const auto& [key, digest] : digests) {
    hash_value(h, static_cast<std::uint64_t>(key.size()));
    h.update(std::string_view(key));
    h.update(std::string_view(digest));
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
  const std::string name = path.string();
  Hid file = open_hdf5(path, false, "calibration file");
  read_checked(name, [&] {
    require(has_attribute(file.get(), "format", name) && read_string_attribute(file.get(), "format", name) == kFormat,
            "'", name, "' is not an srr calibration file (no format = \"", kFormat, "\" attribute)");
    const std::int64_t version =
        has_attribute(file.get(), "format_version", name) ? read_int_attribute(file.get(), "format_version", name) : 1;
    require(version == kFormatVersion, "calibration file '", name, "' has format version ", version,
            ", this srr reads version ", kFormatVersion,
            version < kFormatVersion ? " (per-input checksums came with version 2): rerun srr calibrate"
                                     : " (made by a newer srr)");
  });
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
  std::map<std::string, std::string> digests;
  for (const auto& [key, s] : stats) digests[key] = input_digest(key, s);
  const json identity = {{"checkpoint", parse_or_null(checkpoint_identity, "checkpoint identity")},
                         {"content_sha256", content_hash(digests)},
                         {"inputs", stats.size()}};
  std::uint64_t bytes = 1 << 20;
  for (const auto& [key, s] : stats)
    bytes += 8 * (2 * s.mean_abs_max.size() + s.xtx.size()) + (16 << 10);
  require_free_space(path, bytes, "the calibration file '" + path.string() + "'");
  write_hdf5_atomic(path, [&](hid_t file, const std::string& name) {
    write_string_attribute(file, "format", kFormat, name);
    write_int_attribute(file, "format_version", kFormatVersion, name);
    write_string_attribute(file, "settings", settings.dump(), name);
    write_string_attribute(file, "identity", identity.dump(), name);
    Hid inputs(SRR_H5_CALL(H5Gcreate2(file, kInputs, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), name));
    for (const auto& [key, s] : stats) {
      Hid g(SRR_H5_CALL(H5Gcreate2(inputs.get(), key.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), name));
      write_int_attribute(g.get(), "tokens", s.tokens, name);
      write_string_attribute(g.get(), "sha256", digests.at(key), name);
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

qer::InputStatistics read_statistics(const fs::path& path, const std::string& key, const std::string& expected_sha256) {
  const std::string name = path.string();
  const Hid file = open_calibration(path);
  return read_checked(name, [&] {
    const std::string group = std::string(kInputs) + "/" + key;
    if (key.empty() || key.find('/') != std::string::npos || !exists(file.get(), group, name)) {
      std::size_t count = 0;
      if (exists(file.get(), kInputs, name)) {
        H5G_info_t info{};
        Hid inputs = open_group(file.get(), kInputs, name);
        SRR_H5_CALL(H5Gget_info(inputs.get(), &info), name);
        count = info.nlinks;
      }
      throw InputError(detail::concat("calibration file '", name, "' has no statistics for input '", key,
                                      "' (it has ", count, " inputs; was it made for another model?)"));
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
    const std::string stored = read_string_attribute(g.get(), "sha256", name);
    if (input_digest(key, s) != stored)
      throw ChecksumError("calibration file '" + name + "': input '" + key +
                          "' does not match its checksum (the file was changed or damaged after srr calibrate wrote "
                          "it); rerun srr calibrate");
    if (!expected_sha256.empty() && stored != expected_sha256)
      throw ChecksumError("calibration file '" + name + "': the statistics of input '" + key +
                          "' changed while this run was using the file; rerun when nothing rewrites it");
    s.validate("calibration file '" + name + "', input '" + key + "'");
    return s;
  });
}

CalibrationInfo describe_calibration(const fs::path& path) {
  const std::string name = path.string();
  const Hid file = open_calibration(path);
  return read_checked(name, [&] {
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
                          exists(g.get(), "xtx", name), read_string_attribute(g.get(), "sha256", name)};
    }
    return info;
  });
}

std::string calibration_identity(const fs::path& path) {
  const auto info = describe_calibration(path);
  const json identity = parse_or_null(info.identity, detail::concat("'", path.string(), "': identity attribute"));
  std::map<std::string, std::string> digests;
  for (const auto& [key, entry] : info.inputs) digests[key] = entry.sha256;
  const std::string content = content_hash(digests);
  if (!identity.is_object() || identity.value("content_sha256", std::string()) != content)
    throw ChecksumError("calibration file '" + path.string() +
                        "': its inputs' checksums do not add up to the content hash it records (the file was "
                        "changed after srr calibrate wrote it); rerun srr calibrate");
  std::error_code ec;
  const fs::path abs = fs::absolute(path, ec);
  return json{{"path", ec ? path.string() : abs.lexically_normal().string()},
              {"content_sha256", content},
              {"checkpoint", identity.value("checkpoint", json())}}
      .dump();
}

void verify_calibration(const fs::path& path) {
  calibration_identity(path);
  for (const auto& [key, entry] : describe_calibration(path).inputs) read_statistics(path, key, entry.sha256);
}

fs::path calibration_lock_path(const fs::path& path) {
  fs::path lock_path = path;
  lock_path += ".lock";
  return lock_path;
}

std::optional<FileLock> lock_calibration(const fs::path& path, LockMode mode) {
  const fs::path lock_path = calibration_lock_path(path);
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  if (mode == LockMode::shared && ::access(dir.c_str(), W_OK) != 0 && !fs::exists(fs::symlink_status(lock_path)))
    return std::nullopt;
  auto lock = FileLock::try_acquire(lock_path, mode);
  if (lock) {
    if (mode == LockMode::exclusive) lock->record_holder();
    return lock;
  }
  if (mode == LockMode::shared) {
    const std::string holder = FileLock::holder(lock_path);
    throw InputError("the calibration file '" + path.string() + "' is being written by srr calibrate (" +
                     (holder.empty() ? "unknown process" : holder) + " holds '" + lock_path.string() +
                     "'); wait for it to finish");
  }
  throw InputError("the calibration file '" + path.string() + "' is in use: a run is reading it (it holds '" +
                   lock_path.string() + "'); wait for that run to finish or choose another --out");
}

namespace {

/// Every difference between the settings and checkpoint recorded in a calibration file and this run's.
std::vector<std::string> calibration_differences(const CalibrationInfo& info, const json& wanted_settings,
                                                 const json& wanted_checkpoint) {
  std::vector<std::string> d;
  json have = parse_or_null(info.settings, "settings attribute");
  if (!have.is_object()) have = json::object();
  std::set<std::string> keys;
  for (const auto& [k, v] : have.items()) keys.insert(k);
  for (const auto& [k, v] : wanted_settings.items()) keys.insert(k);
  keys.erase("tokens");  // a result of the other settings, not one of them
  for (const auto& k : keys) {
    const json a = have.contains(k) ? have[k] : json("(absent)");
    const json b = wanted_settings.contains(k) ? wanted_settings[k] : json("(absent)");
    if (a != b) d.push_back(k + ": the file has " + a.dump() + ", this run has " + b.dump());
  }
  const json identity = parse_or_null(info.identity, "identity attribute");
  json ca = identity.is_object() ? identity.value("checkpoint", json()) : json();
  json cb = wanted_checkpoint;
  if (ca.is_object()) ca.erase("path");
  if (cb.is_object()) cb.erase("path");
  if (ca != cb) d.push_back("checkpoint: the file was made from " + ca.dump() + ", this run uses " + cb.dump());
  return d;
}

}  // namespace

CalibrationTarget check_calibration_target(const fs::path& path, const std::string& settings_json,
                                           const std::string& checkpoint_identity, bool overwrite) {
  const std::string name = path.string();
  require(!name.empty() && path.has_filename(), "--out must name a file, got '", name, "'");
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::error_code ec;
  require(fs::is_directory(dir, ec), "--out '", name, "': the directory '", dir.string(),
          "' does not exist (srr does not create it)");
  const auto status = fs::symlink_status(path, ec);
  if (!fs::exists(status)) return CalibrationTarget::absent;
  require(!fs::is_symlink(status), "--out '", name,
          "' is a symbolic link; srr calibrate never writes through or replaces one (choose another --out)");
  require(fs::is_regular_file(status), "--out '", name, "' exists and is ",
          fs::is_directory(status) ? "a directory" : "not a regular file", "; choose another --out");
  const auto left_alone = [&](const std::string& why) {
    return InputError("--out '" + name + "' exists and is not an srr calibration file (" + why +
                      "); it was left as it is: choose another --out");
  };
  h5_init();
  if (H5Fis_hdf5(name.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw left_alone("not an HDF5 file");
  }
  std::vector<std::string> differences;
  try {
    const Hid file = open_hdf5(path, false, "calibration file");
    read_checked(name, [&] {
      if (!has_attribute(file.get(), "format", name) || read_string_attribute(file.get(), "format", name) != kFormat)
        throw left_alone("an HDF5 file without format = \"srr-calibration\"");
    });
  } catch (const InputError& e) {
    throw left_alone(e.what());
  }
  try {
    const CalibrationInfo info = describe_calibration(path);
    differences = calibration_differences(info, parse_or_null(settings_json, "calibration settings"),
                                          parse_or_null(checkpoint_identity, "checkpoint identity"));
    if (differences.empty()) verify_calibration(path);
  } catch (const InputError& e) {
    differences.push_back(e.what());  // another format version, or content that fails its checksums
  }
  if (differences.empty()) return CalibrationTarget::reuse;
  if (overwrite) return CalibrationTarget::replace;
  std::string msg = "--out '" + name +
                    "' is an srr calibration file made otherwise; it was left as it is (rerun with --overwrite to "
                    "replace it, or choose another --out). Differences:";
  for (const auto& d : differences) msg += "\n  " + d;
  throw InputError(msg);
}

}  // namespace srr::store
