// SPDX-License-Identifier: MIT
#include "store/store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <limits>
#include <set>

#include "base/sha256.hpp"

namespace srr::store {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kFormat = "srr-store";
constexpr const char* kLayers = "layers";
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string layer_path(const StoreLayer& l) { return std::string(kLayers) + "/" + l.name; }

std::string short_json(const json& j) {
  std::string s = j.dump();
  return s.size() > 200 ? s.substr(0, 200) + "…" : s;
}

json parse_or_string(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::exception&) {
    return text;
  }
}

std::string describe_checkpoint(const json& j) {
  if (!j.is_object()) return short_json(j);
  std::string files;
  if (j.contains("files") && j["files"].is_array())
    for (const auto& f : j["files"])
      files += (files.empty() ? "" : ", ") + f.value("name", std::string("?")) + " (" +
               std::to_string(f.value("bytes", std::int64_t{0})) + " bytes)";
  return j.value("path", std::string("?")) + " [" + files + ", header sha256 " +
         j.value("header_sha256", std::string("?")).substr(0, 16) + "…]";
}

/// The checksum of one layer: SHA-256 over the bytes of every dataset of the layer but `done` and
/// `sha256` itself, in the order write_layer writes them (the same order read_layer reads them).
class LayerDigest {
public:
  template <class T>
  void add(std::span<const T> values) {
    sha_.update(std::as_bytes(values));
  }
  std::vector<std::uint8_t> finish() {
    const auto d = sha_.digest();
    return {d.begin(), d.end()};
  }

private:
  Sha256 sha_;
};

template <class T>
void write_vector(hid_t group, std::string_view name, std::span<const T> v, const std::string& file,
                  LayerDigest* digest = nullptr) {
  Hid d = open_dataset(group, std::string(name), file);
  write_dataset<T>(d.get(), v, file);
  if (digest) digest->add(v);
}

template <class T>
void write_scalar(hid_t group, std::string_view name, T value, const std::string& file) {
  write_vector(group, name, std::span<const T>(&value, 1), file);
}

template <class T>
std::vector<T> read_vector(hid_t group, std::string_view name, std::int64_t n, const std::string& file,
                           LayerDigest* digest = nullptr) {
  Hid d = open_dataset(group, std::string(name), file);
  std::vector<T> v = read_dataset<T>(d.get(), n, file);
  if (digest) digest->add(std::span<const T>(v));
  return v;
}

/// A layer's planned shape, from which every field's length follows (store/record.hpp).
RecordShape shape_of(const StoreLayout& layout, const StoreLayer& l) {
  quant::QuantSettings q = layout.quant;
  q.width = layout.bits_of(l);
  return {q, l.in, l.out, layout.rank_of(l)};
}

/// One dataset of a layer group.
struct DatasetSpec {
  std::string name;
  hid_t type;
  std::vector<hsize_t> dims;
  bool fill;  ///< small datasets get fill values; the big arrays are always written whole before use
};

/// The datasets of one layer: the fields of the record's table (store/record.hpp) that this quantizer has,
/// then the layer's checksum and done mark.
std::vector<DatasetSpec> layer_datasets(const StoreLayout& layout, const StoreLayer& l) {
  const RecordShape shape = shape_of(layout, l);
  std::vector<DatasetSpec> specs;
  const LayerRecord prototype;
  visit_fields(prototype, [&](const FieldSpec& f, const auto& member) {
    if (!shape.has(f)) return;
    const auto dims = shape.dims(f);
    specs.push_back({std::string(f.name), file_type<field::element_t<std::remove_cvref_t<decltype(member)>>>(),
                     std::vector<hsize_t>(dims.begin(), dims.end()), f.extent != Extent::Matrix});
  });
  specs.push_back({"sha256", file_type<std::uint8_t>(), {32}, true});  // LayerDigest of everything above
  specs.push_back({"done", file_type<std::uint8_t>(), {}, true});  // written last, after everything above is durable
  return specs;
}

