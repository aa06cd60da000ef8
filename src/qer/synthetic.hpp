// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Deterministic synthetic layers and calibration statistics, for `srr layer --synthetic`, tests and
/// benchmarks. Shaped like real ones: a weight is an i.i.d. bulk (entries N(0, 1/in), like an initialised
/// layer after training noise) plus a power-law spectrum of spikes; activations have log-normal channel
/// scales, a few outlier channels, and correlated directions — so every scale differs from the identity.

#include <cstdint>

#include "la/matrix.hpp"
#include "qer/statistics.hpp"

namespace srr::qer {

struct SyntheticWeightSpec {
  index_t in = 256, out = 256;
  double decay = 1.0;        ///< spike i has singular value spike_scale·(i+1)^(−decay)
  double spike_scale = 8.0;  ///< relative to the bulk's largest singular value (≈ 1 + sqrt(out/in))
  index_t spikes = 0;        ///< 0 = min(in, out)/4
  std::uint64_t seed = 1;
};

/// A weight in paper orientation (in×out).
Matrix<float> synthetic_weight(const SyntheticWeightSpec& spec);

struct SyntheticStatsSpec {
  index_t dim = 256;
  index_t tokens = 0;      ///< 0 = 4·dim
  index_t window = 128;    ///< tokens per window for LQER's running max of means
  index_t outliers = 4;    ///< channels with 20× larger activations
  index_t dead = 0;        ///< channels that are always zero
  bool with_xtx = true;
  /// false: statistics are the exact expectations of the activation model times `tokens` (no sampling;
  /// O(m²·8) instead of O(m²·tokens), for benchmarks at LLaMA-7B sizes).
  bool sampled = true;
  std::uint64_t seed = 2;
};

InputStatistics synthetic_statistics(const SyntheticStatsSpec& spec);

}  // namespace srr::qer
