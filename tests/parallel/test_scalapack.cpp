// SPDX-License-Identifier: MIT
// The ScaLAPACK layer and process grids: shapes, descriptors, PBLAS/QR/SVD against LAPACK on the root,
// and the error mapping.
#include <gtest/gtest.h>

#include "parallel/dist_matrix.hpp"
#include "helpers.hpp"
#include "la/scalapack.hpp"

using namespace srr;
using namespace srr::parallel;
using namespace srr::parallel::test;

TEST(Scalapack, SquareShapes) {
  EXPECT_EQ(ProcessGrid::square_shape(1), std::make_pair(1, 1));
  EXPECT_EQ(ProcessGrid::square_shape(2), std::make_pair(1, 2));
  EXPECT_EQ(ProcessGrid::square_shape(3), std::make_pair(1, 3));
  EXPECT_EQ(ProcessGrid::square_shape(4), std::make_pair(2, 2));
  EXPECT_EQ(ProcessGrid::square_shape(6), std::make_pair(2, 3));
  EXPECT_EQ(ProcessGrid::square_shape(12), std::make_pair(3, 4));
}

TEST(Scalapack, GridNeedsExactlyTheCommunicatorsRanks) {
  const auto world = Communicator::world();
  // Rejected before any collective call, on every rank alike.
  EXPECT_THROW(ProcessGrid(world, world.size() + 1, 1), Error);
  const ProcessGrid grid(world);
  EXPECT_EQ(grid.size(), world.size());
  EXPECT_EQ(grid.rank(), world.rank());
  EXPECT_EQ(grid.row(), world.rank() / grid.cols());
  EXPECT_EQ(grid.col(), world.rank() % grid.cols());
  EXPECT_LE(grid.rows(), grid.cols());
}

TEST(Scalapack, NumrocAndDescinit) {
  EXPECT_EQ(la::numroc(10, 3, 0, 2), 6);  // blocks 0,2 → 3+3 (block 3 has 1 row, on process 1)
  EXPECT_EQ(la::numroc(10, 3, 1, 2), 4);
  EXPECT_EQ(la::numroc(0, 3, 0, 2), 0);
  const ProcessGrid grid(Communicator::world());
  const auto d = la::descinit(10, 7, 4, 4, grid.context(), 20);
  EXPECT_EQ(d.rows(), 10);
  EXPECT_EQ(d.cols(), 7);
  EXPECT_EQ(d.lld(), 20);
  EXPECT_TRUE(d.in_context());
  EXPECT_FALSE(la::descriptor_outside(10, 7, 4, 4).in_context());
}

TEST(Scalapack, ArgumentErrorsBecomeScalapackErrorNamingTheRoutine) {
  const ProcessGrid grid(Communicator::world());
  // descinit: a local leading dimension smaller than the local rows is argument 9.
  const index_t mloc = la::numroc(100, 4, grid.row(), grid.rows());
  try {
    la::descinit(100, 10, 4, 4, grid.context(), mloc - 1 > 0 ? mloc - 1 : 0);
    ADD_FAILURE() << "no ScalapackError";
  } catch (const la::ScalapackError& e) {
    EXPECT_EQ(e.routine(), "descinit");
    EXPECT_EQ(e.info(), -9);
    EXPECT_NE(std::string(e.what()).find("descinit"), std::string::npos);
  }
  // pdsyevd needs square blocks: entry MB/NB of DESCA (argument 7) is illegal, on every rank alike.
  const index_t n = 24;
  const auto da = la::descinit(n, n, 4, 8, grid.context(),
                               std::max<index_t>(1, la::numroc(n, 4, grid.row(), grid.rows())));
  std::vector<double> a(static_cast<std::size_t>(da.lld() * la::numroc(n, 8, grid.col(), grid.cols())) + 1, 1.0);
  std::vector<double> z(a.size());
  try {
    la::psyevd(a.data(), da, z.data(), da);
    ADD_FAILURE() << "no ScalapackError";
  } catch (const la::ScalapackError& e) {
    EXPECT_EQ(e.routine(), "pdsyevd");
    EXPECT_LT(e.info(), -700);
    EXPECT_GT(e.info(), -800);
  }
  // PBLAS would abort the job on a shape mismatch; the wrapper throws first.
  DistMatrix<double> A(grid, 5, 4, 2), B(grid, 3, 6, 2), C(grid, 5, 6, 2);
  try {
    gemm(la::Op::N, la::Op::N, 1.0, A, B, 0.0, C);
    ADD_FAILURE() << "no ScalapackError";
  } catch (const la::ScalapackError& e) {
    EXPECT_EQ(e.routine(), "pdgemm");
  }
  EXPECT_THROW(copy(A, 3, 0, 4, 4, C, 0, 0), la::ScalapackError);  // rows 3..6 of a 5-row matrix
}

