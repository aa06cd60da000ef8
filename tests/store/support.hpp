// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Helpers shared by the store tests: self-removing temporary directories, deterministic layer records
/// for a planned shape, and a NaN-aware bitwise comparison of records.

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "../common/temp_dir.hpp"

#include "base/rng.hpp"
#include "store/record.hpp"
#include "store/store.hpp"

namespace srr::store::test {

using srr::test::TempDir;
using srr::test::temporaries_beside;

inline std::string file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A record with random content of exactly the planned shapes (the curves shorter than their datasets, to
/// exercise the padding), as a worker would produce for layer `l`.
inline LayerRecord random_record(const StoreLayout& layout, const StoreLayer& l, std::uint64_t seed) {
  Rng rng(seed);
  LayerRecord r;
  auto& c = r.codes;
  c.settings = layout.quant;
  c.settings.width = layout.bits_of(l);
  c.in = l.in;
  c.out = l.out;
  r.bits = layout.bits_of(l);
  r.rank = layout.rank_of(l);
  const auto blocks = static_cast<std::size_t>(c.blocks_per_column() * c.out);
  const int half = (1 << (c.settings.width - 1)) - 1;
  for (index_t i = 0; i < l.in * l.out; ++i)
    c.codes.push_back(static_cast<std::int8_t>(static_cast<int>(rng.uniform() * (2 * half + 1)) - half));
  if (layout.quant.scheme == quant::Scheme::Mxint) {
    for (std::size_t i = 0; i < blocks; ++i) c.exponents.push_back(static_cast<std::uint8_t>(100 + rng.next() % 50));
  } else {
    for (std::size_t i = 0; i < blocks; ++i) {
      c.scales.push_back(static_cast<float>(0.01 + rng.uniform()));
      c.zeros.push_back(static_cast<std::uint8_t>(rng.next() % (1u << c.settings.width)));
    }
  }
  const auto rank = static_cast<std::size_t>(layout.rank_of(l));
  for (std::size_t i = 0; i < rank * static_cast<std::size_t>(l.in); ++i) r.lora_A.push_back(static_cast<float>(rng.normal()));
  for (std::size_t i = 0; i < rank * static_cast<std::size_t>(l.out); ++i) r.lora_B.push_back(static_cast<float>(rng.normal()));
  r.k_star = static_cast<std::int64_t>(rank / 2);
  for (std::int64_t i = 0; i < r.k_star; ++i) r.preserved.push_back(i);
  r.rel_error = rng.uniform();
  r.rel_error_scaled = rng.uniform();
  r.rel_error_act = std::numeric_limits<double>::quiet_NaN();  // no R_xx
  r.sw_frobenius2 = 10 * rng.uniform();
  for (std::size_t i = 0; i < rank; ++i) r.sw_singular_values.push_back(1.0 / static_cast<double>(i + 1));
  for (std::size_t i = 0; i + 1 < rank; ++i) r.probe_singular_values.push_back(rng.uniform());
  for (std::size_t i = 0; i <= rank; ++i) r.objective.push_back(rng.uniform());
  r.scored_directions = static_cast<std::int64_t>(2 * rank);
  r.scale_floored = 3;
  r.scale_condition = 12.5;
  r.scale_shrinkage = 0.25;
  r.scale_ridge = 1e-9;
  r.seconds.set(qer::Stage::Total, 1.5);
  r.seconds.set(qer::Stage::SwSvd, 0.5);
  r.seconds.set(qer::Stage::Read, 0.01);
  r.mpi_rank = 2;
  return r;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}
inline bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

/// Every field equal bit for bit (NaN equals NaN), timings and rank included.
inline void expect_same_record(const LayerRecord& a, const LayerRecord& b) {
  EXPECT_EQ(differing_fields(a, b, true), std::vector<std::string>{});
}

}  // namespace srr::store::test
