// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Option values shared by the benchmarks: comma lists and truncated-SVD variants written "p:q".

#include <sstream>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "qer/svd.hpp"

namespace srr::bench {

/// "a,b,c" → {"a", "b", "c"}.
inline std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
  return out;
}

/// "p:q" → the randomized engine's settings with oversampling p and q block-Krylov iterations.
inline qer::SvdSettings svd_variant(const std::string& pq) {
  const auto colon = pq.find(':');
  require(colon != std::string::npos, "an SVD variant is written oversampling:krylov-iterations, got '", pq, "'");
  return {.oversample = std::stol(pq.substr(0, colon)), .krylov_iters = std::stoi(pq.substr(colon + 1))};
}

}  // namespace srr::bench
