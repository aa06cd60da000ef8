// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Boost.Log set-up: rank-tagged records on stderr, optionally one file per rank.

#include <string>

#include "pipeline/log.hpp"  // SRR_LOG

namespace srr::app {

struct LogSettings {
  std::string level = "info";  ///< trace|debug|info|warning|error
  std::string file;            ///< per-rank log file pattern; "%r" is replaced by the rank ("" = none)
  int rank = 0;
  bool all_ranks_to_stderr = false;  ///< by default only rank 0 writes to stderr
};

/// Installs the sinks. Records look like `[2026-11-23 19:40:01.123] [rank 0] [info] message`.
void init_logging(const LogSettings& s);

}  // namespace srr::app
