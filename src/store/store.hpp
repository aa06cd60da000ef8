// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The crash-safe HDF5 store of one `srr quantize` run (schema and argument in docs/store.md).
///
/// Life of a store: the master (rank 0) takes the run lock `<store>.lock` (exclusive, srr::FileLock); if the
/// store does not exist it is created whole — every group and dataset with its final shape and storage
/// allocated — under an unpredictable temporary name and renamed into place, so a store either exists complete or not at all. From then on only raw data
/// is written: a layer's arrays, then a flush and fsync, then its `done` mark, then a flush and fsync again.
/// A killed run therefore leaves every layer either done (all data on disk) or not done (rewritten by the
/// next run), and a rerun skips the done ones.
///
/// Nothing here is collective: the store is written by one process (the master; workers ship their results
/// to it), so the file uses HDF5's serial driver even in an MPI run.

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/file_lock.hpp"
#include "quant/quantizer.hpp"
#include "store/hdf5.hpp"
#include "store/record.hpp"

namespace srr::store {

/// Version of the schema in docs/store.md (root attribute `format_version`): the one srr writes. Stores back
/// to kOldestReadableFormat (store/record.hpp) are read, the fields they predate as not recorded; only a store
/// of this version can be continued by a run.
inline constexpr std::int64_t kFormatVersion = 4;

/// Stages whose wall time is stored per layer, in the order of the `seconds` dataset.
const std::vector<std::string>& timing_stages();

/// What a store was made from. A run may continue a store only when all of it agrees.
struct StoreHeader {
  std::string tool_version;
  nlohmann::json config;    ///< the full effective configuration (every setting that changes a result)
  std::string checkpoint;   ///< model::Checkpoint::identity()
  std::string calibration;  ///< store::calibration_identity(), or "null" when no calibration file is used
};

/// Each difference between the header of an existing store and a run's, as one readable line
/// ("config.bits: the store has 3, this run has 4"). Checkpoints are compared by their files and header
/// hash, calibration files by their content hash; paths alone may differ.
std::vector<std::string> header_differences(const StoreHeader& stored, const StoreHeader& wanted);

/// One planned layer.
struct StoreLayer {
  std::string name;  ///< canonical HF name without ".weight"
  index_t in = 0, out = 0;
  /// The layer's own bit width and rank (a plan, srr quantize --plan, sets them per layer); −1: the layout's
  /// (StoreLayout::canonicalize).
  /// Kept in the layer's `bits` and `rank` fields (store/record.hpp), written when the store is created.
  int bits = -1;
  index_t rank = -1;
  bool operator==(const StoreLayer&) const = default;
};

/// The shapes the plan fixes: every dataset's size follows from these.
struct StoreLayout {
  quant::QuantSettings quant;
  /// r of lora_A/lora_B (0 for weight-only runs) and quant.width: every layer's unless it has its own (then
  /// the largest of the layers').
  index_t rank = 0;
  std::vector<StoreLayer> layers;
  int bits_of(const StoreLayer& l) const { return l.bits >= 0 ? l.bits : quant.width; }
  index_t rank_of(const StoreLayer& l) const { return l.rank >= 0 ? l.rank : rank; }
  /// Some layer's bits or rank differ from the layout's (a store made with a plan that varies them).
  bool per_layer() const;
  /// The one form of a layout (so that == compares meaning): a layer's bits and rank are −1 where they are
  /// the layout's.
  void canonicalize();
};

/// A bound on the bytes of a store with this layout (data exactly, metadata generously), checked against
/// the free disk space before the store is created.
std::uint64_t estimated_store_bytes(const StoreLayout& layout);

/// The lock file of a store's runs: `<store>.lock`.
std::filesystem::path run_lock_path(const std::filesystem::path& store_path);

class Store {
public:
  /// Opens `path` for a run, creating it when absent (call on one process only; not collective). The path
  /// is checked first (a file name in an existing directory, no symbolic link, no directory), and an
  /// existing file must be a store with the same header and layout (otherwise InputError lists every
  /// difference) before the run lock `<path>.lock` is created, so refusing a foreign file leaves nothing
  /// beside it; then the lock is taken (kept until close()) and the check repeated. On any refusal the
  /// existing file is only ever read.
  static Store open_for_run(const std::filesystem::path& path, const StoreHeader& header, const StoreLayout& layout);
  /// Opens an existing store read-only and without the lock (inspection, comparison, export).
  static Store open_read_only(const std::filesystem::path& path);

  Store(Store&&) noexcept = default;
  Store& operator=(Store&&) noexcept = default;
  ~Store() = default;

  const std::filesystem::path& path() const { return path_; }
  const StoreHeader& header() const { return header_; }
  const StoreLayout& layout() const { return layout_; }
  /// The file's format version (kOldestReadableFormat … kFormatVersion).
  std::int64_t format_version() const { return format_version_; }
  /// The index of a layer by name; InputError when the store has no such layer.
  std::size_t index_of(const std::string& name) const;

  /// The done marks of every layer, in layout order.
  std::vector<bool> done() const;
  /// Writes one layer's arrays, makes them durable, then sets its done mark (and makes that durable).
  /// Throws srr::Error (naming the file) on any I/O failure; the layer then simply stays not done.
  void write_layer(std::size_t index, const LayerRecord& record);
  /// Reads a layer back (padding removed): byte-identical to what write_layer was given, timings aside
  /// for stages outside timing_stages(). ChecksumError naming the layer when its data no longer matches
  /// the checksum written with it; InputError naming the file when HDF5 cannot read it.
  LayerRecord read_layer(std::size_t index) const;
  /// Clears a done mark (durably), so that the layer is computed again: for a layer that failed its
  /// checksum on resume.
  void mark_not_done(std::size_t index);

  /// Closes the file (flushing it) and releases the lock; throws on failure. The destructor does the same
  /// but swallows errors.
  void close();

private:
  Store() = default;
  static void create(const std::filesystem::path& path, const StoreHeader& header, const StoreLayout& layout);
  static Store open(const std::filesystem::path& path, bool writable);
  static void require_same_run(const std::filesystem::path& path, const StoreHeader& header,
                               const StoreLayout& layout);
  void read_header();
  std::vector<bool> done_marks() const;
  LayerRecord read_layer_unchecked(std::size_t index) const;
  void make_durable();

  std::filesystem::path path_;
  std::string name_;  ///< path as text, for messages
  StoreHeader header_;
  StoreLayout layout_;
  std::optional<FileLock> lock_;  // declared before file_: members die in reverse order, so the file closes first
  Hid file_;
  bool writable_ = false;
  std::int64_t format_version_ = kFormatVersion;  ///< of the file: fields newer than it read as missing
};

}  // namespace srr::store