/// The value of a padded field as its dataset holds it: `v` followed by the field's padding, n in all.
template <class T>
std::vector<T> padded(std::span<const T> v, std::size_t n, Length length) {
  SRR_ASSERT(v.size() <= n);
  std::vector<T> out(n, length == Length::UpToPadNaN ? static_cast<T>(kNaN) : static_cast<T>(-1));
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}

/// The inverse of padded(): trailing padding removed.
template <class T>
void trim(std::vector<T>& v, Length length) {
  const auto is_pad = [&](T x) {
    if constexpr (std::is_floating_point_v<T>) return length == Length::UpToPadNaN && std::isnan(x);
    else return length == Length::UpToPadMinusOne && x == static_cast<T>(-1);
  };
  while (!v.empty() && is_pad(v.back())) v.pop_back();
}

Hid track_times_off(hid_t plist_class, const std::string& file) {
  Hid p(SRR_H5_CALL(H5Pcreate(plist_class), file));
  SRR_H5_CALL(H5Pset_obj_track_times(p.get(), false), file);
  return p;
}

std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

herr_t collect_name(hid_t, const char* name, const H5L_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}

std::vector<std::string> layout_differences(const StoreLayout& a, const StoreLayout& b) {
  std::vector<std::string> d;
  if (a.quant.scheme != b.quant.scheme || a.quant.block != b.quant.block) d.push_back("layout: quantizer differs");
  if (a.layers.size() != b.layers.size()) {
    d.push_back(detail::concat("layout: the store has ", a.layers.size(), " layers, this run plans ", b.layers.size()));
    return d;
  }
  for (std::size_t i = 0; i < a.layers.size(); ++i) {
    const auto &x = a.layers[i], &y = b.layers[i];
    if (x.name != y.name || x.in != y.in || x.out != y.out) {
      d.push_back(detail::concat("layout: layer ", i, " is ", x.name, " ", x.in, "×", x.out, " in the store, ", y.name,
                                 " ", y.in, "×", y.out, " in this run"));
      return d;
    }
  }
  // The settings: one line when both give every layer the same, else every layer that differs (a store made
  // with another plan, or with none).
  if (!a.per_layer() && !b.per_layer()) {
    if (a.quant.width != b.quant.width) d.push_back(detail::concat("layout: bits ", a.quant.width, " vs ", b.quant.width));
    if (a.rank != b.rank) d.push_back(detail::concat("layout: rank ", a.rank, " vs ", b.rank));
    return d;
  }
  for (std::size_t i = 0; i < a.layers.size(); ++i) {
    const auto &x = a.layers[i], &y = b.layers[i];
    if (a.bits_of(x) != b.bits_of(y) || a.rank_of(x) != b.rank_of(y))
      d.push_back(detail::concat("layer ", x.name, ": the store has ", a.bits_of(x), " bits, rank ", a.rank_of(x),
                                 "; this run has ", b.bits_of(y), " bits, rank ", b.rank_of(y)));
  }
  return d;
}

}  // namespace

void StoreLayout::canonicalize() {
  for (auto& l : layers) {
    if (l.bits == quant.width) l.bits = -1;
    if (l.rank == rank) l.rank = -1;
  }
}

bool StoreLayout::per_layer() const {
  return std::any_of(layers.begin(), layers.end(),
                     [&](const StoreLayer& l) { return bits_of(l) != quant.width || rank_of(l) != rank; });
}

std::uint64_t estimated_store_bytes(const StoreLayout& layout) {
  constexpr std::uint64_t per_dataset = 8 << 10, fixed = 1 << 20;  // object headers, links, heaps; superblock
  std::uint64_t bytes = fixed;
  for (const auto& l : layout.layers)
    for (const auto& spec : layer_datasets(layout, l)) {
      std::uint64_t n = H5Tget_size(spec.type);
      for (auto d : spec.dims) n *= d;
      bytes += n + per_dataset;
    }
  return bytes;
}

const std::vector<std::string>& timing_stages() {
  static const std::vector<std::string> stages(qer::kStageNames.begin(), qer::kStageNames.end());
  return stages;
}

