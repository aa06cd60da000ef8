// SPDX-License-Identifier: MIT
#include "store/calibration.hpp"

#include <unistd.h>

#include <set>

#include <nlohmann/json.hpp>

#include "base/files.hpp"
#include "base/sha256.hpp"
#include "store/hdf5.hpp"

namespace srr::store {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kFormat = "srr-calibration";
constexpr const char* kInputs = "inputs";
/// Version 2 added the per-input checksums and the content hash over them; version 3 the layout created up
/// front with per-input done marks (resumable) and XᵀX as its packed lower triangle.
constexpr std::int64_t kFormatVersion = 3;
constexpr std::size_t kDigestChars = 64;

/// Elements of the packed lower triangle of an m×m matrix, and where column j starts in it.
std::uint64_t packed_size(la::index_t m) { return static_cast<std::uint64_t>(m) * (static_cast<std::uint64_t>(m) + 1) / 2; }
std::uint64_t packed_offset(la::index_t m, la::index_t j) {
  const auto J = static_cast<std::uint64_t>(j);
  return J * static_cast<std::uint64_t>(m) - J * (J - 1) / 2;
}

template <class T>
void hash_value(Sha256& h, const T& v) {
  h.update(std::span<const std::byte>(reinterpret_cast<const std::byte*>(&v), sizeof v));
}

template <class T>
void hash_array(Sha256& h, const T* data, std::size_t n) {
  h.update(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), n * sizeof(T)));
}

/// SHA-256 over one input's key and statistics: the checksum stored with the input (dataset `sha256`). The
/// header (key, dimension, tokens, the two vectors) is hashed first and XᵀX's packed lower triangle after it,
/// so the writer can hash panels as they pass.
Sha256 input_digest_header(const std::string& key, const qer::InputStatistics& s, bool with_xtx) {
  Sha256 h;
  hash_value(h, static_cast<std::uint64_t>(key.size()));
  h.update(std::string_view(key));
  hash_value(h, static_cast<std::int64_t>(s.dim));
  hash_value(h, s.tokens);
  hash_array(h, s.mean_abs_max.data(), s.mean_abs_max.size());
  hash_array(h, s.sum_sq.data(), s.sum_sq.size());
  hash_value(h, static_cast<std::uint8_t>(with_xtx));
  return h;
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

Hid open_calibration(const fs::path& path, bool writable = false) {
  const std::string name = path.string();
  Hid file = open_hdf5(path, writable, "calibration file");
  read_checked(name, [&] {
    require(has_attribute(file.get(), "format", name) && read_string_attribute(file.get(), "format", name) == kFormat,
            "'", name, "' is not an srr calibration file (no format = \"", kFormat, "\" attribute)");
    const std::int64_t version =
        has_attribute(file.get(), "format_version", name) ? read_int_attribute(file.get(), "format_version", name) : 1;
    require(version == kFormatVersion, "calibration file '", name, "' has format version ", version,
            ", this srr reads version ", kFormatVersion,
            version < kFormatVersion ? " (version 3 made it resumable and stores XᵀX packed): rerun srr calibrate"
                                     : " (made by a newer srr)");
  });
  return file;
}

}  // namespace

namespace {

std::string input_group(const std::string& key) { return std::string(kInputs) + "/" + key; }

void check_key(const std::string& key) {
  require(!key.empty() && key.find('/') == std::string::npos && key != "." && key != "..",
          "calibration: bad input key '", key, "'");
}

/// Writes or reads elements [offset, offset + n) of a 1-D dataset.
Hid select_range(hid_t dset, std::uint64_t offset, std::uint64_t n, const std::string& file) {
  Hid space(SRR_H5_CALL(H5Dget_space(dset), file));
  const hsize_t start[1] = {offset}, count[1] = {n};
  SRR_H5_CALL(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr), file);
  return space;
}

void write_range(hid_t dset, std::uint64_t offset, std::span<const double> data, const std::string& file) {
  if (data.empty()) return;
  Hid fspace = select_range(dset, offset, data.size(), file);
  const hsize_t n[1] = {data.size()};
  Hid mspace(SRR_H5_CALL(H5Screate_simple(1, n, nullptr), file));
  SRR_H5_CALL(H5Dwrite(dset, H5T_NATIVE_DOUBLE, mspace.get(), fspace.get(), H5P_DEFAULT, data.data()), file);
}

