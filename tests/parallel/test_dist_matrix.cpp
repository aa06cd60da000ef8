// SPDX-License-Identifier: MIT
// Block-cyclic layout: index maps against numroc, scatter/gather round trips from any root, block copies.
#include <gtest/gtest.h>

#include "parallel/dist_matrix.hpp"
#include "helpers.hpp"

using namespace srr;
using namespace srr::parallel;
using namespace srr::parallel::test;

TEST(DistMatrix, IndexMapsCoverTheMatrixOnce) {
  for_each_grid([&](const ProcessGrid& grid) {
    for (index_t nb : {1, 3, 64}) {
      const index_t m = 23, n = 17;
      DistMatrix<double> A(grid, m, n, nb);
      EXPECT_EQ(A.lld(), std::max<index_t>(1, A.local_rows()));
      for (index_t li = 0; li < A.local_rows(); ++li) {
        const index_t i = A.global_row(li);
        EXPECT_LT(i, m);
        EXPECT_EQ(A.owner_row(i), grid.row());
        EXPECT_EQ(A.local_row(i), li);
      }
      for (index_t lj = 0; lj < A.local_cols(); ++lj) {
        const index_t j = A.global_col(lj);
        EXPECT_LT(j, n);
        EXPECT_EQ(A.owner_col(j), grid.col());
        EXPECT_EQ(A.local_col(j), lj);
      }
      const auto total = grid.communicator().allreduce_value(A.local_rows() * A.local_cols(), ReduceOp::Sum);
      EXPECT_EQ(total, m * n) << "nb " << nb;
    }
  });
}

TEST(DistMatrix, ScatterGatherRoundTripFromAnyRoot) {
  const auto A = gaussian(29, 31, 5);
  for_each_grid([&](const ProcessGrid& grid) {
    for (int root : {0, grid.size() - 1}) {
      DistMatrix<double> Ad(grid, 29, 31, 4);
      Ad.scatter_from(grid.rank() == root ? A : Matrix<double>(), root);
      // Every local element is where the index maps say (every rank can rebuild A here).
      int misplaced = 0;
      for (index_t lj = 0; lj < Ad.local_cols(); ++lj)
        for (index_t li = 0; li < Ad.local_rows(); ++li)
          misplaced += Ad.local(li, lj) != A(Ad.global_row(li), Ad.global_col(lj));
      EXPECT_EQ(misplaced, 0) << "root " << root;
      const int back_to = (root + 1) % grid.size();
      const auto B = Ad.gather_to(back_to);
      if (grid.rank() == back_to) {
        EXPECT_EQ(rel_diff(B, A), 0.0);
      } else {
        EXPECT_TRUE(B.empty());
      }
    }
  });
}

TEST(DistMatrix, FloatRoundTripAndEmptyShapes) {
  const auto A = gaussian(9, 13, 6).cast<float>();
  for_each_grid([&](const ProcessGrid& grid) {
    DistMatrix<float> Ad(grid, 9, 13, 2);
    Ad.scatter_from(A);
    const auto B = Ad.gather_to(0);
    if (grid.rank() == 0) {
      EXPECT_EQ(rel_diff(B, A), 0.0);
    }
    DistMatrix<float> E(grid, 0, 5, 2);
    E.scatter_from(Matrix<float>(0, 5));
    const auto Eg = E.gather_to(0);
    if (grid.rank() == 0) {
      EXPECT_EQ(Eg.rows(), 0);
    }
  });
}

TEST(DistMatrix, CopyMovesABlockBetweenLayouts) {
  const auto A = gaussian(20, 12, 7);
  for_each_grid([&](const ProcessGrid& grid) {
    DistMatrix<double> Ad(grid, 20, 12, 3), Bd(grid, 20, 30, 5);
    Ad.scatter_from(A);
    copy(Ad, 2, 1, 15, 10, Bd, 4, 17);  // B(4:19, 17:27) = A(2:17, 1:11)
    const auto B = Bd.gather_to(0);
    if (grid.rank() == 0) {
      double err = 0, outside = 0;
      for (index_t j = 0; j < 30; ++j)
        for (index_t i = 0; i < 20; ++i) {
          const bool in = i >= 4 && i < 19 && j >= 17 && j < 27;
          if (in) {
            err += std::abs(B(i, j) - A(i - 2, j - 16));
          } else {
            outside += std::abs(B(i, j));
          }
        }
      EXPECT_EQ(err, 0.0);
      EXPECT_EQ(outside, 0.0);
    }
  });
}
