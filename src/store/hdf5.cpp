// SPDX-License-Identifier: MIT
#include "store/hdf5.hpp"

#include <algorithm>
#include <mutex>

namespace srr::store {

namespace h5_detail {

namespace {
/// Collects the innermost few messages of the default error stack (the most specific ones come first).
herr_t collect_message(unsigned n, const H5E_error2_t* err, void* data) {
  auto* text = static_cast<std::string*>(data);
  if (n >= 3) return 0;
  if (!text->empty()) *text += "; ";
  *text += std::string(err->func_name ? err->func_name : "?") + ": " + (err->desc ? err->desc : "?");
  return 0;
}
}  // namespace

void throw_h5_error(const char* call, const std::string& file, const char* where) {
  std::string stack;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect_message, &stack);
  H5Eclear2(H5E_DEFAULT);
  throw Error(detail::concat("HDF5 call ", call, " failed on '", file, "'", stack.empty() ? "" : ": ", stack, " (at ",
                     where, ")"));
}

}  // namespace h5_detail

void h5_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    H5open();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  });
}

Hid& Hid::operator=(Hid&& other) noexcept {
  if (this != &other) {
    release();
    id_ = other.id_;
    other.id_ = H5I_INVALID_HID;
  }
  return *this;
}

namespace {
herr_t close_by_type(hid_t id) {
  switch (H5Iget_type(id)) {
    case H5I_FILE: return H5Fclose(id);
    case H5I_GROUP: return H5Gclose(id);
    case H5I_DATATYPE: return H5Tclose(id);
    case H5I_DATASPACE: return H5Sclose(id);
    case H5I_DATASET: return H5Dclose(id);
    case H5I_ATTR: return H5Aclose(id);
    case H5I_GENPROP_LST: return H5Pclose(id);
    default: return H5Idec_ref(id);
  }
}
}  // namespace

void Hid::release() noexcept {
  if (id_ >= 0) close_by_type(id_);
  id_ = H5I_INVALID_HID;
}

void Hid::close(const std::string& file) {
  if (id_ < 0) return;
  const hid_t id = id_;
  id_ = H5I_INVALID_HID;
  SRR_H5_CALL(close_by_type(id), file);
}

template <> hid_t file_type<std::int8_t>() { return H5T_STD_I8LE; }
template <> hid_t file_type<std::uint8_t>() { return H5T_STD_U8LE; }
template <> hid_t file_type<std::int64_t>() { return H5T_STD_I64LE; }
template <> hid_t file_type<float>() { return H5T_IEEE_F32LE; }
template <> hid_t file_type<double>() { return H5T_IEEE_F64LE; }
template <> hid_t memory_type<std::int8_t>() { return H5T_NATIVE_INT8; }
template <> hid_t memory_type<std::uint8_t>() { return H5T_NATIVE_UINT8; }
template <> hid_t memory_type<std::int64_t>() { return H5T_NATIVE_INT64; }
template <> hid_t memory_type<float>() { return H5T_NATIVE_FLOAT; }
template <> hid_t memory_type<double>() { return H5T_NATIVE_DOUBLE; }

Hid create_dataset(hid_t loc, const std::string& name, hid_t type, const std::vector<hsize_t>& dims, bool fill,
                   const std::string& file) {
  Hid space(dims.empty() ? SRR_H5_CALL(H5Screate(H5S_SCALAR), file)
                         : SRR_H5_CALL(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), file));
  Hid dcpl(SRR_H5_CALL(H5Pcreate(H5P_DATASET_CREATE), file));
  SRR_H5_CALL(H5Pset_layout(dcpl.get(), H5D_CONTIGUOUS), file);
  SRR_H5_CALL(H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY), file);
  SRR_H5_CALL(H5Pset_fill_time(dcpl.get(), fill ? H5D_FILL_TIME_ALLOC : H5D_FILL_TIME_NEVER), file);
  SRR_H5_CALL(H5Pset_obj_track_times(dcpl.get(), false), file);
  return Hid(SRR_H5_CALL(H5Dcreate2(loc, name.c_str(), type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                         file));
}

namespace {
hssize_t element_count(hid_t dset, const std::string& file) {
  Hid space(SRR_H5_CALL(H5Dget_space(dset), file));
  return SRR_H5_CALL(H5Sget_simple_extent_npoints(space.get()), file);
}

std::string object_name(hid_t obj) {
  const ssize_t n = H5Iget_name(obj, nullptr, 0);
  if (n <= 0) return "?";
  std::string name(static_cast<std::size_t>(n) + 1, '\0');
  H5Iget_name(obj, name.data(), name.size());
  name.resize(static_cast<std::size_t>(n));
  return name;
}
}  // namespace

