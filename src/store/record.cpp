// SPDX-License-Identifier: MIT
#include "store/record.hpp"

#include <cmath>
#include <cstring>
#include <limits>

#include "base/error.hpp"

namespace srr::store {

template <class T>
LayerRecord make_record(const qer::LayerResult<T>& result, const qer::ScaleReport& scale) {
  LayerRecord r;
  static_cast<qer::LayerSummary&>(r) = result;
  r.codes = result.codes;
  // L (in×r) column-major is lora_A [r][in] row-major, R (r×out) column-major is lora_B [out][r] row-major
  // (qer/layer.hpp), so both are copied element for element in storage order.
  r.lora_A.assign(result.L.data(), result.L.data() + result.L.size());
  r.lora_B.assign(result.R.data(), result.R.data() + result.R.size());
  r.scale_floored = scale.floored;
  r.scale_condition = scale.condition;
  r.scale_shrinkage = scale.shrinkage_lambda;
  r.scale_ridge = scale.ridge;
  r.bits = result.codes.settings.width;
  r.rank = result.L.cols();
  return r;
}

template LayerRecord make_record<float>(const qer::LayerResult<float>&, const qer::ScaleReport&);
template LayerRecord make_record<double>(const qer::LayerResult<double>&, const qer::ScaleReport&);

// ---- Shapes ---------------------------------------------------------------------------------------------

std::size_t RecordShape::length(Dim d) const {
  switch (d) {
    case Dim::In: return static_cast<std::size_t>(in);
    case Dim::Out: return static_cast<std::size_t>(out);
    case Dim::Blocks: return static_cast<std::size_t>((in + quant.block - 1) / quant.block);
    case Dim::Rank: return static_cast<std::size_t>(rank);
    case Dim::RankPlus1: return static_cast<std::size_t>(rank + 1);
    case Dim::Stages: return qer::kStageCount;
  }
  SRR_ASSERT(false);
  return 0;
}

std::vector<std::size_t> RecordShape::dims(const FieldSpec& f) const {
  switch (f.extent) {
    case Extent::Scalar: return {};
    case Extent::Vector: return {length(f.shape[0])};
    case Extent::Matrix: return {length(f.shape[0]), length(f.shape[1])};
  }
  SRR_ASSERT(false);
  return {};
}

std::size_t RecordShape::elements(const FieldSpec& f) const {
  std::size_t n = 1;
  for (auto d : dims(f)) n *= d;
  return n;
}

bool RecordShape::has(const FieldSpec& f) const {
  return f.schemes == Schemes::All || (f.schemes == Schemes::Mxint) == (quant.scheme == quant::Scheme::Mxint);
}

std::vector<std::string> shape_mismatches(const LayerRecord& r, const RecordShape& shape) {
  std::vector<std::string> problems;
  const auto& c = r.codes;
  if (c.settings.scheme != shape.quant.scheme || c.settings.width != shape.quant.width ||
      c.settings.block != shape.quant.block)
    problems.push_back("the codes are " + quant::to_string(c.settings.scheme) + " " +
                       std::to_string(c.settings.width) + " bits, block " + std::to_string(c.settings.block));
  if (c.in != shape.in || c.out != shape.out)
    problems.push_back(detail::concat("the codes are ", c.in, "×", c.out));
  visit_fields(r, [&](const FieldSpec& f, const auto& member) {
    const std::size_t n = field::values(member).size(), want = shape.has(f) ? shape.elements(f) : 0;
    const bool fits = f.length == Length::Exact || !shape.has(f) ? n == want : n <= want;
    if (!fits)
      problems.push_back(detail::concat(f.name, " has ", n, " values, expected ",
                                        f.length == Length::Exact ? "" : "at most ", want));
  });
  if (r.bits != c.settings.width || r.rank != shape.rank)
    problems.push_back(detail::concat("the record says ", r.bits, " bits, rank ", r.rank, "; planned ", c.settings.width,
                                      " bits, rank ", shape.rank));
  if (r.k_star != static_cast<std::int64_t>(r.preserved.size()))
    problems.push_back(detail::concat("k_star is ", r.k_star, " but ", r.preserved.size(), " directions are preserved"));
  for (auto i : r.preserved)
    if (i < 0) problems.push_back(detail::concat("a preserved index is ", i));
  return problems;
}

// ---- Wire format ----------------------------------------------------------------------------------------

namespace {

constexpr std::uint32_t kMagic = 0x53524c52;  // "SRLR"
/// A bound on in and out of a message, so that in·out and every length derived from them stays far from
/// overflowing (no layer comes near 2³¹ inputs or outputs).
constexpr std::int64_t kMaxDim = std::int64_t{1} << 31;

[[noreturn]] void malformed(const std::string& why) { throw Error("layer record: malformed message: " + why); }

class Writer {
public:
  template <class T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  template <class T>
  void put_values(std::span<const T> v) {
    put<std::uint64_t>(v.size());
    const auto bytes = std::as_bytes(v);
    out_.insert(out_.end(), bytes.begin(), bytes.end());
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
  std::vector<T> get_values() {
    const auto n = get<std::uint64_t>();
    if (n > (in_.size() - pos_) / sizeof(T)) truncated();
    std::vector<T> v(n);
    if (n) std::memcpy(v.data(), take(n * sizeof(T)), n * sizeof(T));
    return v;
  }
  bool at_end() const { return pos_ == in_.size(); }

private:
  [[noreturn]] static void truncated() { throw Error("layer record: truncated or malformed message"); }
  const std::byte* take(std::size_t n) {
    if (n > in_.size() - pos_) truncated();
    const std::byte* p = in_.data() + pos_;
    pos_ += n;
    return p;
  }
  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
};

/// The quantizer settings of a message, each integer checked before it becomes an enum or a size.
quant::QuantSettings read_settings(Reader& rd) {
  const auto scheme = rd.get<std::int32_t>();
  if (scheme != static_cast<std::int32_t>(quant::Scheme::Mxint) &&
      scheme != static_cast<std::int32_t>(quant::Scheme::IntGroup))
    malformed(detail::concat("unknown quantizer scheme ", scheme));
  quant::QuantSettings s;
  s.scheme = static_cast<quant::Scheme>(scheme);
  s.width = rd.get<std::int32_t>();
  s.block = rd.get<std::int32_t>();
  try {
    quant::validate(s);
  } catch (const Error& e) {
    malformed(e.what());
  }
  return s;
}

}  // namespace

std::vector<std::byte> serialize(const LayerRecord& r) {
  Writer w;
  w.put(kMagic);
  w.put<std::int32_t>(static_cast<std::int32_t>(r.codes.settings.scheme));
  w.put<std::int32_t>(r.codes.settings.width);
  w.put<std::int32_t>(r.codes.settings.block);
  w.put<std::int64_t>(r.codes.in);
  w.put<std::int64_t>(r.codes.out);
  visit_fields(r, [&](const FieldSpec&, const auto& member) { w.put_values(field::values(member)); });
  return w.take();
}

LayerRecord deserialize(std::span<const std::byte> bytes) {
  Reader rd(bytes);
  if (rd.get<std::uint32_t>() != kMagic) throw Error("layer record: bad magic number");
  LayerRecord r;
  r.codes.settings = read_settings(rd);
  r.codes.in = rd.get<std::int64_t>();
  r.codes.out = rd.get<std::int64_t>();
  if (r.codes.in <= 0 || r.codes.in >= kMaxDim || r.codes.out <= 0 || r.codes.out >= kMaxDim)
    malformed(detail::concat("a layer of ", r.codes.in, "×", r.codes.out));
  visit_fields(r, [&](const FieldSpec& f, auto& member) {
    using E = field::element_t<std::remove_reference_t<decltype(member)>>;
    if (!field::assign(member, rd.get_values<E>())) malformed(detail::concat(f.name, " has the wrong length"));
  });
  if (!rd.at_end()) throw Error("layer record: trailing bytes");
  if (r.lora_A.size() % static_cast<std::size_t>(r.codes.in) != 0)
    malformed(detail::concat("lora_A has ", r.lora_A.size(), " values for ", r.codes.in, " inputs"));
  const RecordShape shape{r.codes.settings, r.codes.in, r.codes.out,
                          static_cast<index_t>(r.lora_A.size() / static_cast<std::size_t>(r.codes.in))};
  if (const auto problems = shape_mismatches(r, shape); !problems.empty()) malformed(problems.front());
  return r;
}

// ---- JSON and comparison --------------------------------------------------------------------------------

namespace {
/// JSON has no NaN: unknown metrics become null.
template <class T>
nlohmann::json number(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
  else return nlohmann::json(v);
}
}  // namespace

nlohmann::json to_json(const LayerRecord& r) {
  nlohmann::json j = nlohmann::json::object();
  visit_fields(r, [&](const FieldSpec& f, const auto& member) {
    using M = std::remove_cvref_t<decltype(member)>;
    if (!f.json) return;
    auto& out = j[std::string(f.name)];
    if constexpr (std::is_same_v<M, qer::StageTimes>) {
      out = nlohmann::json::object();
      member.for_each_measured([&](std::string_view stage, double v) { out[std::string(stage)] = v; });
    } else if constexpr (field::is_vector<M>) {
      out = nlohmann::json::array();
      for (const auto& v : member) out.push_back(number(v));
    } else if constexpr (std::is_integral_v<M>) {
      out = f.since > kOldestReadableFormat && member == field::missing<M>() ? nlohmann::json(nullptr) : nlohmann::json(member);
    } else {
      out = number(member);
    }
  });
  return j;
}

std::vector<std::string> differing_fields(const LayerRecord& a, const LayerRecord& b, bool all) {
  std::vector<std::string> d;
  const auto& ca = a.codes.settings;
  const auto& cb = b.codes.settings;
  const bool same_codes_shape = ca.scheme == cb.scheme && ca.width == cb.width && ca.block == cb.block &&
                                a.codes.in == b.codes.in && a.codes.out == b.codes.out;
  // Walks both records' tables side by side: the same table, so the same fields in the same order.
  std::vector<std::span<const std::byte>> bytes_b;
  visit_fields(b, [&](const FieldSpec&, const auto& m) { bytes_b.push_back(std::as_bytes(field::values(m))); });
  std::size_t i = 0;
  visit_fields(a, [&](const FieldSpec& f, const auto& m) {
    const auto x = std::as_bytes(field::values(m)), y = bytes_b[i++];
    const bool same = x.size() == y.size() && (x.empty() || std::memcmp(x.data(), y.data(), x.size()) == 0) &&
                      (f.name != "codes" || same_codes_shape);
    if (!same && (all || f.compared)) d.emplace_back(f.name);
  });
  return d;
}

}  // namespace srr::store
