// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// How the data-parallel loops (calibration, evaluation) share their items over a communicator.

#include <cstddef>

#include "parallel/mpi.hpp"

namespace srr::pipeline {

/// Calls f(i) for the items of this rank: i = rank, rank + np, … below n. Local.
template <class F>
void for_my_share(std::size_t n, const parallel::Communicator& comm, F&& f) {
  for (auto i = static_cast<std::size_t>(comm.rank()); i < n; i += static_cast<std::size_t>(comm.size())) f(i);
}

}  // namespace srr::pipeline