template <class T>
void write_dataset(hid_t dset, std::span<const T> data, const std::string& file) {
  const hssize_t n = element_count(dset, file);
  if (static_cast<std::size_t>(n) != data.size())
    throw Error(detail::concat("store: dataset ", object_name(dset), " in '", file, "' holds ", n, " elements, got ",
                       data.size()));
  if (n == 0) return;
  SRR_H5_CALL(H5Dwrite(dset, memory_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()), file);
}

template <class T>
std::vector<T> read_dataset(hid_t dset, std::int64_t expected, const std::string& file) {
  const hssize_t n = element_count(dset, file);
  if (expected >= 0 && n != expected)
    throw InputError(detail::concat("'", file, "': dataset ", object_name(dset), " has ", n, " elements, expected ",
                            expected));
  std::vector<T> out(static_cast<std::size_t>(n));
  if (n > 0) SRR_H5_CALL(H5Dread(dset, memory_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), file);
  return out;
}

#define SRR_H5_INSTANTIATE(T)                                                                    \
  template void write_dataset<T>(hid_t, std::span<const T>, const std::string&);                 \
  template std::vector<T> read_dataset<T>(hid_t, std::int64_t, const std::string&);
SRR_H5_INSTANTIATE(std::int8_t)
SRR_H5_INSTANTIATE(std::uint8_t)
SRR_H5_INSTANTIATE(std::int64_t)
SRR_H5_INSTANTIATE(float)
SRR_H5_INSTANTIATE(double)
#undef SRR_H5_INSTANTIATE

std::vector<hsize_t> dataset_dims(hid_t dset, const std::string& file) {
  Hid space(SRR_H5_CALL(H5Dget_space(dset), file));
  const int rank = SRR_H5_CALL(H5Sget_simple_extent_ndims(space.get()), file);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank > 0) SRR_H5_CALL(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), file);
  return dims;
}

bool exists(hid_t loc, const std::string& name, const std::string& file) {
  // H5Lexists fails (rather than answering false) when an intermediate group is missing, so walk the path.
  std::size_t pos = 0;
  while (true) {
    const std::size_t slash = name.find('/', pos);
    const std::string prefix = name.substr(0, slash);
    if (SRR_H5_CALL(H5Lexists(loc, prefix.c_str(), H5P_DEFAULT), file) <= 0) return false;
    if (slash == std::string::npos) return true;
    pos = slash + 1;
  }
}

Hid open_dataset(hid_t loc, const std::string& name, const std::string& file) {
  require(exists(loc, name, file), "'", file, "': no dataset '", name, "'");
  return Hid(SRR_H5_CALL(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), file));
}

Hid open_group(hid_t loc, const std::string& name, const std::string& file) {
  require(exists(loc, name, file), "'", file, "': no group '", name, "'");
  return Hid(SRR_H5_CALL(H5Gopen2(loc, name.c_str(), H5P_DEFAULT), file));
}

namespace {
/// InputError unless the attribute holds exactly one element (a damaged dataspace could say millions, and
/// H5Aread would write them all into room for one).
void require_single_value(hid_t attr, const std::string& name, hid_t obj, const std::string& file) {
  Hid space(SRR_H5_CALL(H5Aget_space(attr), file));
  require(SRR_H5_CALL(H5Sget_simple_extent_npoints(space.get()), file) == 1, "'", file, "': attribute '", name,
          "' of ", object_name(obj), " does not hold a single value");
}

/// A fixed-length UTF-8 string type of `size` bytes (at least 1: HDF5 has no empty fixed string), NUL-padded.
Hid fixed_string_type(std::size_t size, const std::string& file) {
  Hid type(SRR_H5_CALL(H5Tcopy(H5T_C_S1), file));
  SRR_H5_CALL(H5Tset_size(type.get(), std::max<std::size_t>(size, 1)), file);
  SRR_H5_CALL(H5Tset_cset(type.get(), H5T_CSET_UTF8), file);
  SRR_H5_CALL(H5Tset_strpad(type.get(), H5T_STR_NULLPAD), file);
  return type;
}
}  // namespace

void write_string_attribute(hid_t obj, const std::string& name, const std::string& value, const std::string& file) {
  // Fixed length, not variable length: a variable-length string lives in the file's global heap, which has
  // no checksum in any HDF5 format, and HDF5 1.10.8 copies a damaged heap object's length unchecked (a
  // crash on bit rot). A fixed-length value sits in the attribute message itself, inside the checksummed
  // object header (checksummed_file_access), or in the checksummed dense attribute storage past 64 KiB.
  const Hid type = fixed_string_type(value.size(), file);
  Hid space(SRR_H5_CALL(H5Screate(H5S_SCALAR), file));
  Hid attr(SRR_H5_CALL(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), file));
  std::string padded = value;
  padded.resize(std::max<std::size_t>(value.size(), 1), '\0');
  SRR_H5_CALL(H5Awrite(attr.get(), type.get(), padded.data()), file);
}

bool has_attribute(hid_t obj, const std::string& name, const std::string& file) {
  return SRR_H5_CALL(H5Aexists(obj, name.c_str()), file) > 0;
}