std::vector<std::string> header_differences(const StoreHeader& stored, const StoreHeader& wanted) {
  std::vector<std::string> d;
  if (stored.tool_version != wanted.tool_version)
    d.push_back("tool version: the store was made by srr " + stored.tool_version + ", this is srr " +
                wanted.tool_version);
  std::set<std::string> keys;
  for (const auto& [k, v] : stored.config.items()) keys.insert(k);
  for (const auto& [k, v] : wanted.config.items()) keys.insert(k);
  for (const auto& k : keys) {
    const json a = stored.config.contains(k) ? stored.config[k] : json("(absent)");
    const json b = wanted.config.contains(k) ? wanted.config[k] : json("(absent)");
    if (a == b) continue;
    // A plan (srr quantize --plan) is named by its hash; the layers it changes are listed from the layout.
    const auto show = [&](const json& v) {
      return k == "plan" && v.is_object() ? "the plan with SHA-256 " + v.value("sha256", std::string("?")).substr(0, 16) + "…"
                                          : short_json(v);
    };
    d.push_back("config." + k + ": the store has " + show(a) + ", this run has " + show(b));
  }
  const json ca = parse_or_string(stored.checkpoint), cb = parse_or_string(wanted.checkpoint);
  const auto same_checkpoint = [&] {
    if (!ca.is_object() || !cb.is_object()) return ca == cb;
    return ca.value("files", json()) == cb.value("files", json()) &&
           ca.value("header_sha256", json()) == cb.value("header_sha256", json());
  };
  if (!same_checkpoint())
    d.push_back("checkpoint: the store was made from " + describe_checkpoint(ca) + ", this run uses " +
                describe_checkpoint(cb));
  const json ka = parse_or_string(stored.calibration), kb = parse_or_string(wanted.calibration);
  const auto content = [](const json& j) {
    return j.is_object() ? j.value("content_sha256", json()) : j;
  };
  if (content(ka) != content(kb)) {
    const auto describe = [&](const json& j) {
      return j.is_object() ? j.value("path", std::string("?")) + " (content sha256 " +
                                 j.value("content_sha256", std::string("?")).substr(0, 16) + "…)"
                           : std::string("no calibration file");
    };
    d.push_back("calibration: the store was made with " + describe(ka) + ", this run uses " + describe(kb));
  }
  return d;
}

// ---- the run lock ----------------------------------------------------------------------------------------

fs::path run_lock_path(const fs::path& store_path) {
  fs::path p = store_path;
  p += ".lock";
  return p;
}

namespace {
/// The exclusive run lock, or InputError saying who holds it.
FileLock lock_store(const fs::path& store_path) {
  const fs::path lock_path = run_lock_path(store_path);
  auto lock = FileLock::try_acquire(lock_path, LockMode::exclusive);
  if (!lock) {
    const std::string holder = FileLock::holder(lock_path);
    throw InputError(detail::concat("the store '", store_path.string(), "' is in use by another run (",
                                    holder.empty() ? "unknown process" : holder, " holds '", lock_path.string(),
                                    "'); wait for it to finish or stop it"));
  }
  lock->record_holder();
  return std::move(*lock);
}
}  // namespace

// ---- Store -----------------------------------------------------------------------------------------------

