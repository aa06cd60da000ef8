// SPDX-License-Identifier: MIT
// The single-layer pipeline at LLaMA-7B shapes: truncated (randomized) SVD against the same pipeline on
// full LAPACK gesdd, in one run, plus the achieved GFLOP/s of the dominant kernels against the machine's
// measured sgemm/dgemm rates.
//
//   bench_core [--shapes 4096x4096,4096x11008,11008x4096] [--rank 64] [--full-max-dim 4096]
//              [--scales identity,qera-exact] [--methods qer,srr] [--variants 10:8,64:6]
//
// --variants lists truncated-SVD settings as oversampling:krylov-iterations (default: the engine's
// defaults); each is timed against the one full-gesdd run of its row.
// The full-gesdd pipeline is run only where max(in, out) ≤ --full-max-dim (a 11008² probe gesdd takes
// many minutes on one core); elsewhere only the truncated path is timed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "base/timer.hpp"
#include "bench/options.hpp"
#include "la/lapack.hpp"
#include "qer/layer.hpp"
#include "qer/synthetic.hpp"

using namespace srr;
using namespace srr::qer;
using srr::bench::split;

namespace {

template <class T>
double gemm_gflops(index_t n) {
  la::Matrix<T> A(n, n, T(1)), B(n, n, T(0.5)), C(n, n);
  la::gemm(la::Op::N, la::Op::N, T(1), A, B, T(0), C);  // warm-up
  Stopwatch t;
  int reps = 0;
  do {
    la::gemm(la::Op::N, la::Op::N, T(1), A, B, T(0), C);
    ++reps;
  } while (t.seconds() < 2.0);
  return 2.0 * n * n * n * reps / t.seconds() / 1e9;
}

struct Options {
  std::vector<std::string> shapes = {"4096x4096", "4096x11008", "11008x4096"};
  std::vector<std::string> scales = {"identity", "qera-exact"};
  std::vector<std::string> methods = {"qer", "srr"};
  std::vector<std::string> variants;  // "p:q"; empty = SvdSettings defaults
  index_t rank = 64;
  index_t full_max_dim = 4096;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--shapes")) o.shapes = split(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--scales")) o.scales = split(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--methods")) o.methods = split(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--variants")) o.variants = split(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--rank")) o.rank = std::stol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--full-max-dim")) o.full_max_dim = std::stol(argv[i + 1]);
  }
  return o;
}

/// Flops of one block-Krylov truncated SVD of an m×n matrix (qer/svd.cpp): 2q + 1 sketch products of
/// width l, Householder QR of the m×L basis (L = l(q + 1)), B = QᵀA, the Gram matrix B·Bᵀ and its
/// eigendecomposition (≈ 4L³ with vectors), Vt = Σ⁻¹UᵀB and U = Q·U_B.
double krylov_flops(index_t m_, index_t n_, index_t k_, const SvdSettings& s) {
  const double m = static_cast<double>(m_), n = static_cast<double>(n_), k = static_cast<double>(k_);
  const double l = static_cast<double>(sketch_width(k_, m_, n_, s)), q = s.krylov_iters;
  const double L = std::min(l * (q + 1), std::min(m, n));
  const double products = (2 * q + 1) * 2 * m * n * l + 2 * q * 4 * (m + n) * l * l;
  return products + 4 * m * L * L + 2 * m * n * L + n * L * L + 4 * L * L * L + 2 * k * L * n + 2 * m * L * k;
}

double rel(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-300); }

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse(argc, argv);
  const double sgemm = gemm_gflops<float>(2048), dgemm = gemm_gflops<double>(2048);
  std::printf("machine: sgemm %.1f GFLOP/s, dgemm %.1f GFLOP/s (2048², this process's BLAS threads)\n", sgemm, dgemm);
  LayerSettings settings;
  settings.rank = opt.rank;
  settings.quant = {quant::Scheme::Mxint, 3, 32};
  std::vector<std::pair<std::string, SvdSettings>> variants;
  for (const auto& v : opt.variants) variants.push_back({v, bench::svd_variant(v)});
  if (variants.empty()) variants.push_back({"default", SvdSettings{}});
  const LocalSvdEngine full({.method = SvdMethod::Full});
  std::printf("%-11s %-10s %-6s %-8s %8s %8s %6s %5s %5s %10s %10s %10s %8s %7s\n", "shape", "scale", "method", "p:q",
              "trunc_s", "full_s", "ratio", "k*_t", "k*_f", "err_S", "err_S rel", "err rel", "svd GF/s", "%sgemm");
  std::map<index_t, InputStatistics> stats_cache;
  for (const auto& shape : opt.shapes) {
    const auto x = shape.find('x');
    const index_t in = std::stol(shape.substr(0, x)), out = std::stol(shape.substr(x + 1));
    const auto W = synthetic_weight({.in = in, .out = out, .seed = 1});
    if (!stats_cache.count(in))
      stats_cache.emplace(in, synthetic_statistics({.dim = in, .tokens = 4 * in, .sampled = false}));
    for (const auto& scale_name : opt.scales) {
      Stopwatch st;
      const Scale S = build_scale(stats_cache.at(in), {.kind = scale_kind_from_string(scale_name)}, "bench");
      const double scale_s = st.seconds();
      for (const auto& method_name : opt.methods) {
        settings.method = method_from_string(method_name);
        const bool run_full = std::max(in, out) <= opt.full_max_dim;
        LayerResult<float> f;
        if (run_full) f = decompose_layer(W, S, settings, "bench.layer", full);
        for (const auto& [label, svd] : variants) {
          const LocalSvdEngine trunc(svd);
          const auto t = decompose_layer(W, S, settings, "bench.layer", trunc);
          const double svd_flops = krylov_flops(in, out, opt.rank, svd), svd_s = t.seconds.at("recon_svd");
          const double tt = t.seconds.at("total");
          std::printf("%-11s %-10s %-6s %-8s %8.2f ", shape.c_str(), scale_name.c_str(), method_name.c_str(),
                      label.c_str(), tt);
          if (run_full)
            std::printf("%8.2f %6.1f %5ld %5ld %10.4e %10.2e %10.2e", f.seconds.at("total"), f.seconds.at("total") / tt,
                        static_cast<long>(t.k_star), static_cast<long>(f.k_star), t.rel_error_scaled,
                        rel(t.rel_error_scaled, f.rel_error_scaled), rel(t.rel_error, f.rel_error));
          else
            std::printf("%8s %6s %5ld %5s %10.4e %10s %10s", "-", "-", static_cast<long>(t.k_star), "-",
                        t.rel_error_scaled, "-", "-");
          std::printf(" %8.1f %6.0f%%\n", svd_flops / svd_s / 1e9, 100 * svd_flops / svd_s / 1e9 / sgemm);
          std::printf("    stages (truncated):");
          for (const auto& [k, v] : t.seconds) std::printf(" %s %.2f", k.c_str(), v);
          std::printf("  | scale build %.2f s\n", scale_s);
          std::fflush(stdout);
        }
      }
    }
  }
  return 0;
}
