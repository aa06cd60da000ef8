// SPDX-License-Identifier: MIT
// Accuracy and cost of the truncated SVD on the three matrices a layer decomposes (docs/svd.md): a
// synthetic trained-like weight W, its 3-bit MXINT residual W − Q, and the criterion's uniform probe. For
// every (oversampling p, Krylov iterations q) of --grid it prints the time of one top-r SVD and two
// accuracies against LAPACK gesdd of the same matrix, in one run:
//   tail   relative change of the optimal tail energy ‖A − A_r‖²_F (what every error of the pipeline is)
//   sigma  largest relative error of the top r singular values (what the criterion reads)
//
//   bench_svd [--size 4096] [--rank 64] [--grid 64:6,32:6,10:6,10:8]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "base/heap.hpp"
#include "base/timer.hpp"
#include "bench/options.hpp"
#include "la/lapack.hpp"
#include "qer/svd.hpp"
#include "qer/synthetic.hpp"
#include "quant/quantizer.hpp"

using namespace srr;
using namespace srr::qer;

namespace {

struct Options {
  index_t size = 4096;
  index_t rank = 64;
  std::vector<std::string> grid = {"64:6", "32:6", "10:6", "10:8"};
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--size")) o.size = std::stol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--rank")) o.rank = std::stol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--grid")) o.grid = bench::split(argv[i + 1]);
  }
  return o;
}

Matrix<float> uniform_probe(index_t m, Rng& rng) {
  const double a = std::sqrt(12.0 / static_cast<double>(m));
  Matrix<float> G(m, m);
  for (auto& v : G.values()) v = static_cast<float>(a * (rng.uniform() - 0.5));
  return G;
}

void study(const char* label, const Matrix<float>& A, const Options& opt) {
  const index_t r = opt.rank;
  Stopwatch ft;
  const auto ref = la::gesdd(A.cast<double>(), false);
  const double full_s = ft.seconds();
  const double total = la::frobenius2(A.cast<double>());
  double top = 0;
  for (index_t i = 0; i < r; ++i) top += ref.s[static_cast<std::size_t>(i)] * ref.s[static_cast<std::size_t>(i)];
  std::printf("%s %ld×%ld: float64 gesdd (values) %.2f s, optimal tail energy %.6e of %.6e\n", label,
              static_cast<long>(A.rows()), static_cast<long>(A.cols()), full_s, total - top, total);
  for (const auto& variant : opt.grid) {
    const SvdSettings settings = bench::svd_variant(variant);
    const LocalSvdEngine engine(settings);
    Rng rng(1, "bench", label);
    Stopwatch t;
    const auto svd = engine.top(A, r, true, Spectrum::Flat, rng);
    const double secs = t.seconds();
    double captured = 0, sigma = 0;
    for (index_t i = 0; i < r; ++i) {
      const double s = svd.s[static_cast<std::size_t>(i)], s_ref = ref.s[static_cast<std::size_t>(i)];
      captured += s * s;
      sigma = std::max(sigma, std::fabs(s - s_ref) / s_ref);
    }
    std::printf("  p %3ld q %2d  %6.2f s  tail %.2e  sigma %.2e\n", static_cast<long>(settings.oversample),
                settings.krylov_iters, secs,
                std::fabs((total - captured) - (total - top)) / (total - top), sigma);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  srr::keep_freed_memory();
  const Options opt = parse(argc, argv);
  const auto W = synthetic_weight({.in = opt.size, .out = opt.size, .seed = 1});
  const auto Wf = W.cast<float>();
  const auto Q = quant::decode(quant::encode(Wf, {quant::Scheme::Mxint, 3, 32}));
  Matrix<float> E = Wf;
  for (index_t i = 0; i < E.size(); ++i) E.data()[i] -= Q.data()[i];
  Rng probe_rng(1, "bench", "probe");
  study("weight", Wf, opt);
  study("residual", E, opt);
  study("probe", uniform_probe(opt.size, probe_rng), opt);
  return 0;
}