void Store::create(const fs::path& path, const StoreHeader& header, const StoreLayout& layout) {
  require_free_space(path, estimated_store_bytes(layout), "the store '" + path.string() + "'");
  write_hdf5_atomic(path, [&](hid_t root, const std::string& name) {
    write_string_attribute(root, "format", kFormat, name);
    write_int_attribute(root, "format_version", kFormatVersion, name);
    write_string_attribute(root, "tool_version", header.tool_version, name);
    write_string_attribute(root, "config", header.config.dump(), name);
    write_string_attribute(root, "checkpoint", header.checkpoint, name);
    write_string_attribute(root, "calibration", header.calibration, name);
    write_string_attribute(root, "created", utc_now(), name);
    write_string_attribute(root, "quant_scheme", quant::to_string(layout.quant.scheme), name);
    write_int_attribute(root, "bits", layout.quant.width, name);
    write_int_attribute(root, "block", layout.quant.block, name);
    write_int_attribute(root, "rank", layout.rank, name);
    write_int_attribute(root, "layer_count", static_cast<std::int64_t>(layout.layers.size()), name);
    write_string_attribute(root, "timing_stages", json(timing_stages()).dump(), name);

    const Hid gcpl = track_times_off(H5P_GROUP_CREATE, name);
    Hid layers(SRR_H5_CALL(H5Gcreate2(root, kLayers, H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), name));
    for (std::size_t i = 0; i < layout.layers.size(); ++i) {
      const auto& l = layout.layers[i];
      require(!l.name.empty() && l.name.find('/') == std::string::npos, "store: bad layer name '", l.name, "'");
      Hid g(SRR_H5_CALL(H5Gcreate2(layers.get(), l.name.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), name));
      write_int_attribute(g.get(), "index", static_cast<std::int64_t>(i), name);
      write_int_attribute(g.get(), "in", l.in, name);
      write_int_attribute(g.get(), "out", l.out, name);
      for (const auto& spec : layer_datasets(layout, l)) create_dataset(g.get(), spec.name, spec.type, spec.dims, spec.fill, name);
      // The layer's settings fields hold its planned shape from the start: the layout is read back from them.
      write_scalar<std::int64_t>(g.get(), "bits", layout.bits_of(l), name);
      write_scalar<std::int64_t>(g.get(), "rank", layout.rank_of(l), name);
    }
    layers.close(name);
  }, Replace::never);
}

Store Store::open(const fs::path& path, bool writable) {
  Store s;
  s.path_ = path;
  s.name_ = path.string();
  s.writable_ = writable;
  s.file_ = open_hdf5(path, writable, "store");
  read_checked(s.name_, [&] { s.read_header(); });
  return s;
}

void Store::read_header() {
  const std::string& name = name_;
  const hid_t root = file_.get();
  require(has_attribute(root, "format", name) && read_string_attribute(root, "format", name) == kFormat, "'", name,
          "' is an HDF5 file but not an srr store; it was left as it is");
  const auto version = read_int_attribute(root, "format_version", name);
  require(version >= kOldestReadableFormat && version <= kFormatVersion, "'", name, "' has store format version ",
          version, ", this srr reads versions ", kOldestReadableFormat, " to ", kFormatVersion,
          version < kOldestReadableFormat ? " (layer checksums came with version 2): quantize into a new store"
                                          : " (made by a newer srr)");
  format_version_ = version;
  header_.tool_version = read_string_attribute(root, "tool_version", name);
  try {
    header_.config = json::parse(read_string_attribute(root, "config", name));
  } catch (const json::exception& e) {
    throw InputError("'" + name + "': the config attribute is not JSON: " + e.what());
  }
  header_.checkpoint = read_string_attribute(root, "checkpoint", name);
  header_.calibration = read_string_attribute(root, "calibration", name);
  layout_.quant.scheme = quant::scheme_from_string(read_string_attribute(root, "quant_scheme", name));
  layout_.quant.width = static_cast<int>(read_int_attribute(root, "bits", name));
  layout_.quant.block = static_cast<int>(read_int_attribute(root, "block", name));
  quant::validate(layout_.quant);
  layout_.rank = read_int_attribute(root, "rank", name);
  const auto count = read_int_attribute(root, "layer_count", name);
  require(layout_.rank >= 0 && count >= 0, "'", name, "': bad rank ", layout_.rank, " or layer count ", count);

  Hid layers = open_group(root, kLayers, name);
  std::vector<std::string> names;
  hsize_t idx = 0;
  SRR_H5_CALL(H5Literate(layers.get(), H5_INDEX_NAME, H5_ITER_NATIVE, &idx, collect_name, &names), name);
  require(static_cast<std::int64_t>(names.size()) == count, "'", name, "': ", names.size(), " layer groups, expected ",
          count);
  layout_.layers.resize(names.size());
  std::vector<bool> seen(names.size(), false);
  for (const auto& n : names) {
    Hid g = open_group(layers.get(), n, name);
    const auto i = read_int_attribute(g.get(), "index", name);
    require(i >= 0 && i < count && !seen[static_cast<std::size_t>(i)], "'", name, "': layer ", n, " has a bad index ", i);
    seen[static_cast<std::size_t>(i)] = true;
    StoreLayer l{n, read_int_attribute(g.get(), "in", name), read_int_attribute(g.get(), "out", name)};
    require(l.in > 0 && l.out > 0, "'", name, "': layer ", n, " has a bad shape ", l.in, "×", l.out);
    if (version >= 4) {  // older stores: every layer has the root's bits and rank
      l.bits = static_cast<int>(read_vector<std::int64_t>(g.get(), "bits", 1, name).front());
      l.rank = read_vector<std::int64_t>(g.get(), "rank", 1, name).front();
      require(l.bits >= 2 && l.bits <= 8 && l.rank >= 0 && l.rank < std::min(l.in, l.out), "'", name, "': layer ", n,
              " has bits ", l.bits, ", rank ", l.rank);
    }
    layout_.layers[static_cast<std::size_t>(i)] = l;
  }
  layout_.canonicalize();
}

