// SPDX-License-Identifier: MIT
// The distributed engine against the local one (same settings, same random stream) and p?syevd against
// LAPACK syevd, on every grid shape, with the root/serve() protocol.
#include <gtest/gtest.h>

#include <functional>

#include "parallel/dist_svd.hpp"
#include "helpers.hpp"
#include "qer/synthetic.hpp"

using namespace srr;
using namespace srr::parallel;
using namespace srr::parallel::test;
using qer::Spectrum;
using qer::SvdMethod;
using qer::SvdSettings;

namespace {

/// float64 agreement with the single-rank path (the brief's contract).
constexpr double tol64 = 1e-10;
/// float32: both engines round in float, in different orders; a few hundred ulps of σ₁.
constexpr double tol32 = 2e-4;
/// A small block so that even these small matrices spread over every process.
constexpr index_t test_block = 16;

/// Runs `root_work` on the grid's root and serve() on the other members; the root stops the servers at
/// the end. Returns nothing; checks that each server joined `expected_commands` commands, none failed.
void with_engine(const ProcessGrid& grid, const DistributedSvdEngine& engine, int expected_commands,
                 const std::function<void()>& root_work) {
  if (engine.is_root()) {
    root_work();  // EXPECT only inside: an early return would leave the servers waiting
    engine.stop();
  } else {
    const auto stats = engine.serve();
    EXPECT_EQ(stats.commands, expected_commands) << "rank " << grid.rank();
    EXPECT_EQ(stats.failures, 0);
  }
}

template <class T>
void expect_same(const qer::TruncatedSvd<T>& d, const qer::TruncatedSvd<T>& l, double tol, bool vectors,
                 const std::string& what) {
  ASSERT_EQ(d.s.size(), l.s.size()) << what;
  for (std::size_t i = 0; i < l.s.size(); ++i) EXPECT_NEAR(d.s[i], l.s[i], tol * l.s[i]) << what << " σ" << i;
  if (vectors) {
    EXPECT_LE(rel_diff(usv(d.U, d.s, d.Vt), usv(l.U, l.s, l.Vt)), tol) << what;
  }
}

}  // namespace

TEST(DistSvd, RandomizedMatchesLocalEngineInFloat64) {
  const SvdSettings settings;  // randomized, the defaults the pipeline uses
  const auto tall = qer::synthetic_weight({.in = 300, .out = 200, .seed = 3}).cast<double>();
  const auto wide = qer::synthetic_weight({.in = 160, .out = 260, .decay = 0.5, .seed = 4}).cast<double>();
  const auto flat = gaussian(210, 150, 9);  // a residual-like flat spectrum: the block Krylov path
  struct Case {
    const Matrix<double>* A;
    index_t k;
    bool vectors;
    Spectrum spectrum;
    const char* name;
  };
  const std::vector<Case> cases = {{&tall, 16, true, Spectrum::Decaying, "tall"},
                                   {&wide, 12, true, Spectrum::Decaying, "wide"},
                                   {&tall, 16, false, Spectrum::Decaying, "values only"},
                                   {&flat, 8, true, Spectrum::Flat, "flat, Krylov"}};
  const qer::LocalSvdEngine local(settings);
  for_each_grid([&](const ProcessGrid& grid) {
    const DistributedSvdEngine engine(grid, settings, test_block);
    with_engine(grid, engine, static_cast<int>(cases.size()), [&] {
      for (const auto& c : cases) {
        Rng rd(11, c.name, "sketch"), rl(11, c.name, "sketch");
        const auto d = engine.top(*c.A, c.k, c.vectors, c.spectrum, rd);
        const auto l = local.top(*c.A, c.k, c.vectors, c.spectrum, rl);
        expect_same(d, l, tol64, c.vectors, c.name);
        EXPECT_EQ(rd.next(), rl.next()) << c.name << ": the engines drew different amounts from the stream";
      }
    });
  });
}