TEST(Scalapack, PgemmMatchesGemm) {
  const auto A = gaussian(37, 23, 1), B = gaussian(23, 29, 2), At = A.transposed(), Bt = B.transposed();
  for_each_grid([&](const ProcessGrid& grid) {
    for (index_t nb : {4, 64}) {
      SCOPED_TRACE("nb " + std::to_string(nb));
      DistMatrix<double> Ad(grid, 37, 23, nb), Bd(grid, 23, 29, nb), Atd(grid, 23, 37, nb), Btd(grid, 29, 23, nb);
      Ad.fill([&](index_t i, index_t j) { return A(i, j); });
      Bd.fill([&](index_t i, index_t j) { return B(i, j); });
      Atd.fill([&](index_t i, index_t j) { return At(i, j); });
      Btd.fill([&](index_t i, index_t j) { return Bt(i, j); });
      const auto nn = matmul(Ad, Bd).gather_to(0);
      const auto tt = matmul(Atd, Btd, la::Op::T, la::Op::T).gather_to(0);
      if (grid.rank() == 0) {
        const auto ref = la::matmul(A, B);
        EXPECT_LT(rel_diff(nn, ref), 1e-14);
        EXPECT_LT(rel_diff(tt, ref), 1e-14);
      }
    }
  });
}

TEST(Scalapack, OrthonormalizeMatchesLapack) {
  const auto Y = gaussian(50, 12, 3);
  for_each_grid([&](const ProcessGrid& grid) {
    DistMatrix<double> Yd(grid, 50, 12, 4);
    Yd.scatter_from(Y);
    orthonormalize(Yd);
    const auto Q = Yd.gather_to(0);
    if (grid.rank() == 0) {
      // Same Householder convention as LAPACK, so the same Q, not just the same span.
      EXPECT_LT(rel_diff(Q, la::orthonormalize(Y)), 1e-13);
    }
  });
}

TEST(Scalapack, GesvdValuesMatchGesdd) {
  const auto A = gaussian(40, 25, 4);
  for_each_grid([&](const ProcessGrid& grid) {
    DistMatrix<double> Ad(grid, 40, 25, 8);
    Ad.scatter_from(A);
    const auto s = la::pgesvd_values(Ad.local_data(), Ad.descriptor());
    if (grid.rank() == 0) {
      const auto ref = la::gesdd(A, false);
      ASSERT_EQ(s.size(), ref.s.size());
      for (std::size_t i = 0; i < s.size(); ++i) EXPECT_NEAR(s[i], ref.s[i], 1e-13 * ref.s[0]);
    }
  });
}

TEST(Scalapack, Pgemr2dRedistributesToAOneProcessGrid) {
  const auto A = gaussian(21, 17, 12);
  for_each_grid([&](const ProcessGrid& grid) {
    const int target = grid.size() - 1;
    DistMatrix<double> Ad(grid, 21, 17, 4);
    Ad.scatter_from(A);
    const BlacsContext single = grid.single_process_context(target);
    EXPECT_EQ(single.member(), grid.rank() == target);
    Matrix<double> whole = single.member() ? Matrix<double>(21, 17) : Matrix<double>();
    const auto dw = single.member() ? la::descinit(21, 17, 5, 5, single.get(), 21)
                                    : la::descriptor_outside(21, 17, 5, 5);
    la::pgemr2d(index_t(21), index_t(17), Ad.local_data(), 0, 0, Ad.descriptor(),
                single.member() ? whole.data() : nullptr, 0, 0, dw, grid.context());
    if (single.member()) {
      EXPECT_EQ(rel_diff(whole, A), 0.0);
    }
  });
}