namespace {
/// Refuses a store path that cannot name a store file, before anything is created beside it.
void require_store_path(const fs::path& path) {
  const std::string name = path.string();
  require(!name.empty() && path.has_filename(), "--out must name the store file, got '", name, "'");
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::error_code ec;
  require(fs::is_directory(dir, ec), "--out '", name, "': the directory '", dir.string(),
          "' does not exist (srr does not create it)");
  const auto status = fs::symlink_status(path, ec);
  require(!fs::is_symlink(status), "--out '", name, "' is a symbolic link; srr never writes through one");
  require(!fs::exists(status) || fs::is_regular_file(status), "--out '", name, "' exists and is ",
          fs::is_directory(status) ? "a directory" : "not a regular file", "; choose another store path");
}
}  // namespace

void Store::require_same_run(const fs::path& path, const StoreHeader& header, const StoreLayout& layout) {
  // A read-only open: a refused store is never opened for writing.
  const Store existing = open(path, false);
  auto diffs = header_differences(existing.header(), header);
  if (existing.format_version() != kFormatVersion)
    diffs.push_back(detail::concat("format version: the store has ", existing.format_version(), ", this srr writes ",
                                   kFormatVersion, " (it reads the store, for export and eval, but cannot add layers to it)"));
  // Equal headers imply equal layouts, but another plan (or none) is best told by the layers it changes.
  const bool plan_differs = existing.header().config.value("plan", json()) != header.config.value("plan", json());
  if (diffs.empty() || plan_differs)
    for (auto& l : layout_differences(existing.layout(), layout)) diffs.push_back(std::move(l));
  if (!diffs.empty()) {
    std::string msg = "the store '" + path.string() +
                      "' was made by a different run and was left as it is; remove it, choose another store "
                      "path, or rerun with the same settings. Differences:";
    for (const auto& d : diffs) msg += "\n  " + d;
    throw InputError(msg);
  }
}

Store Store::open_for_run(const fs::path& path, const StoreHeader& header, const StoreLayout& layout) {
  h5_init();
  require_store_path(path);
  // Checked before the lock too, so that refusing a foreign file leaves no `<file>.lock` beside it.
  if (fs::exists(fs::symlink_status(path))) require_same_run(path, header, layout);
  FileLock lock = lock_store(path);
  remove_stale_temporaries(path);  // of runs killed while creating it: only runs holding this lock make them
  if (!fs::exists(fs::symlink_status(path)))
    create(path, header, layout);
  else
    require_same_run(path, header, layout);  // again: another run may have made it meanwhile
  Store s = open(path, true);
  s.lock_.emplace(std::move(lock));
  return s;
}

Store Store::open_read_only(const fs::path& path) { return open(path, false); }

std::size_t Store::index_of(const std::string& name) const {
  for (std::size_t i = 0; i < layout_.layers.size(); ++i)
    if (layout_.layers[i].name == name) return i;
  throw InputError("'" + name_ + "' has no layer '" + name + "'");
}

std::vector<bool> Store::done() const {
  return read_checked(name_, [&] { return done_marks(); });
}

std::vector<bool> Store::done_marks() const {
  std::vector<bool> marks;
  marks.reserve(layout_.layers.size());
  for (const auto& l : layout_.layers) {
    Hid g = open_group(file_.get(), layer_path(l), name_);
    marks.push_back(read_vector<std::uint8_t>(g.get(), "done", 1, name_).front() == 1);
  }
  return marks;
}

