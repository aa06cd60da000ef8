// SPDX-License-Identifier: MIT
// The distributed kernels on the ranks of MPI_COMM_WORLD (one grid, as square as possible) against the
// local ones on rank 0 alone: the randomized truncated SVD of synthetic weights at LLaMA-7B shapes and
// the symmetric eigensolver of the QERA-exact scale. Times are end to end as the pipeline sees them
// (distributing the matrix from rank 0 and gathering the factors back included).
//
//   mpirun -np P bench_dist [--shapes 4096x4096,4096x11008] [--rank 64] [--eig 4096]
//                           [--spectra decaying,flat] [--block 64] [--grid RxC]
//
// Run with OPENBLAS_NUM_THREADS=1 so that P ranks use P cores (toolchain.md P7). While rank 0 runs the
// local reference the other ranks wait asleep in serve(), so they do not slow it down.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "base/heap.hpp"
#include "base/timer.hpp"
#include "bench/options.hpp"
#include "parallel/dist_svd.hpp"
#include "la/lapack.hpp"
#include "qer/synthetic.hpp"

using namespace srr;
using srr::bench::split;
using namespace srr::parallel;

namespace {

struct Options {
  std::vector<std::string> shapes = {"4096x4096", "4096x11008"};
  std::vector<std::string> spectra = {"decaying"};
  index_t rank = 64;
  index_t eig = 4096;
  index_t block = default_block;
  int grid_rows = 0, grid_cols = 0;  ///< 0×0: as square as possible
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--shapes")) o.shapes = split(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--spectra")) o.spectra = split(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--rank")) o.rank = std::stol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--eig")) o.eig = std::stol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--block")) o.block = std::stol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--grid")) {
      const std::string g = argv[i + 1];
      o.grid_rows = std::stoi(g.substr(0, g.find('x')));
      o.grid_cols = std::stoi(g.substr(g.find('x') + 1));
    }
    else throw InputError(std::string("unknown option ") + argv[i]);
  }
  return o;
}

/// The largest relative difference of the singular values and of the rank-r products U·diag(s)·Vt.
double max_rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]) / b[i]);
  return worst;
}

void bench_svd(const DistributedSvdEngine& engine, const qer::LocalSvdEngine& local, const Options& o) {
  std::printf("%-12s %-9s %10s %10s %8s %10s\n", "shape", "spectrum", "local s", "dist s", "ratio", "max dσ/σ");
  for (const auto& shape : o.shapes) {
    const auto x = shape.find('x');
    const index_t in = std::stol(shape.substr(0, x)), out = std::stol(shape.substr(x + 1));
    const auto W = qer::synthetic_weight({.in = in, .out = out, .seed = 1}).cast<double>();
    for (const auto& name : o.spectra) {
      const auto spectrum = name == "flat" ? qer::Spectrum::Flat : qer::Spectrum::Decaying;
      Rng rl(7, shape, "sketch"), rd(7, shape, "sketch");
      Stopwatch tl;
      const auto l = local.top(W, o.rank, true, spectrum, rl);
      const double local_s = tl.seconds();
      Stopwatch td;
      const auto d = engine.top(W, o.rank, true, spectrum, rd);
      const double dist_s = td.seconds();
      std::printf("%-12s %-9s %10.2f %10.2f %8.2f %10.1e\n", shape.c_str(), name.c_str(), local_s, dist_s,
                  dist_s / local_s, max_rel_diff(d.s, l.s));
      std::fflush(stdout);
    }
  }
}

void bench_eig(const DistributedSvdEngine& engine, index_t n) {
  // R = G·Gᵀ/n + I: symmetric positive definite with a Marchenko–Pastur spread, like an R_xx.
  const auto G = qer::synthetic_weight({.in = n, .out = n, .seed = 2}).cast<double>();
  Matrix<double> R(n, n);
  la::syrk(la::Uplo::Lower, la::Op::N, 1.0 / static_cast<double>(n), G, 0.0, R);
  for (index_t j = 0; j < n; ++j) {
    R(j, j) += 1.0;
    for (index_t i = 0; i < j; ++i) R(i, j) = R(j, i);
  }
  Stopwatch tl;
  const auto l = la::syevd(R);
  const double local_s = tl.seconds();
  Stopwatch td;
  const auto d = engine.symmetric_eigen(R);
  const double dist_s = td.seconds();
  std::printf("%-22s %10s %10s %8s %10s\n", "eigensolver", "dsyevd s", "pdsyevd s", "ratio", "max dλ/λ");
  std::printf("%-22s %10.2f %10.2f %8.2f %10.1e\n", (std::to_string(n) + "x" + std::to_string(n)).c_str(),
              local_s, dist_s, dist_s / local_s, max_rel_diff(d.w, l.w));
}

}  // namespace

int main(int argc, char** argv) {
  srr::keep_freed_memory();
  MpiEnvironment env(argc, argv);
  try {
    const Options o = parse(argc, argv);
    const ProcessGrid grid(Communicator::world(), o.grid_rows, o.grid_cols);
    const qer::SvdSettings settings;
    const DistributedSvdEngine engine(grid, settings, o.block);
    if (!engine.is_root()) {
      engine.serve();
      return 0;
    }
    std::printf("bench_dist: %d rank(s) as a %dx%d grid, block %ld, rank r = %ld, power iters %d, Krylov iters %d\n",
                grid.size(), grid.rows(), grid.cols(), static_cast<long>(o.block), static_cast<long>(o.rank),
                settings.power_iters, settings.krylov_iters);
    const qer::LocalSvdEngine local(settings);
    bench_svd(engine, local, o);
    if (o.eig > 0) bench_eig(engine, o.eig);
    engine.stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_dist: %s\n", e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  return 0;
}
