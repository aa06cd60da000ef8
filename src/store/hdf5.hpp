// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The HDF5 layer of the store: one RAII handle for every kind of `hid_t`, one error macro, and the few
/// dataset and attribute helpers the store and the calibration file need. Everything here is serial HDF5
/// (the default sec2 driver), called by one rank at a time: the store is written by the master alone
/// (docs/store.md explains why), and the library build is not thread-safe (toolchain.md P12).

#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/files.hpp"

namespace srr::store {

namespace h5_detail {
/// Throws srr::Error naming the failed call, the HDF5 file and the innermost messages of HDF5's error stack.
[[noreturn]] void throw_h5_error(const char* call, const std::string& file, const char* where);

template <class V>
V h5_check(V value, const char* call, const std::string& file, const char* where) {
  if (value < 0) throw_h5_error(call, file, where);
  return value;
}
}  // namespace h5_detail

}  // namespace srr::store

#define SRR_H5_STRINGIFY2(x) #x
#define SRR_H5_STRINGIFY(x) SRR_H5_STRINGIFY2(x)
/// Evaluates an HDF5 call once and returns its value; a negative value (every HDF5 failure: hid_t, herr_t
/// and htri_t alike) throws srr::Error naming the call, `file` (the HDF5 file it was about) and the source
/// line. HDF5's own automatic error printing is switched off by h5_init(), so this is the only report.
#define SRR_H5_CALL(call, file) \
  ::srr::store::h5_detail::h5_check((call), #call, (file), __FILE__ ":" SRR_H5_STRINGIFY(__LINE__))

namespace srr::store {

/// Switches off HDF5's automatic error printing (errors become exceptions through SRR_H5_CALL). Idempotent.
void h5_init();

/// Owns one HDF5 identifier of any kind and closes it with the matching H5?close (found by H5Iget_type).
/// Move-only. The destructor ignores close errors (it cannot throw); call close() where a failure matters,
/// e.g. on a file, whose close flushes data.
class Hid {
public:
  Hid() = default;
  /// Takes ownership of `id` (a valid identifier, usually the checked result of an H5?create/open call).
  explicit Hid(hid_t id) : id_(id) {}
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  Hid(Hid&& other) noexcept : id_(other.id_) { other.id_ = H5I_INVALID_HID; }
  Hid& operator=(Hid&& other) noexcept;
  ~Hid() { release(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  /// Closes now; throws srr::Error (naming `file`) when HDF5 reports a failure.
  void close(const std::string& file);

private:
  void release() noexcept;
  hid_t id_ = H5I_INVALID_HID;
};

/// The HDF5 type of T in the file and in memory (little-endian standard types in the file).
template <class T> hid_t file_type();
template <class T> hid_t memory_type();

/// Creates a dataset whose storage is allocated at creation (contiguous, early allocation) so that every
/// later write is raw data only — no metadata changes after the store is created (docs/store.md).
/// `fill` = false skips writing fill values (big arrays whose every byte is written later); dims may be
/// empty (a scalar). Timestamps are off so that identical runs give identical metadata.
Hid create_dataset(hid_t loc, const std::string& name, hid_t type, const std::vector<hsize_t>& dims, bool fill,
                   const std::string& file);

/// Writes the whole dataset from `data` (which must hold exactly as many elements as the dataset).
template <class T>
void write_dataset(hid_t dset, std::span<const T> data, const std::string& file);
/// Reads the whole dataset, checking that its element count matches `expected` (unless expected < 0).
template <class T>
std::vector<T> read_dataset(hid_t dset, std::int64_t expected, const std::string& file);
/// Dimensions of an open dataset.
std::vector<hsize_t> dataset_dims(hid_t dset, const std::string& file);

/// Opens a dataset or group; missing objects throw InputError naming the file and the object path.
Hid open_dataset(hid_t loc, const std::string& name, const std::string& file);
Hid open_group(hid_t loc, const std::string& name, const std::string& file);
bool exists(hid_t loc, const std::string& name, const std::string& file);

/// UTF-8 string attributes, written fixed-length (h5py reads them as bytes: `.decode()`); reading also takes
/// the variable-length strings of files written before (h5py: str).
void write_string_attribute(hid_t obj, const std::string& name, const std::string& value, const std::string& file);
std::string read_string_attribute(hid_t obj, const std::string& name, const std::string& file);
void write_int_attribute(hid_t obj, const std::string& name, std::int64_t value, const std::string& file);
std::int64_t read_int_attribute(hid_t obj, const std::string& name, const std::string& file);
bool has_attribute(hid_t obj, const std::string& name, const std::string& file);

/// A checksum that does not match the data it covers: the data changed after srr wrote it. Bad input (exit
/// code 2) whose message names the file and the layer or input.
class ChecksumError : public InputError {
public:
  using InputError::InputError;
};

/// Runs `read`, which reads the existing HDF5 file `file`, and reports an HDF5 failure inside it as
/// InputError naming the file: a file srr only reads and HDF5 cannot read is damaged input (exit code 2),
/// not an internal error.
template <class F>
auto read_checked(const std::string& file, F&& read) -> decltype(read()) {
  try {
    return read();
  } catch (const InputError&) {
    throw;
  } catch (const Error& e) {
    throw InputError("'" + file + "' is damaged or was not written by this srr (" + e.what() + ")");
  }
}

/// Opens an existing HDF5 file (read-only or read-write). InputError, naming `what` and the path, when it
/// does not exist, when another program holds it open (HDF5's own file lock, e.g. an h5py session: "in
/// use", with the way out), or when it is not an HDF5 file. Never modifies the file.
Hid open_hdf5(const std::filesystem::path& path, bool writable, const std::string& what, hid_t fapl = H5P_DEFAULT);

/// A file-access property list for creating srr's files in the HDF5 1.8 format (libver bounds V18..V18):
/// superblock v2, version-2 object headers, and groups whose links live in the object header or in a
/// fractal heap indexed by a v2 B-tree — all of it metadata with Jenkins checksums, so a flipped byte in a
/// header, heap or B-tree node is reported as a checksum failure instead of being followed (the oldest
/// format, superblock v0 with v1 B-trees and local heaps, has no checksums, and HDF5 1.10.8 can loop for
/// minutes on a damaged v1 B-tree). Not V110: superblock v3 records "open for writing" and a file left open
/// by a killed run then opens only after `h5clear -s`, while v2 has no such flag. Every HDF5 ≥ 1.8 (h5py
/// included) reads the result. Works with the sec2 and the MPI-IO drivers alike.
Hid checksummed_file_access(const std::string& file);

/// Writes a new HDF5 file at `path` atomically: a TempFile beside it (unpredictable name, O_EXCL|O_NOFOLLOW)
/// is created as HDF5 with checksummed_file_access(), `fill(file, name)` writes its content (`name` is the
/// temporary name, for messages), then the file is closed, its disk blocks reserved and fsynced, and it is
/// renamed onto `path` as `replace` allows. The temporary file is removed when anything throws.
void write_hdf5_atomic(const std::filesystem::path& path, const std::function<void(hid_t, const std::string&)>& fill,
                       Replace replace = Replace::allowed);

}  // namespace srr::store
