// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// A layer's result in the form the store keeps it: the encoded Q, the factors in PEFT orientation as float32,
/// and everything qer::LayerSummary reports (k*, metrics, spectra, curves, timings). It is what a worker sends
/// to the master (serialize/deserialize), what the master writes (Store::write_layer), what the store reads
/// back (Store::read_layer), and what the JSON reports print (to_json).
///
/// Every per-layer field is described once, in visit_fields(): its name (the HDF5 dataset in the layer's
/// group and the key in the JSON report), its C++ type (the member's), its shape rule, and how it is padded.
/// The wire format, the HDF5 layout, write_layer/read_layer, the JSON report and the record comparisons all
/// iterate that table; adding a metric is a member (usually of qer::LayerSummary) plus one line there.

#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "qer/layer.hpp"
#include "qer/scale.hpp"
#include "qer/timings.hpp"
#include "quant/quantizer.hpp"

namespace srr::store {

using la::index_t;

struct LayerRecord : qer::LayerSummary {
  quant::Encoded codes;            ///< Q: codes [out][in] + exponents (MXINT) or scales/zeros (INT-g)
  std::vector<float> lora_A;       ///< [r][in] row-major = L (in×r) column-major
  std::vector<float> lora_B;       ///< [out][r] row-major = R (r×out) column-major

  std::int64_t scale_floored = 0;  ///< qer::ScaleReport of the layer's input scale
  double scale_condition = 1, scale_shrinkage = 0, scale_ridge = 0;

  /// The layer's own settings: Q's bit width and the factors' rank. A uniform run gives every layer the same;
  /// a plan (srr quantize --plan) each its own. The store keeps them with the layer (its planned shape).
  std::int64_t bits = 0, rank = 0;

