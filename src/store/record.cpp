// SPDX-License-Identifier: MIT
#include "store/record.hpp"

#include <cstring>
#include <type_traits>

#include "base/error.hpp"

namespace srr::store {

template <class T>
LayerRecord make_record(const qer::LayerResult<T>& result, const qer::ScaleReport& scale) {
  LayerRecord r;
  r.codes = result.codes;
  // L (in×r) column-major is lora_A [r][in] row-major, R (r×out) column-major is lora_B [out][r] row-major
  // (qer/layer.hpp), so both are copied element for element in storage order.
  r.lora_A.assign(result.L.data(), result.L.data() + result.L.size());
  r.lora_B.assign(result.R.data(), result.R.data() + result.R.size());
  r.k_star = result.k_star;
  r.preserved.assign(result.preserved.begin(), result.preserved.end());
  r.rel_error = result.rel_error;
  r.rel_error_scaled = result.rel_error_scaled;
  r.rel_error_act = result.rel_error_act;
  r.sw_frobenius2 = result.sw_frobenius2;
  r.sw_singular_values = result.sw_singular_values;
  r.probe_singular_values = result.probe_singular_values;
  r.objective = result.objective;
  r.oracle_errors = result.oracle_errors;
  r.scale_floored = scale.floored;
  r.scale_condition = scale.condition;
  r.scale_shrinkage = scale.shrinkage_lambda;
  r.seconds = result.seconds;
  return r;
}

template LayerRecord make_record<float>(const qer::LayerResult<float>&, const qer::ScaleReport&);
template LayerRecord make_record<double>(const qer::LayerResult<double>&, const qer::ScaleReport&);

namespace {

constexpr std::uint32_t kMagic = 0x53524c52;  // "SRLR"

class Writer {
public:
  template <class T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  template <class T>
  void put_vector(const std::vector<T>& v) {
    put<std::uint64_t>(v.size());
    const auto* p = reinterpret_cast<const std::byte*>(v.data());
    out_.insert(out_.end(), p, p + v.size() * sizeof(T));
  }
  void put_string(const std::string& s) {
    put<std::uint64_t>(s.size());
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    out_.insert(out_.end(), p, p + s.size());
  }
  std::vector<std::byte> take() { return std::move(out_); }

private:
  std::vector<std::byte> out_;
};

class Reader {
public:
  explicit Reader(std::span<const std::byte> in) : in_(in) {}
  template <class T>
  T get() {
    T v;
    std::memcpy(&v, take(sizeof(T)), sizeof(T));
    return v;
  }
  template <class T>
  std::vector<T> get_vector() {
    const auto n = get<std::uint64_t>();
    if (n > in_.size() / sizeof(T)) fail();
    std::vector<T> v(n);
    if (n) std::memcpy(v.data(), take(n * sizeof(T)), n * sizeof(T));
    return v;
  }
  std::string get_string() {
    const auto n = get<std::uint64_t>();
    if (n > in_.size()) fail();
    const std::byte* p = take(n);
    return std::string(reinterpret_cast<const char*>(p), n);
  }
  bool at_end() const { return pos_ == in_.size(); }

private:
  [[noreturn]] static void fail() { throw Error("layer record: truncated or malformed message"); }
  const std::byte* take(std::size_t n) {
    if (n > in_.size() - pos_) fail();
    const std::byte* p = in_.data() + pos_;
    pos_ += n;
    return p;
  }
  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
};

}  // namespace

std::vector<std::byte> serialize(const LayerRecord& r) {
  Writer w;
  w.put(kMagic);
  w.put<std::int32_t>(static_cast<std::int32_t>(r.codes.settings.scheme));
  w.put<std::int32_t>(r.codes.settings.width);
  w.put<std::int32_t>(r.codes.settings.block);
  w.put<std::int64_t>(r.codes.in);
  w.put<std::int64_t>(r.codes.out);
  w.put_vector(r.codes.codes);
  w.put_vector(r.codes.exponents);
  w.put_vector(r.codes.scales);
  w.put_vector(r.codes.zeros);
  w.put_vector(r.lora_A);
  w.put_vector(r.lora_B);
  w.put(r.k_star);
  w.put_vector(r.preserved);
  for (double v : {r.rel_error, r.rel_error_scaled, r.rel_error_act, r.sw_frobenius2}) w.put(v);
  w.put_vector(r.sw_singular_values);
  w.put_vector(r.probe_singular_values);
  w.put_vector(r.objective);
  w.put_vector(r.oracle_errors);
  w.put(r.scale_floored);
  w.put(r.scale_condition);
  w.put(r.scale_shrinkage);
  w.put<std::uint64_t>(r.seconds.size());
  for (const auto& [k, v] : r.seconds) {
    w.put_string(k);
    w.put(v);
  }
  w.put(r.mpi_rank);
  return w.take();
}

LayerRecord deserialize(std::span<const std::byte> bytes) {
  Reader rd(bytes);
  if (rd.get<std::uint32_t>() != kMagic) throw Error("layer record: bad magic number");
  LayerRecord r;
  r.codes.settings.scheme = static_cast<quant::Scheme>(rd.get<std::int32_t>());
  r.codes.settings.width = rd.get<std::int32_t>();
  r.codes.settings.block = rd.get<std::int32_t>();
  r.codes.in = rd.get<std::int64_t>();
  r.codes.out = rd.get<std::int64_t>();
  r.codes.codes = rd.get_vector<std::int8_t>();
  r.codes.exponents = rd.get_vector<std::uint8_t>();
  r.codes.scales = rd.get_vector<float>();
  r.codes.zeros = rd.get_vector<std::uint8_t>();
  r.lora_A = rd.get_vector<float>();
  r.lora_B = rd.get_vector<float>();
  r.k_star = rd.get<std::int64_t>();
  r.preserved = rd.get_vector<std::int64_t>();
  r.rel_error = rd.get<double>();
  r.rel_error_scaled = rd.get<double>();
  r.rel_error_act = rd.get<double>();
  r.sw_frobenius2 = rd.get<double>();
  r.sw_singular_values = rd.get_vector<double>();
  r.probe_singular_values = rd.get_vector<double>();
  r.objective = rd.get_vector<double>();
  r.oracle_errors = rd.get_vector<double>();
  r.scale_floored = rd.get<std::int64_t>();
  r.scale_condition = rd.get<double>();
  r.scale_shrinkage = rd.get<double>();
  const auto stages = rd.get<std::uint64_t>();
  if (stages > bytes.size()) throw Error("layer record: truncated or malformed message");
  for (std::uint64_t i = 0; i < stages; ++i) {
    std::string key = rd.get_string();
    r.seconds[key] = rd.get<double>();
  }
  r.mpi_rank = rd.get<std::int64_t>();
  if (!rd.at_end()) throw Error("layer record: trailing bytes");
  return r;
}

}  // namespace srr::store