std::string read_string_attribute(hid_t obj, const std::string& name, const std::string& file) {
  require(has_attribute(obj, name, file), "'", file, "': ", object_name(obj), " has no attribute '", name, "'");
  Hid attr(SRR_H5_CALL(H5Aopen(obj, name.c_str(), H5P_DEFAULT), file));
  Hid stored(SRR_H5_CALL(H5Aget_type(attr.get()), file));
  require(H5Tget_class(stored.get()) == H5T_STRING, "'", file, "': attribute '", name, "' of ", object_name(obj),
          " is not a string");
  require_single_value(attr.get(), name, obj, file);  // H5Aread writes every element into one value
  if (SRR_H5_CALL(H5Tis_variable_str(stored.get()), file) > 0) {  // files of srr before fixed-length strings
    Hid type(SRR_H5_CALL(H5Tcopy(H5T_C_S1), file));
    SRR_H5_CALL(H5Tset_size(type.get(), H5T_VARIABLE), file);
    SRR_H5_CALL(H5Tset_cset(type.get(), H5T_CSET_UTF8), file);
    char* text = nullptr;
    SRR_H5_CALL(H5Aread(attr.get(), type.get(), &text), file);
    std::string value = text ? text : "";
    H5free_memory(text);
    return value;
  }
  const std::size_t size = H5Tget_size(stored.get());
  require(size > 0, "'", file, "': attribute '", name, "' of ", object_name(obj), " has no size");
  const Hid type = fixed_string_type(size, file);
  std::string value(size, '\0');
  SRR_H5_CALL(H5Aread(attr.get(), type.get(), value.data()), file);
  value.resize(std::min(value.find('\0'), value.size()));  // NUL padding (and NUL termination) dropped
  return value;
}

void write_int_attribute(hid_t obj, const std::string& name, std::int64_t value, const std::string& file) {
  Hid space(SRR_H5_CALL(H5Screate(H5S_SCALAR), file));
  Hid attr(SRR_H5_CALL(H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), file));
  SRR_H5_CALL(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), file);
}

std::int64_t read_int_attribute(hid_t obj, const std::string& name, const std::string& file) {
  require(has_attribute(obj, name, file), "'", file, "': ", object_name(obj), " has no attribute '", name, "'");
  Hid attr(SRR_H5_CALL(H5Aopen(obj, name.c_str(), H5P_DEFAULT), file));
  require_single_value(attr.get(), name, obj, file);  // H5Aread writes every element into `value`
  std::int64_t value = 0;
  SRR_H5_CALL(H5Aread(attr.get(), H5T_NATIVE_INT64, &value), file);
  return value;
}

Hid open_hdf5(const std::filesystem::path& path, bool writable, const std::string& what, hid_t fapl) {
  h5_init();
  const std::string name = path.string();
  std::error_code ec;
  require(std::filesystem::exists(path, ec), "no ", what, " at '", name, "'");
  require(!std::filesystem::is_directory(path, ec), "the ", what, " '", name, "' is a directory");
  const hid_t id = H5Fopen(name.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl);
  if (id >= 0) return Hid(id);
  std::string stack;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* data) -> herr_t {
        if (e->desc) *static_cast<std::string*>(data) += std::string(e->desc) + "; ";
        return 0;
      },
      &stack);
  H5Eclear2(H5E_DEFAULT);
  if (stack.find("unable to lock file") != std::string::npos || stack.find("lock the file") != std::string::npos)
    throw InputError("the " + what + " '" + name +
                     "' is in use: another program has it open through HDF5 (h5py, HDFView, another srr), which "
                     "locks it; close it there and rerun. The file is fine and was left as it is");
  const std::size_t first = stack.find("; ");
  throw InputError("the " + what + " '" + name + "' cannot be opened as an HDF5 file" +
                   (first == std::string::npos ? "" : " (" + stack.substr(0, first) + ")") +
                   "; it was left as it is");
}

Hid checksummed_file_access(const std::string& file) {
  Hid fapl(SRR_H5_CALL(H5Pcreate(H5P_FILE_ACCESS), file));
  SRR_H5_CALL(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_V18), file);
  return fapl;
}

void write_hdf5_atomic(const std::filesystem::path& path, const std::function<void(hid_t, const std::string&)>& fill,
                       Replace replace) {
  h5_init();
  TempFile tmp(path);
  const std::string name = tmp.path().string();
  {
    const Hid fapl = checksummed_file_access(name);
    Hid file(H5Fcreate(name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()));
    if (!file.valid()) {
      H5Eclear2(H5E_DEFAULT);
      throw InputError("cannot create the HDF5 file '" + name + "' (is the directory writable?)");
    }
    fill(file.get(), name);
    file.close(name);
  }
  tmp.reserve();  // the temporary's descriptor is the same inode HDF5 wrote through its own
  tmp.publish(replace);
}

}  // namespace srr::store