  std::int64_t mpi_rank = 0;  ///< the rank that computed the layer (diagnostic)
};

/// Converts a decomposition result; L and R are rounded to float32 when T is double (the store keeps the
/// factors as float32, the precision they are deployed in).
template <class T>
LayerRecord make_record(const qer::LayerResult<T>& result, const qer::ScaleReport& scale);

// ---- The field table --------------------------------------------------------------------------------------

/// A length of a per-layer dataset, in terms of the layer's shape and the run's rank.
enum class Dim {
  In,         ///< the layer's inputs
  Out,        ///< the layer's outputs
  Blocks,     ///< quantizer blocks (groups) per output column: ⌈in / block⌉
  Rank,       ///< r
  RankPlus1,  ///< r + 1 (curves over k = 0..r)
  Stages,     ///< qer::kStageCount
};

enum class Extent { Scalar, Vector, Matrix };

/// How a record's value fills its dataset.
enum class Length {
  Exact,             ///< exactly the shape
  UpToPadNaN,        ///< at most the shape; padded with NaN in the store, trailing NaNs trimmed on read
  UpToPadMinusOne,   ///< at most the shape; padded with −1 in the store, trailing −1s trimmed on read
};

/// The quantizer schemes whose layers have the field.
enum class Schemes { All, Mxint, IntGroup };

/// One row of the field table.
struct FieldSpec {
  std::string_view name;     ///< HDF5 dataset in the layer's group; key in the JSON report
  Extent extent;             ///< per-layer scalar, vector (length shape[0]) or matrix (shape[0]×shape[1], row-major)
  std::array<Dim, 2> shape;  ///< the dimensions that are used by `extent`
  Length length;
  Schemes schemes;
  bool json;      ///< part of the JSON report (everything but the matrices and the diagnostic rank)
  bool compared;  ///< part of a layer's result: equal bits for equal settings (not timings, not the rank)
  int since;      ///< the store format version that added it; older stores read it as field::missing()
};

/// The oldest store format version srr reads: every field with `since` ≤ it is in every store it reads.
inline constexpr int kOldestReadableFormat = 2;

/// Calls f(spec, member) for every per-layer field of `r` (LayerRecord or const LayerRecord), in the order
/// of the wire format, of the store's datasets and of its layer checksum. This table is the one place a
/// field is described; the member's type is the field's type (scalar, std::vector or qer::StageTimes).
template <class Record, class F>
  requires std::is_same_v<std::remove_const_t<Record>, LayerRecord>
void visit_fields(Record& r, F&& f) {
  using enum Dim;
  using enum Extent;
  using enum Length;
  using enum Schemes;
  constexpr Dim _ = In;  // unused dimension
  //  name                      extent   shape              length           schemes  json   compared since
  f(FieldSpec{"codes",                  Matrix, {Out, In},        Exact,           All,     false, true,  2}, r.codes.codes);
  f(FieldSpec{"exponents",              Matrix, {Out, Blocks},    Exact,           Mxint,   false, true,  2}, r.codes.exponents);
  f(FieldSpec{"scales",                 Matrix, {Out, Blocks},    Exact,           IntGroup, false, true, 2}, r.codes.scales);
  f(FieldSpec{"zeros",                  Matrix, {Out, Blocks},    Exact,           IntGroup, false, true, 2}, r.codes.zeros);
  f(FieldSpec{"lora_A",                 Matrix, {Rank, In},       Exact,           All,     false, true,  2}, r.lora_A);
  f(FieldSpec{"lora_B",                 Matrix, {Out, Rank},      Exact,           All,     false, true,  2}, r.lora_B);
  f(FieldSpec{"k_star",                 Scalar, {_, _},           Exact,           All,     true,  true,  2}, r.k_star);
  f(FieldSpec{"preserved",              Vector, {Rank, _},        UpToPadMinusOne, All,     true,  true,  2}, r.preserved);
  f(FieldSpec{"rel_error",              Scalar, {_, _},           Exact,           All,     true,  true,  2}, r.rel_error);
  f(FieldSpec{"rel_error_scaled",       Scalar, {_, _},           Exact,           All,     true,  true,  2}, r.rel_error_scaled);
  f(FieldSpec{"rel_error_act",          Scalar, {_, _},           Exact,           All,     true,  true,  2}, r.rel_error_act);
  f(FieldSpec{"sw_frobenius2",          Scalar, {_, _},           Exact,           All,     true,  true,  2}, r.sw_frobenius2);
  f(FieldSpec{"sw_singular_values",     Vector, {Rank, _},        UpToPadNaN,      All,     true,  true,  2}, r.sw_singular_values);
  f(FieldSpec{"probe_singular_values",  Vector, {Rank, _},        UpToPadNaN,      All,     true,  true,  2}, r.probe_singular_values);
  f(FieldSpec{"objective",              Vector, {RankPlus1, _},   UpToPadNaN,      All,     true,  true,  2}, r.objective);
  f(FieldSpec{"oracle_errors",          Vector, {RankPlus1, _},   UpToPadNaN,      All,     true,  true,  2}, r.oracle_errors);
  f(FieldSpec{"scored_directions",      Scalar, {_, _},           Exact,           All,     true,  true,  3}, r.scored_directions);
  f(FieldSpec{"scale_floored",          Scalar, {_, _},           Exact,           All,     true,  true,  2}, r.scale_floored);
  f(FieldSpec{"scale_condition",        Scalar, {_, _},           Exact,           All,     true,  true,  2}, r.scale_condition);
  f(FieldSpec{"scale_shrinkage",        Scalar, {_, _},           Exact,           All,     true,  true,  2}, r.scale_shrinkage);
  f(FieldSpec{"scale_ridge",            Scalar, {_, _},           Exact,           All,     true,  true,  3}, r.scale_ridge);
  f(FieldSpec{"bits",                   Scalar, {_, _},           Exact,           All,     true,  true,  4}, r.bits);
  f(FieldSpec{"rank",                   Scalar, {_, _},           Exact,           All,     true,  true,  4}, r.rank);
  f(FieldSpec{"seconds",                Vector, {Stages, _},      Exact,           All,     true,  false, 2}, r.seconds);
  f(FieldSpec{"mpi_rank",               Scalar, {_, _},           Exact,           All,     false, false, 2}, r.mpi_rank);
}

// ---- Generic access to a field's values (used by the consumers of the table) ------------------------------

namespace field {

template <class M> struct ElementOf { using type = M; };  // scalars
template <class T> struct ElementOf<std::vector<T>> { using type = T; };
template <> struct ElementOf<qer::StageTimes> { using type = double; };
/// The element type of a field: the scalar's type, or the vector's.
template <class M> using element_t = typename ElementOf<std::remove_const_t<M>>::type;

template <class M> inline constexpr bool is_vector = false;
template <class T> inline constexpr bool is_vector<std::vector<T>> = true;

/// A field's values as contiguous elements (a scalar is one element).
template <class M>
auto values(M& m) {
  using E = std::conditional_t<std::is_const_v<M>, const element_t<M>, element_t<M>>;
  if constexpr (std::is_same_v<std::remove_const_t<M>, qer::StageTimes>)
    return std::span<E>(m.values());
  else if constexpr (is_vector<std::remove_const_t<M>>)
    return std::span<E>(m);
  else
    return std::span<E>(&m, 1);
}

/// Sets a field from `v`; false when `v` cannot be its value (a scalar needs one element, the timings
/// one per stage).
template <class M>
bool assign(M& m, std::vector<element_t<M>> v) {
  if constexpr (is_vector<M>) {
    m = std::move(v);
    return true;
  } else {
    auto dst = values(m);
    if (v.size() != dst.size()) return false;
    std::copy(v.begin(), v.end(), dst.begin());
    return true;
  }
}

/// The value a field has when the store predates it (FieldSpec::since): NaN for floating-point scalars,
/// −1 for integer scalars, empty for vectors. "Not recorded"; to_json prints it as null.
template <class M>
M missing() {
  if constexpr (std::is_floating_point_v<M>)
    return std::numeric_limits<M>::quiet_NaN();
  else if constexpr (std::is_integral_v<M>)
    return -1;
  else
    return M{};
}

}  // namespace field

/// The shape a plan fixes for one layer: every field's length follows from it.
struct RecordShape {
  quant::QuantSettings quant;
  index_t in = 0, out = 0, rank = 0;

