// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// A layer's result in the form the store keeps it: the encoded Q, the factors in PEFT orientation as float32,
/// k*, metrics, spectra, curves and timings. It is what a worker sends to the master (serialize/deserialize)
/// and what the master writes; the store reads the same struct back.

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "qer/layer.hpp"
#include "qer/scale.hpp"
#include "quant/quantizer.hpp"

namespace srr::store {

using la::index_t;

struct LayerRecord {
  quant::Encoded codes;            ///< Q: codes [out][in] + exponents (MXINT) or scales/zeros (INT-g)
  std::vector<float> lora_A;       ///< [r][in] row-major = L (in×r) column-major
  std::vector<float> lora_B;       ///< [out][r] row-major = R (r×out) column-major
  std::int64_t k_star = 0;
  std::vector<std::int64_t> preserved;  ///< k* indices among SW's singular directions

  double rel_error = 0, rel_error_scaled = 0, rel_error_act = 0, sw_frobenius2 = 0;
  std::vector<double> sw_singular_values;     ///< ≤ r
  std::vector<double> probe_singular_values;  ///< ≤ r (criterion rule only)
  std::vector<double> objective;              ///< ≤ r + 1 (criterion rule only)
  std::vector<double> oracle_errors;          ///< ≤ r + 1 (oracle rule only)

  std::int64_t scale_floored = 0;  ///< qer::ScaleReport of the layer's input scale
  double scale_condition = 1, scale_shrinkage = 0;

  std::map<std::string, double> seconds;  ///< stage → wall seconds (not deterministic; not compared)
  std::int64_t mpi_rank = 0;              ///< the rank that computed the layer (diagnostic)
};

/// Converts a decomposition result; L and R are rounded to float32 when T is double (the store keeps the
/// factors as float32, the precision they are deployed in).
template <class T>
LayerRecord make_record(const qer::LayerResult<T>& result, const qer::ScaleReport& scale);

/// A self-describing little byte format for shipping one record from a worker to the master over MPI.
/// Not a file format: both ends are the same build.
std::vector<std::byte> serialize(const LayerRecord& r);
/// Throws srr::Error when the bytes are truncated or malformed.
LayerRecord deserialize(std::span<const std::byte> bytes);

}  // namespace srr::store