void read_range(hid_t dset, std::uint64_t offset, std::span<double> data, const std::string& file) {
  if (data.empty()) return;
  Hid fspace = select_range(dset, offset, data.size(), file);
  const hsize_t n[1] = {data.size()};
  Hid mspace(SRR_H5_CALL(H5Screate_simple(1, n, nullptr), file));
  SRR_H5_CALL(H5Dread(dset, H5T_NATIVE_DOUBLE, mspace.get(), fspace.get(), H5P_DEFAULT, data.data()), file);
}

template <class T>
T read_scalar(hid_t g, const char* name, const std::string& file) {
  Hid d = open_dataset(g, name, file);
  return read_dataset<T>(d.get(), 1, file).at(0);
}

template <class T>
void write_scalar(hid_t g, const char* name, T value, const std::string& file) {
  Hid d = open_dataset(g, name, file);
  write_dataset<T>(d.get(), std::span<const T>(&value, 1), file);
}

std::string read_digest(hid_t g, const std::string& file) {
  Hid d = open_dataset(g, "sha256", file);
  const auto bytes = read_dataset<std::uint8_t>(d.get(), kDigestChars, file);
  return {bytes.begin(), bytes.end()};
}

void make_durable(hid_t file, const std::string& name) {
  SRR_H5_CALL(H5Fflush(file, H5F_SCOPE_GLOBAL), name);
  void* handle = nullptr;
  SRR_H5_CALL(H5Fget_vfd_handle(file, H5P_DEFAULT, &handle), name);
  sync_descriptor(*static_cast<int*>(handle), name);
}

/// Columns [j0, j1) of XᵀX's lower triangle, packed as the file stores them.
std::vector<double> pack_columns(const la::Matrix<double>& xtx, la::index_t j0, la::index_t j1) {
  const la::index_t m = xtx.rows();
  std::vector<double> out;
  out.reserve(packed_offset(m, j1) - packed_offset(m, j0));
  for (la::index_t j = j0; j < j1; ++j) out.insert(out.end(), xtx.col(j) + j, xtx.col(j) + m);
  return out;
}

}  // namespace

std::uint64_t calibration_file_bytes(const std::vector<CalibrationInput>& inputs) {
  std::uint64_t bytes = 1 << 20;
  for (const auto& in : inputs)
    bytes += 8 * (2 * static_cast<std::uint64_t>(in.dim) + (in.with_xtx ? packed_size(in.dim) : 0)) + (16 << 10);
  return bytes;
}

void create_calibration(const fs::path& path, const std::vector<CalibrationInput>& inputs,
                        const std::string& settings_json, const std::string& checkpoint_identity) {
  h5_init();
  std::set<std::string> keys;
  for (const auto& in : inputs) {
    check_key(in.key);
    require(in.dim > 0, "calibration: input '", in.key, "' has dimension ", in.dim);
    require(keys.insert(in.key).second, "calibration: input '", in.key, "' listed twice");
  }
  const json settings = parse_or_null(settings_json, "calibration settings");
  const json identity = {{"checkpoint", parse_or_null(checkpoint_identity, "checkpoint identity")},
                         {"inputs", inputs.size()}};
  require_free_space(path, calibration_file_bytes(inputs), "the calibration file '" + path.string() + "'");
  write_hdf5_atomic(path, [&](hid_t file, const std::string& name) {
    write_string_attribute(file, "format", kFormat, name);
    write_int_attribute(file, "format_version", kFormatVersion, name);
    write_string_attribute(file, "settings", settings.dump(), name);
    write_string_attribute(file, "identity", identity.dump(), name);
    Hid group_list(SRR_H5_CALL(H5Gcreate2(file, kInputs, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), name));
    for (const auto& in : inputs) {
      Hid g(SRR_H5_CALL(H5Gcreate2(group_list.get(), in.key.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), name));
      const auto m = static_cast<hsize_t>(in.dim);
      create_dataset(g.get(), "mean_abs_max", file_type<double>(), {m}, false, name);
      create_dataset(g.get(), "sum_sq", file_type<double>(), {m}, false, name);
      if (in.with_xtx) create_dataset(g.get(), "xtx_packed", file_type<double>(), {packed_size(in.dim)}, false, name);
      create_dataset(g.get(), "tokens", file_type<std::int64_t>(), {}, true, name);
      create_dataset(g.get(), "sha256", file_type<std::uint8_t>(), {kDigestChars}, true, name);
      create_dataset(g.get(), "done", file_type<std::uint8_t>(), {}, true, name);
    }
    group_list.close(name);
  }, Replace::allowed);
}

