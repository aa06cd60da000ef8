// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// safetensors reading (memory-mapped, fully validated: these headers come from untrusted files) and
/// writing (streamed through a temporary file that is renamed into place, so a reader never sees half a
/// file).
///
/// Format: an 8-byte little-endian header length n, n bytes of JSON mapping each tensor name to
/// {dtype, shape, data_offsets: [begin, end]} (offsets relative to the data section that starts at 8 + n),
/// plus an optional "__metadata__" object of strings.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/files.hpp"
#include "model/dtype.hpp"
#include "base/mapped_file.hpp"

namespace srr::model {

/// Largest accepted JSON header (the format's own reference implementation uses the same bound).
inline constexpr std::uint64_t k_max_safetensors_header = 100'000'000;

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::uint64_t count = 0;  ///< product of shape
  std::uint64_t begin = 0;  ///< byte offsets relative to the data section
  std::uint64_t end = 0;
};

struct SafetensorsHeader {
  std::uint64_t data_start = 0;  ///< 8 + JSON length: where the data section begins in the file
  std::map<std::string, TensorEntry> tensors;
  std::map<std::string, std::string> metadata;

  const TensorEntry* find(const std::string& name) const;
};

/// Parses and validates the header of a whole safetensors file held in memory: bounded header length,
/// well-formed JSON without duplicated keys, known dtypes, non-negative shapes whose byte size matches the
/// offsets without overflow, every tensor inside the data section and no two tensors overlapping. Any
/// violation is an InputError naming `source` (and the tensor). This is also the fuzzing entry point.
SafetensorsHeader parse_safetensors(std::span<const std::byte> file, const std::string& source);

/// A mapped, validated safetensors file.
class SafetensorsFile {
public:
  explicit SafetensorsFile(const std::filesystem::path& path);

  const SafetensorsHeader& header() const { return header_; }
  const std::filesystem::path& path() const { return map_.path(); }
  std::uint64_t file_size() const { return map_.size(); }
  /// The length prefix and JSON, i.e. everything before the data section.
  std::span<const std::byte> header_bytes() const { return map_.bytes().first(header_.data_start); }
  /// The raw little-endian bytes of one tensor.
  std::span<const std::byte> tensor_bytes(const TensorEntry& t) const;
  /// Converted to float32 (exact for F32/F16/BF16); InputError when the name is unknown.
  std::vector<float> read_f32(const std::string& name) const;

private:
  MappedFile map_;
  SafetensorsHeader header_;
};

/// One tensor to write: its values are given as float32 and converted to `dtype` (F32, F16 or BF16,
/// narrowing with round-to-nearest-even).
struct TensorSpec {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
};

/// Streams a safetensors file whose tensors are written one after another in the order given, so that a
/// multi-GB checkpoint never has to be in memory at once. The file appears under its final name only at
/// commit(); a writer destroyed before commit() removes its temporary file.
class SafetensorsWriter {
public:
  SafetensorsWriter(const std::filesystem::path& path, std::vector<TensorSpec> tensors,
                    const std::map<std::string, std::string>& metadata = {});
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;
  ~SafetensorsWriter();

  /// Appends the next values, in tensor order; a call may end inside a tensor or cross into the next.
  void append(std::span<const float> values);
  /// Checks that every element was written, flushes to disk and renames the file into place.
  void commit();

private:
  void write_bytes(const std::byte* p, std::size_t n);
  std::optional<TempFile> file_;  ///< the file being written, beside the target (base/files.hpp)
  std::vector<TensorSpec> tensors_;
  std::vector<std::uint64_t> counts_;
  std::size_t current_ = 0;          ///< tensor being filled
  std::uint64_t written_in_current_ = 0;
  bool committed_ = false;
  std::vector<std::byte> buffer_;
};

/// A tensor with its data, for the one-call writer.
struct TensorData {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::span<const float> data;
};

/// Writes a whole safetensors file (temporary file, then rename).
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorData>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace srr::model