TEST(DistSvd, FloatAndLocalOnlyPaths) {
  const SvdSettings settings;
  const auto W = qer::synthetic_weight({.in = 200, .out = 120, .seed = 5});
  const qer::LocalSvdEngine local(settings);
  const qer::LocalSvdEngine local_full({.method = SvdMethod::Full});
  for_each_grid([&](const ProcessGrid& grid) {
    const DistributedSvdEngine engine(grid, settings, test_block);
    const DistributedSvdEngine full(grid, {.method = SvdMethod::Full}, test_block);
    // One distributed command (the float SVD); k = 0, a sketch as wide as the matrix and the Full method
    // run on the root alone.
    with_engine(grid, engine, 1, [&] {
      Rng rd(1), rl(1);
      expect_same(engine.top(W, 10, true, Spectrum::Decaying, rd), local.top(W, 10, true, Spectrum::Decaying, rl),
                  tol32, true, "float");
      const auto none = engine.top(W, 0, true, Spectrum::Decaying, rd);
      EXPECT_TRUE(none.s.empty());
      EXPECT_EQ(none.U.rows(), 200);
      EXPECT_EQ(none.U.cols(), 0);
      Rng wd(2), wl(2);
      expect_same(engine.top(W, 115, false, Spectrum::Decaying, wd), local.top(W, 115, false, Spectrum::Decaying, wl),
                  0.0, false, "sketch as wide as the matrix");
    });
    with_engine(grid, full, 0, [&] {
      Rng rd(3), rl(3);
      expect_same(full.top(W, 7, true, Spectrum::Decaying, rd), local_full.top(W, 7, true, Spectrum::Decaying, rl),
                  0.0, true, "full");
    });
  });
}

TEST(DistSvd, RejectedCallsLeaveTheGroupInStep) {
  const auto W = gaussian(40, 30, 8);
  for_each_grid([&](const ProcessGrid& grid) {
    const DistributedSvdEngine engine(grid, SvdSettings{}, test_block);
    if (!engine.is_root()) {
      EXPECT_THROW(engine.stop(), Error);
    }
    with_engine(grid, engine, 1, [&] {
      Rng rng(4);
      EXPECT_THROW(engine.top(W, 31, true, Spectrum::Decaying, rng), Error);  // k > min(m, n): root only
      EXPECT_THROW(engine.serve(), Error);
      const auto t = engine.top(W, 5, true, Spectrum::Decaying, rng);  // the group still answers
      EXPECT_EQ(t.s.size(), 5u);
    });
  });
}

TEST(DistSvd, SymmetricEigenMatchesSyevd) {
  // R = XᵀX/N + a spread diagonal: symmetric positive definite with distinct eigenvalues, like R_xx. Sizes
  // on both sides of distributes_eigen(): stories260K's 64 and 172 inputs at the default block of 64 and
  // one block + 1 (where p?syevd itself goes wrong and the engine solves on the root), several blocks per
  // process (p?syevd).
  const std::vector<std::pair<index_t, index_t>> cases = {{120, test_block}, {64, default_block}, {172, default_block}, {17, 16}, {400, 64}, {96, 16}};
  for (const auto& [n, block] : cases) {
    SCOPED_TRACE("n = " + std::to_string(n) + ", block " + std::to_string(block));
    const auto X = gaussian(400, n, 10);
    Matrix<double> R = la::matmul(X, X, la::Op::T, la::Op::N);
    for (index_t j = 0; j < n; ++j) {
      for (index_t i = 0; i < n; ++i) R(i, j) /= 400.0;
      R(j, j) += 0.01 * static_cast<double>(j);
    }
    const auto ref = la::syevd(R);
    for_each_grid([&, n = n, block = block](const ProcessGrid& grid) {
      const DistributedSvdEngine engine(grid, SvdSettings{}, block);
      with_engine(grid, engine, engine.distributes_eigen(n) ? 2 : 0, [&] {
        const auto eig = engine.symmetric_eigen(R);
        ASSERT_EQ(eig.w.size(), ref.w.size());
        const double scale = ref.w.back();
        for (std::size_t i = 0; i < ref.w.size(); ++i) EXPECT_NEAR(eig.w[i], ref.w[i], tol64 * scale) << i;
        // Vectors are unique up to sign: compare |⟨z, z_ref⟩| and the reconstruction.
        double worst = 0;
        for (index_t j = 0; j < n; ++j) {
          double dot = 0;
          for (index_t i = 0; i < n; ++i) dot += eig.Z(i, j) * ref.Z(i, j);
          worst = std::max(worst, 1.0 - std::abs(dot));
        }
        EXPECT_LT(worst, tol64);
        std::vector<double> w(eig.w.begin(), eig.w.end());
        EXPECT_LT(rel_diff(usv(eig.Z, w, eig.Z.transposed()), R), tol64);
        const auto values = engine.symmetric_eigen(R, false);
        EXPECT_TRUE(values.Z.empty());
        // Not bit-identical on a multi-rank grid: the BLACS combine in whatever order messages arrive.
        ASSERT_EQ(values.w.size(), eig.w.size());
        for (std::size_t i = 0; i < eig.w.size(); ++i) EXPECT_NEAR(values.w[i], eig.w[i], 1e-14 * scale) << i;
      });
    });
  }
}