// ---- CalibrationWriter ----

struct CalibrationWriter::Current {
  std::string key;
  Hid group, xtx;
  la::index_t dim = 0, next_column = 0;
  bool with_xtx = false;
  Sha256 digest;
};

CalibrationWriter::CalibrationWriter(const fs::path& path) : path_(path), name_(path.string()) {
  file_ = open_calibration(path, true);
  read_checked(name_, [&] {
    for (const auto& [key, entry] : describe_calibration(path).inputs) done_[key] = entry.done;
  });
}

bool CalibrationWriter::done(const std::string& key) const {
  const auto it = done_.find(key);
  require(it != done_.end(), "calibration file '", name_, "' has no input '", key, "'");
  return it->second;
}

void CalibrationWriter::begin(const std::string& key, const qer::InputStatistics& s) {
  SRR_ASSERT(!current_);
  require(!done(key), "calibration file '", name_, "': input '", key, "' is already done");
  auto c = std::make_shared<Current>();
  c->key = key;
  c->group = open_group(file_.get(), input_group(key), name_);
  Hid mean = open_dataset(c->group.get(), "mean_abs_max", name_);
  c->dim = static_cast<la::index_t>(dataset_dims(mean.get(), name_).at(0));
  require(s.dim == c->dim && static_cast<la::index_t>(s.mean_abs_max.size()) == c->dim &&
              static_cast<la::index_t>(s.sum_sq.size()) == c->dim,
          "calibration file '", name_, "': input '", key, "' has dimension ", c->dim, ", the statistics ", s.dim);
  c->with_xtx = exists(c->group.get(), "xtx_packed", name_);
  if (c->with_xtx) c->xtx = open_dataset(c->group.get(), "xtx_packed", name_);
  write_dataset<double>(mean.get(), s.mean_abs_max, name_);
  Hid sq = open_dataset(c->group.get(), "sum_sq", name_);
  write_dataset<double>(sq.get(), s.sum_sq, name_);
  write_scalar<std::int64_t>(c->group.get(), "tokens", s.tokens, name_);
  c->digest = input_digest_header(key, s, c->with_xtx);
  current_ = std::move(c);
}

void CalibrationWriter::write_xtx_columns(la::index_t j0, la::index_t j1, std::span<const double> packed) {
  SRR_ASSERT(current_ && current_->with_xtx && j0 == current_->next_column && j1 > j0 && j1 <= current_->dim);
  const la::index_t m = current_->dim;
  SRR_ASSERT(packed.size() == packed_offset(m, j1) - packed_offset(m, j0));
  write_range(current_->xtx.get(), packed_offset(m, j0), packed, name_);
  hash_array(current_->digest, packed.data(), packed.size());
  current_->next_column = j1;
}

void CalibrationWriter::end() {
  SRR_ASSERT(current_ && (!current_->with_xtx || current_->next_column == current_->dim));
  const std::string digest = current_->digest.hex_digest();
  Hid d = open_dataset(current_->group.get(), "sha256", name_);
  write_dataset<std::uint8_t>(d.get(), std::span(reinterpret_cast<const std::uint8_t*>(digest.data()), digest.size()),
                              name_);
  ended_.push_back(current_->key);
  current_.reset();
}

void CalibrationWriter::commit() {
  SRR_ASSERT(!current_);
  if (ended_.empty()) return;
  make_durable(file_.get(), name_);
  for (const auto& key : ended_) {
    Hid g = open_group(file_.get(), input_group(key), name_);
    write_scalar<std::uint8_t>(g.get(), "done", 1, name_);
    done_[key] = true;
  }
  make_durable(file_.get(), name_);
  ended_.clear();
}

void CalibrationWriter::close() { file_.close(name_); }

void write_calibration(const fs::path& path, const std::map<std::string, qer::InputStatistics>& stats,
                       const std::string& settings_json, const std::string& checkpoint_identity) {
  std::vector<CalibrationInput> inputs;
  for (const auto& [key, s] : stats) {
    check_key(key);
    s.validate("calibration input " + key);
    inputs.push_back({key, s.dim, s.has_xtx()});
  }
  parse_or_null(settings_json, "calibration settings");
  create_calibration(path, inputs, settings_json, checkpoint_identity);
  CalibrationWriter w(path);
  for (const auto& [key, s] : stats) {
    w.begin(key, s);
    if (s.has_xtx()) w.write_xtx_columns(0, s.dim, pack_columns(s.xtx, 0, s.dim));
    w.end();
  }
  w.commit();
  w.close();
}