  std::size_t length(Dim d) const;
  /// The dataset dimensions of a field: {} for a scalar, {n} for a vector, {rows, cols} for a matrix.
  std::vector<std::size_t> dims(const FieldSpec& f) const;
  /// The number of elements of a field's dataset (1 for a scalar).
  std::size_t elements(const FieldSpec& f) const;
  /// Whether a layer of this quantizer has the field.
  bool has(const FieldSpec& f) const;
};

/// Every way `r` does not fit `shape` ("lora_A has 12 values, expected 16"); empty when it fits: the codes'
/// settings and in×out are the shape's, every field present for the scheme has its table length (at most
/// it for a padded field), fields of the other scheme are empty, and k* counts the preserved indices, which
/// are non-negative.
std::vector<std::string> shape_mismatches(const LayerRecord& r, const RecordShape& shape);

/// A self-describing little byte format for shipping one record from a worker to the master over MPI.
/// Not a file format: both ends are the same build.
std::vector<std::byte> serialize(const LayerRecord& r);
/// Throws srr::Error when the bytes are truncated or malformed: every integer is checked before it
/// becomes an enum, a size or a shape, and the result must pass shape_mismatches() for the shape its codes
/// and factors state.
LayerRecord deserialize(std::span<const std::byte> bytes);

/// The JSON report of a layer: every field the table marks `json` (NaN and missing values as null; the
/// timings as {stage: seconds} of the measured stages).
nlohmann::json to_json(const LayerRecord& r);

/// The names of the fields whose bits differ (NaN equals NaN); `all` includes the fields that are not part
/// of a result (timings, rank). The codes' settings and shape count as the field "codes".
std::vector<std::string> differing_fields(const LayerRecord& a, const LayerRecord& b, bool all);

}  // namespace srr::store
