// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Option values shared by the benchmarks: comma lists and truncated-SVD variants written "p:q".

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "qer/svd.hpp"

namespace srr::bench {

/// --help or -h anywhere on the command line: prints `usage` and exits 0 (before anything is measured).
inline void print_usage_if_asked(int argc, char** argv, const char* usage) {
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::fputs(usage, stdout);
      std::exit(0);
    }
}

/// An option the bench does not know: named, exit code 2. A typo must not start a long run on defaults.
[[noreturn]] inline void unknown_option(const char* bench, const std::string& option) {
  std::fprintf(stderr, "%s: unknown option '%s' (--help lists them)\n", bench, option.c_str());
  std::exit(2);
}

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
