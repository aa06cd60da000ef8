// SPDX-License-Identifier: MIT
#include "model/safetensors.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>

#include "base/error.hpp"
#include "model/checked.hpp"
#include "model/json_input.hpp"

namespace srr::model {

using nlohmann::json;
using detail::checked_add;
using detail::checked_mul;

const TensorEntry* SafetensorsHeader::find(const std::string& name) const {
  auto it = tensors.find(name);
  return it == tensors.end() ? nullptr : &it->second;
}

namespace {

std::uint64_t read_u64_le(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}

/// A non-negative JSON integer that fits int64 (shape dimensions and offsets).
std::uint64_t non_negative(const json& v, const std::string& what, const std::string& source) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return u;
  } else if (v.is_number_integer() && v.get<std::int64_t>() >= 0) {
    return static_cast<std::uint64_t>(v.get<std::int64_t>());
  }
  throw InputError(source + ": " + what + " must be a non-negative integer, got " + v.dump());
}

TensorEntry parse_entry(const std::string& name, const json& v, std::uint64_t data_size,
                        const std::string& source) {
  const std::string where = source + ": tensor \"" + name + "\"";
  if (!v.is_object()) throw InputError(where + " must be described by a JSON object");
  TensorEntry t;
  t.name = name;

  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) throw InputError(where + " has no dtype string");
  if (!parse_dtype(dt->get_ref<const std::string&>(), t.dtype))
    throw InputError(where + " has dtype " + dt->dump() + "; only F32, F16 and BF16 are supported");

  auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array()) throw InputError(where + " has no shape array");
  t.count = 1;
  for (const auto& d : *sh) {
    const std::uint64_t n = non_negative(d, "tensor \"" + name + "\" shape entry", source);
    t.shape.push_back(static_cast<std::int64_t>(n));
    t.count = checked_mul(t.count, n, "tensor \"" + name + "\" element count", source);
  }
  const std::uint64_t bytes = checked_mul(t.count, dtype_size(t.dtype), "tensor \"" + name + "\" byte size",
                                          source);

  auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2)
    throw InputError(where + " needs data_offsets [begin, end]");
  t.begin = non_negative((*off)[0], "tensor \"" + name + "\" data_offsets begin", source);
  t.end = non_negative((*off)[1], "tensor \"" + name + "\" data_offsets end", source);
  if (t.begin > t.end)
    throw InputError(where + " has data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                     "] with begin > end");
  if (t.end > data_size)
    throw InputError(where + " ends at byte " + std::to_string(t.end) + " of the data section, which has only " +
                     std::to_string(data_size) + " bytes");
  if (t.end - t.begin != bytes)
    throw InputError(where + " has " + std::to_string(t.end - t.begin) + " data bytes but its shape and dtype " +
                     std::string(dtype_name(t.dtype)) + " need " + std::to_string(bytes));
  return t;
}

}  // namespace

SafetensorsHeader parse_safetensors(std::span<const std::byte> file, const std::string& source) {
  if (file.size() < 8)
    throw InputError(source + ": " + std::to_string(file.size()) +
                     " bytes is too short for a safetensors file (8-byte header length missing)");
  const std::uint64_t n = read_u64_le(file.data());
  if (n > k_max_safetensors_header)
    throw InputError(source + ": header length " + std::to_string(n) + " exceeds the limit of " +
                     std::to_string(k_max_safetensors_header) + " bytes");
  if (n > file.size() - 8)
    throw InputError(source + ": header length " + std::to_string(n) + " runs past the end of the " +
                     std::to_string(file.size()) + "-byte file");
  const std::string_view text(reinterpret_cast<const char*>(file.data() + 8), n);
  const json j = parse_json_input(text, source);
  if (!j.is_object()) throw InputError(source + ": the safetensors header must be a JSON object");

  SafetensorsHeader h;
  h.data_start = 8 + n;
  const std::uint64_t data_size = file.size() - h.data_start;
  for (const auto& [name, v] : j.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) throw InputError(source + ": __metadata__ must be an object of strings");
      for (const auto& [k, s] : v.items()) {
        if (!s.is_string()) throw InputError(source + ": __metadata__ \"" + k + "\" is not a string");
        h.metadata.emplace(k, s.get<std::string>());
      }
      continue;
    }
    h.tensors.emplace(name, parse_entry(name, v, data_size, source));
  }

  // No two tensors may share bytes: sort by begin and compare neighbours (empty tensors own no bytes).
  std::vector<const TensorEntry*> by_offset;
  for (const auto& [name, t] : h.tensors)
    if (t.end > t.begin) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorEntry* a, const TensorEntry* b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i]->begin < by_offset[i - 1]->end)
      throw InputError(source + ": tensors \"" + by_offset[i - 1]->name + "\" and \"" + by_offset[i]->name +
                       "\" overlap in the data section");
  return h;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path)
    : map_(path), header_(parse_safetensors(map_.bytes(), path.string())) {}