void Store::make_durable() {
  SRR_H5_CALL(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), name_);
  void* handle = nullptr;
  SRR_H5_CALL(H5Fget_vfd_handle(file_.get(), H5P_DEFAULT, &handle), name_);
  sync_descriptor(*static_cast<int*>(handle), name_);
}

void Store::write_layer(std::size_t index, const LayerRecord& r) {
  SRR_ASSERT(writable_ && index < layout_.layers.size());
  const auto& l = layout_.layers[index];
  const RecordShape shape = shape_of(layout_, l);
  if (const auto problems = shape_mismatches(r, shape); !problems.empty())
    throw Error(detail::concat("store '", name_, "': the result for ", l.name, " does not match the planned shapes (",
                               l.in, "×", l.out, ", rank ", shape.rank, ", ", quant::to_string(layout_.quant.scheme),
                               "): ", problems.front()));

  Hid g = open_group(file_.get(), layer_path(l), name_);
  LayerDigest digest;
  visit_fields(r, [&](const FieldSpec& f, const auto& member) {
    if (!shape.has(f)) return;
    const auto values = field::values(member);
    using T = std::remove_const_t<typename decltype(values)::element_type>;
    if (f.length == Length::Exact)
      write_vector(g.get(), f.name, std::span<const T>(values), name_, &digest);
    else
      write_vector(g.get(), f.name, std::span<const T>(padded<T>(values, shape.elements(f), f.length)), name_, &digest);
  });
  write_vector(g.get(), "sha256", std::span<const std::uint8_t>(digest.finish()), name_);
  // The data must be on disk before the mark that declares it complete, and the mark before we move on.
  make_durable();
  write_scalar(g.get(), "done", std::uint8_t{1}, name_);
  make_durable();
}

LayerRecord Store::read_layer(std::size_t index) const {
  return read_checked(name_, [&] { return read_layer_unchecked(index); });
}

LayerRecord Store::read_layer_unchecked(std::size_t index) const {
  SRR_ASSERT(index < layout_.layers.size());
  const auto& l = layout_.layers[index];
  const RecordShape shape = shape_of(layout_, l);
  Hid g = open_group(file_.get(), layer_path(l), name_);
  LayerDigest digest;
  LayerRecord r;
  r.codes.settings = shape.quant;
  r.codes.in = l.in;
  r.codes.out = l.out;
  r.bits = shape.quant.width;  // what a store older than these fields planned for every layer
  r.rank = shape.rank;
  visit_fields(r, [&](const FieldSpec& f, auto& member) {
    using M = std::remove_reference_t<decltype(member)>;
    if (!shape.has(f)) return;
    if (f.since > format_version_) {
      if (f.name != "bits" && f.name != "rank") member = field::missing<M>();  // those two the layout knows
      return;
    }
    auto v = read_vector<field::element_t<M>>(g.get(), f.name, static_cast<std::int64_t>(shape.elements(f)), name_,
                                             &digest);
    if (f.length != Length::Exact) trim(v, f.length);
    require(field::assign(member, std::move(v)), "'", name_, "': ", l.name, "/", f.name, " has the wrong size");
  });
  if (read_vector<std::uint8_t>(g.get(), "sha256", 32, name_) != digest.finish())
    throw ChecksumError("'" + name_ + "': layer " + l.name +
                        " does not match its checksum (its data changed after it was written: a damaged disk, or "
                        "an edit); a resumed run recomputes it");
  const auto problems = shape_mismatches(r, shape);
  require(problems.empty(), "'", name_, "': layer ", l.name, ": ", problems.empty() ? "" : problems.front());
  return r;
}

void Store::mark_not_done(std::size_t index) {
  SRR_ASSERT(writable_ && index < layout_.layers.size());
  Hid g = open_group(file_.get(), layer_path(layout_.layers[index]), name_);
  write_scalar(g.get(), "done", std::uint8_t{0}, name_);
  make_durable();
}

void Store::close() {
  file_.close(name_);
  lock_.reset();
}

}  // namespace srr::store