TEST(DistSvd, CholeskyAndTriangularProductsMatchLapack) {
  // The QERA-exact Cholesky root in group mode: p?potrf, p?trmm (float and double) and p?trsm against
  // LAPACK/BLAS on one rank, on both sides of distributes_factor().
  const std::vector<std::pair<index_t, index_t>> cases = {{120, test_block}, {64, default_block}, {400, 64}, {96, 16}};
  for (const auto& [n, block] : cases) {
    SCOPED_TRACE("n = " + std::to_string(n) + ", block " + std::to_string(block));
    const auto Y = gaussian(500, n, 11);
    Matrix<double> R = la::matmul(Y, Y, la::Op::T, la::Op::N);
    const qer::LocalSvdEngine local(SvdSettings{});
    Matrix<double> U_ref = R;
    local.cholesky(U_ref);
    const auto X = gaussian(n, 37, 12);
    Matrix<double> UX_ref = X, UinvX_ref = X;
    local.upper_times(U_ref, UX_ref);
    local.upper_solve(U_ref, UinvX_ref);
    for_each_grid([&, n = n, block = block](const ProcessGrid& grid) {
      const DistributedSvdEngine engine(grid, SvdSettings{}, block);
      with_engine(grid, engine, engine.distributes_factor(n) ? 4 : 0, [&] {
        Matrix<double> U = R;
        engine.cholesky(U);
        EXPECT_LT(rel_diff(U, U_ref), tol64);
        for (index_t j = 0; j < n; ++j)
          for (index_t i = j + 1; i < n; ++i) ASSERT_EQ(U(i, j), 0.0);
        Matrix<double> UX = X;
        engine.upper_times(U_ref, UX);
        EXPECT_LT(rel_diff(UX, UX_ref), tol64);
        Matrix<float> UXf = X.cast<float>();
        engine.upper_times(U_ref.cast<float>(), UXf);
        EXPECT_LT(rel_diff(UXf.cast<double>(), UX_ref), 1e-5);
        Matrix<double> UinvX = X;
        engine.upper_solve(U_ref, UinvX);
        EXPECT_LT(rel_diff(UinvX, UinvX_ref), tol64);
      });
    });
  }
}

TEST(DistSvd, CholeskyOfAnIndefiniteMatrixFailsOnTheRootAndKeepsTheGroupInStep) {
  const index_t n = 96;
  const auto Y = gaussian(200, n, 13);
  const Matrix<double> R = la::matmul(Y, Y, la::Op::T, la::Op::N);
  Matrix<double> bad = R;
  bad(50, 50) = -1.0;  // not positive definite
  for_each_grid([&](const ProcessGrid& grid) {
    const DistributedSvdEngine engine(grid, SvdSettings{}, test_block);
    const bool distributed = engine.distributes_factor(n);
    if (engine.is_root()) {
      EXPECT_THROW(engine.cholesky(bad), la::LapackError);
      Matrix<double> good = R;
      EXPECT_NO_THROW(engine.cholesky(good));  // the group still answers
      engine.stop();
    } else {
      const auto stats = engine.serve();
      EXPECT_EQ(stats.commands, distributed ? 2 : 0);
      EXPECT_EQ(stats.failures, distributed ? 1 : 0);
    }
  });
}