qer::InputStatistics read_statistics(const fs::path& path, const std::string& key, const std::string& expected_sha256) {
  const std::string name = path.string();
  const Hid file = open_calibration(path);
  return read_checked(name, [&] {
    const std::string group = input_group(key);
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
    require(read_scalar<std::uint8_t>(g.get(), "done", name) == 1, "calibration file '", name, "': input '", key,
            "' is not finished (srr calibrate was stopped before it); rerun the same srr calibrate to complete it");
    qer::InputStatistics s;
    s.tokens = read_scalar<std::int64_t>(g.get(), "tokens", name);
    Hid mean = open_dataset(g.get(), "mean_abs_max", name);
    s.mean_abs_max = read_dataset<double>(mean.get(), -1, name);
    s.dim = static_cast<la::index_t>(s.mean_abs_max.size());
    Hid sq = open_dataset(g.get(), "sum_sq", name);
    s.sum_sq = read_dataset<double>(sq.get(), s.dim, name);
    const bool with_xtx = exists(g.get(), "xtx_packed", name);
    Sha256 digest = input_digest_header(key, s, with_xtx);
    if (with_xtx) {
      Hid xtx = open_dataset(g.get(), "xtx_packed", name);
      require(dataset_dims(xtx.get(), name) == std::vector<hsize_t>{packed_size(s.dim)}, "calibration file '", name,
              "': input '", key, "': xtx_packed does not hold ", packed_size(s.dim), " values");
      s.xtx = la::Matrix<double>(s.dim, s.dim);
      // Column by column, straight into place: no second copy of the triangle.
      for (la::index_t j = 0; j < s.dim; ++j) {
        std::span<double> col(s.xtx.col(j) + j, static_cast<std::size_t>(s.dim - j));
        read_range(xtx.get(), packed_offset(s.dim, j), col, name);
        hash_array(digest, col.data(), col.size());
      }
      s.symmetrize();
    }
    const std::string stored = read_digest(g.get(), name);
    if (digest.hex_digest() != stored)
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

std::size_t CalibrationInfo::missing() const {
  std::size_t n = 0;
  for (const auto& [key, e] : inputs) n += e.done ? 0 : 1;
  return n;
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
      const bool done = read_scalar<std::uint8_t>(g.get(), "done", name) == 1;
      info.inputs[key] = {static_cast<la::index_t>(dims[0]), read_scalar<std::int64_t>(g.get(), "tokens", name),
                          exists(g.get(), "xtx_packed", name), done ? read_digest(g.get(), name) : std::string(),
                          done};
    }
    return info;
  });
}

std::string calibration_identity(const fs::path& path) {
  const auto info = describe_calibration(path);
  require(info.missing() == 0, "calibration file '", path.string(), "' is not complete: ", info.missing(), " of ",
          info.inputs.size(), " inputs are not finished (srr calibrate was stopped); rerun the same srr calibrate");
  const json identity = parse_or_null(info.identity, detail::concat("'", path.string(), "': identity attribute"));
  std::map<std::string, std::string> digests;
  for (const auto& [key, entry] : info.inputs) digests[key] = entry.sha256;
  std::error_code ec;
  const fs::path abs = fs::absolute(path, ec);
  return json{{"path", ec ? path.string() : abs.lexically_normal().string()},
              {"content_sha256", content_hash(digests)},
              {"checkpoint", identity.is_object() ? identity.value("checkpoint", json()) : json()}}
      .dump();
}

void verify_calibration(const fs::path& path) {
  for (const auto& [key, entry] : describe_calibration(path).inputs)
    if (entry.done) read_statistics(path, key, entry.sha256);
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
  if (differences.empty())
    return describe_calibration(path).missing() == 0 ? CalibrationTarget::reuse : CalibrationTarget::resume;
  if (overwrite) return CalibrationTarget::replace;
  std::string msg = "--out '" + name +
                    "' is an srr calibration file made otherwise; it was left as it is (rerun with --overwrite to "
                    "replace it, or choose another --out). Differences:";
  for (const auto& d : differences) msg += "\n  " + d;
  throw InputError(msg);
}

}  // namespace srr::store
