// SPDX-License-Identifier: MIT
#pragma once
// Shared helpers of the MPI tests: the grid shapes every distributed kernel is tested on, deterministic
// matrices every rank can rebuild, and float64 comparisons.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "../common/matrices.hpp"
#include "parallel/grid.hpp"
#include "la/lapack.hpp"

namespace srr::parallel::test {

using la::index_t;
using la::Matrix;

/// A grid on world ranks [first, first + count), rows×cols (0×0 = automatic).
struct GridCase {
  std::string name;
  int first = 0, count = 1, rows = 0, cols = 0;
};

/// 1×1 (np 1); 1×2, 2×1 and a 1×1 grid that leaves rank 0 out (np 2); a 1×2 and a 2×1 grid on a
/// sub-communicator of ranks 1–2 that leaves rank 0 — the master — out, and a 3×1 grid (np 3).
inline std::vector<GridCase> grid_cases(int world_size) {
  switch (world_size) {
    case 1: return {{"1x1", 0, 1, 1, 1}};
    case 2: return {{"1x2", 0, 2, 1, 2}, {"2x1", 0, 2, 2, 1}, {"sub{1}-1x1", 1, 1, 1, 1}};
    case 3:
      return {{"sub{1,2}-1x2", 1, 2, 1, 2}, {"sub{1,2}-2x1", 1, 2, 2, 1}, {"3x1", 0, 3, 3, 1},
              {"auto", 0, 3, 0, 0}};
    default: return {{"auto", 0, world_size, 0, 0}};
  }
}

/// Runs fn(grid) on the members of every grid case; the other ranks wait asleep at a world barrier.
/// Collective over MPI_COMM_WORLD.
template <class F>
void for_each_grid(F&& fn) {
  const auto world = Communicator::world();
  const int rank = world.rank();
  for (const auto& c : grid_cases(world.size())) {
    const bool member = rank >= c.first && rank < c.first + c.count;
    const Communicator sub = world.split(member ? 0 : -1, rank);
    if (member) {
      SCOPED_TRACE("grid " + c.name);
      const ProcessGrid grid(sub, c.rows, c.cols);
      fn(grid);
    }
    world.barrier(Wait::Poll);
  }
}

using srr::test::gaussian;
using srr::test::rel_diff;

/// U·diag(s)·Vt in double: the object that is unique even when singular vectors are not (signs).
template <class T>
Matrix<double> usv(const Matrix<T>& U, const std::vector<double>& s, const Matrix<T>& Vt) {
  Matrix<double> US = U.template cast<double>();
  for (index_t j = 0; j < US.cols(); ++j)
    for (index_t i = 0; i < US.rows(); ++i) US(i, j) *= s[static_cast<std::size_t>(j)];
  return la::matmul(US, Vt.template cast<double>());
}

}  // namespace srr::parallel::test