std::span<const std::byte> SafetensorsFile::tensor_bytes(const TensorEntry& t) const {
  return map_.bytes().subspan(header_.data_start + t.begin, t.end - t.begin);
}

std::vector<float> SafetensorsFile::read_f32(const std::string& name) const {
  const TensorEntry* t = header_.find(name);
  if (t == nullptr) throw InputError(path().string() + " has no tensor \"" + name + "\"");
  std::vector<float> out(t->count);
  convert_to_f32(tensor_bytes(*t).data(), t->dtype, out);
  return out;
}

// ---- writer ----

namespace {

/// The header JSON padded with spaces so that the data section starts 8-byte aligned (as the reference
/// implementation does, which lets readers map F32 data in place).
std::string header_text(const std::vector<TensorSpec>& tensors, const std::vector<std::uint64_t>& counts,
                        const std::map<std::string, std::string>& metadata) {
  json j = json::object();
  if (!metadata.empty()) j["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    const std::uint64_t bytes = counts[i] * dtype_size(t.dtype);
    j[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = j.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace

SafetensorsWriter::SafetensorsWriter(const std::filesystem::path& path, std::vector<TensorSpec> tensors,
                                     const std::map<std::string, std::string>& metadata)
    : tensors_(std::move(tensors)) {
  const std::string source = path.string();
  std::set<std::string> names;
  for (const auto& t : tensors_) {
    require(!t.name.empty() && t.name != "__metadata__", source, ": invalid tensor name \"", t.name, "\"");
    require(names.insert(t.name).second, source, ": tensor \"", t.name, "\" given twice");
    std::uint64_t count = 1;
    for (std::int64_t d : t.shape) {
      require(d >= 0, source, ": tensor \"", t.name, "\" has a negative dimension ", d);
      count = checked_mul(count, static_cast<std::uint64_t>(d), "tensor \"" + t.name + "\" size", source);
    }
    checked_mul(count, dtype_size(t.dtype), "tensor \"" + t.name + "\" byte size", source);
    counts_.push_back(count);
  }
  const std::string header = header_text(tensors_, counts_, metadata);

  file_.emplace(path);
  std::byte len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<std::byte>(static_cast<std::uint64_t>(header.size()) >> (8 * i));
  write_bytes(len, 8);
  write_bytes(reinterpret_cast<const std::byte*>(header.data()), header.size());
  while (current_ < tensors_.size() && counts_[current_] == 0) ++current_;
}

SafetensorsWriter::~SafetensorsWriter() = default;  // an unpublished TempFile removes itself

void SafetensorsWriter::write_bytes(const std::byte* p, std::size_t n) {
  file_->write(std::string_view(reinterpret_cast<const char*>(p), n));
}

void SafetensorsWriter::append(std::span<const float> values) {
  SRR_ASSERT(!committed_);
  constexpr std::size_t chunk = 1 << 18;
  while (!values.empty()) {
    SRR_ASSERT(current_ < tensors_.size());  // more values than the tensors hold
    const TensorSpec& t = tensors_[current_];
    const std::size_t take = static_cast<std::size_t>(
        std::min<std::uint64_t>({values.size(), counts_[current_] - written_in_current_, chunk}));
    buffer_.resize(take * dtype_size(t.dtype));
    convert_from_f32(values.first(take), t.dtype, buffer_.data());
    write_bytes(buffer_.data(), buffer_.size());
    values = values.subspan(take);
    written_in_current_ += take;
    if (written_in_current_ == counts_[current_]) {
      written_in_current_ = 0;
      ++current_;
      while (current_ < tensors_.size() && counts_[current_] == 0) ++current_;
    }
  }
}

void SafetensorsWriter::commit() {
  SRR_ASSERT(!committed_);
  SRR_ASSERT(current_ == tensors_.size());  // every element must have been appended
  file_->publish();
  committed_ = true;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorData>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<TensorSpec> specs;
  for (const auto& t : tensors) specs.push_back({t.name, t.dtype, t.shape});
  SafetensorsWriter w(path, std::move(specs), metadata);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    std::uint64_t count = 1;
    for (auto d : tensors[i].shape) count *= static_cast<std::uint64_t>(d);  // checked by the writer
    require(tensors[i].data.size() == count, path.string(), ": tensor \"", tensors[i].name, "\" has ",
            tensors[i].data.size(), " values for a shape of ", count, " elements");
    w.append(tensors[i].data);
  }
  w.commit();
}

}  // namespace srr::model
