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
//
//   bench_core --vs-peer [--peer-script ../shared/bench/peer_layer.py] [--python /usr/bin/python3]
//              [--threads 2] [--shapes ...] [--peer-shapes ...] [--sqrtm-max-dim 4096] [--eigh-max-dim 4096]
//              [--full-max-dim 4096]
//
// Side by side with the peer-style numpy/scipy pipeline (peer_layer.py, needs python3-numpy and
// python3-scipy), in one job: srr's whitening (Cholesky root; eigh too up to --eigh-max-dim), identity and
// QERA-exact QER/SRR (r = --rank, 3-bit MXINT B32, float32, default truncated SVD), then the peer script
// as a child process on the same shape with the same OpenBLAS thread count (the bench re-executes itself
// with OPENBLAS_NUM_THREADS = --threads when that differs), and the ratios of the targets. Up to
// --full-max-dim, srr's own reference path (--svd full --precision float64) gives k* and every error to
// compare with (relative differences; where k* differs, the criterion objective's relative margin between
// the two k). The peer's sqrtm runs up to --sqrtm-max-dim and is scaled by m³ above it (said in the output).
// srr runs every configuration twice in the process and compares the second (steady-state) time; the first,
// which also pays the first-touch page faults of each buffer size, is printed too.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/heap.hpp"
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
  std::vector<std::string> peer_shapes;  // --vs-peer: shapes the peer runs (default: --shapes)
  bool vs_peer = false;
  std::string peer_script = "../shared/bench/peer_layer.py";
  std::string python = "/usr/bin/python3";
  int threads = 2;
  index_t sqrtm_max_dim = 4096, eigh_max_dim = 4096;
  std::vector<std::string> scales = {"identity", "qera-exact"};
  std::vector<std::string> methods = {"qer", "srr"};
  std::vector<std::string> variants;  // "p:q"; empty = SvdSettings defaults
  index_t rank = 64;
  index_t full_max_dim = 4096;
};

constexpr const char* kUsage =
    "bench_core [--shapes 4096x4096,4096x11008,11008x4096] [--rank 64] [--full-max-dim 4096]\n"
    "           [--scales identity,qera-exact] [--methods qer,srr] [--variants 10:8,64:6]\n"
    "bench_core --vs-peer [--peer-script ../shared/bench/peer_layer.py] [--python /usr/bin/python3]\n"
    "           [--threads 2] [--shapes ...] [--peer-shapes ...] [--sqrtm-max-dim 4096] [--eigh-max-dim 4096]\n"
    "           [--full-max-dim 4096]\n"
    "(bench/bench_core.cpp's header says what each measures)\n";

Options parse(int argc, char** argv) {
  bench::print_usage_if_asked(argc, argv, kUsage);
  Options o;
  for (int i = 1; i < argc; i += 2) {
    if (!std::strcmp(argv[i], "--vs-peer")) {
      o.vs_peer = true;
      --i;  // a flag without a value
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "bench_core: %s needs a value\n", argv[i]);
      std::exit(2);
    }
    if (!std::strcmp(argv[i], "--shapes")) o.shapes = split(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--peer-shapes")) o.peer_shapes = split(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--peer-script")) o.peer_script = argv[i + 1];
    else if (!std::strcmp(argv[i], "--python")) o.python = argv[i + 1];
    else if (!std::strcmp(argv[i], "--threads")) o.threads = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--sqrtm-max-dim")) o.sqrtm_max_dim = std::stol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--eigh-max-dim")) o.eigh_max_dim = std::stol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--scales")) o.scales = split(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--methods")) o.methods = split(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--variants")) o.variants = split(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--rank")) o.rank = std::stol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--full-max-dim")) o.full_max_dim = std::stol(argv[i + 1]);
    else bench::unknown_option("bench_core", argv[i]);
  }
  if (o.peer_shapes.empty()) o.peer_shapes = o.shapes;
  return o;
}

/// Flops of one block-Krylov truncated SVD of an m×n matrix (qer/svd.cpp): 2q + 1 sketch products of
/// width l, Householder QR of the m×L basis (L = l(q + 1)), B = QᵀA, the Gram matrix B·Bᵀ and its
/// eigendecomposition (≈ 4L³ with vectors), Vt = Σ⁻¹UᵀB and U = Q·U_B.
double krylov_flops(index_t m_, index_t n_, index_t k_, const SvdSettings& s) {
  const double m = static_cast<double>(m_), n = static_cast<double>(n_), k = static_cast<double>(k_);
  const RangePlan plan = range_plan(k_, m_, n_, Spectrum::Flat, s);
  const double l = static_cast<double>(plan.sketch), q = plan.iters, L = static_cast<double>(plan.width);
  const double products = (2 * q + 1) * 2 * m * n * l + 2 * q * 4 * (m + n) * l * l;
  return products + 4 * m * L * L + 2 * m * n * L + n * L * L + 4 * L * L * L + 2 * k * L * n + 2 * m * L * k;
}

double rel(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-300); }

// ---- --vs-peer ------------------------------------------------------------------------------------------

std::string load_average() {
  double l[3] = {0, 0, 0};
  if (getloadavg(l, 3) != 3) return "?";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %.2f %.2f", l[0], l[1], l[2]);
  return buf;
}

double peak_rss_mb(int who) {
  rusage u{};
  getrusage(who, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

/// Runs the peer script on one shape as a child process (same environment, so the same OpenBLAS thread
/// count) and returns its "seconds" object.
nlohmann::json run_peer(const Options& o, const std::string& shape, index_t rank, const std::string& steps) {
  const std::string cmd = o.python + " " + o.peer_script + " --shapes " + shape + " --rank " + std::to_string(rank) +
                          " --bits 3 --steps " + steps;
  std::printf("peer: %s\n", cmd.c_str());
  std::fflush(stdout);
  FILE* pipe = popen(cmd.c_str(), "r");
  require(pipe != nullptr, "--vs-peer: cannot start '", cmd, "'");
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  const int rc = pclose(pipe);
  require(rc == 0, "--vs-peer: '", cmd, "' failed (exit status ", rc, "); it needs python3-numpy and python3-scipy");
  const auto row = nlohmann::json::parse(out);
  require(row.at("blas_threads") == std::to_string(o.threads), "--vs-peer: the peer ran with OPENBLAS_NUM_THREADS ",
          row.at("blas_threads").dump());
  return row.at("seconds");
}

struct Timed {
  LayerResult<float> result;
  double seconds = 0;
};

void print_stage_times(const StageTimes& t) {
  t.for_each_measured([](std::string_view k, double v) { std::printf(" %.*s %.2f", static_cast<int>(k.size()), k.data(), v); });
}

void print_stages(const LayerResult<float>& r) {
  std::printf("      stages:");
  print_stage_times(r.seconds);
  std::printf("\n");
}

/// Relative difference of the truncated float32 result's errors from the float64 full-gesdd reference,
/// and the criterion objective's relative margin between the two k* where they differ.
void compare_with_reference(const LayerResult<float>& t, const LayerResult<double>& f, const std::string& what) {
  const double d_s = rel(t.rel_error_scaled, f.rel_error_scaled), d_e = rel(t.rel_error, f.rel_error);
  const double d_a = std::isnan(f.rel_error_act) ? 0.0 : rel(t.rel_error_act, f.rel_error_act);
  const double worst = std::max({d_s, d_e, d_a});
  std::printf("    reference %-22s k* %ld/%ld  err_S %.2e  err %.2e  err_act %.2e  %s", what.c_str(),
              static_cast<long>(t.k_star), static_cast<long>(f.k_star), d_s, d_e, d_a,
              worst <= 1e-4 && t.k_star == f.k_star ? "(within 1e-4)" : "(NOT within 1e-4)");
  if (t.k_star != f.k_star && !f.objective.empty()) {
    const double a = f.objective[static_cast<std::size_t>(t.k_star)], b = f.objective[static_cast<std::size_t>(f.k_star)];
    std::printf("  objective margin between k*=%ld and %ld: %.2e relative", static_cast<long>(t.k_star),
                static_cast<long>(f.k_star), rel(a, b));
  }
  std::printf("\n");
}

int vs_peer(const Options& opt) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines as they come, also into a log file
  std::printf("bench_core --vs-peer: OPENBLAS_NUM_THREADS=%s, rank %ld, 3-bit MXINT B32, float32, default truncated "
              "SVD; load average %s\n",
              std::getenv("OPENBLAS_NUM_THREADS"), static_cast<long>(opt.rank), load_average().c_str());
  const double sgemm = gemm_gflops<float>(2048), dgemm = gemm_gflops<double>(2048);
  std::printf("machine: sgemm %.1f GFLOP/s, dgemm %.1f GFLOP/s (2048²)\n", sgemm, dgemm);
  LayerSettings settings;
  settings.rank = opt.rank;
  settings.quant = {quant::Scheme::Mxint, 3, 32};
  const LocalSvdEngine trunc(SvdSettings{}), full({.method = SvdMethod::Full});
  std::map<index_t, double> sqrtm_measured;  // peer sqrtm seconds by m
  const auto input_of = [](const std::string& shape) { return std::stol(shape.substr(0, shape.find('x'))); };
  // Narrow inputs first: a wider input's sqrtm is scaled from one measured earlier in this job.
  std::vector<std::string> shapes = opt.shapes;
  std::stable_sort(shapes.begin(), shapes.end(),
                   [&](const std::string& a, const std::string& b) { return input_of(a) < input_of(b); });
  for (const auto& shape : shapes) {
    const auto x = shape.find('x');
    const index_t in = std::stol(shape.substr(0, x)), out = std::stol(shape.substr(x + 1));
    std::printf("\n== %s (load average %s)\n", shape.c_str(), load_average().c_str());
    const auto W = synthetic_weight({.in = in, .out = out, .seed = 1});
    const auto stats = synthetic_statistics({.dim = in, .tokens = 4 * in, .sampled = false});
    const auto R = stats.rxx();
    // Twice, like the layers below: the second build is what a worker pays for a new input mid-job.
    const auto build_chol = [&] {
      return build_scale(stats, {.kind = ScaleKind::QeraExact, .exact_impl = ExactImpl::Cholesky}, "bench");
    };
    Stopwatch cw_first;
    build_chol();
    const double chol_first_s = cw_first.seconds();
    Stopwatch cw;
    const Scale chol = build_chol();
    const double chol_s = cw.seconds();
    std::printf("  srr whitening (m = %ld): chol %.2f s, first in process %.2f s (ridge %g, condition %.3g)",
                static_cast<long>(in), chol_s, chol_first_s, chol.report().ridge, chol.report().condition);
    double eigh_s = NAN;
    if (in <= opt.eigh_max_dim) {
      Stopwatch ew;
      build_scale(stats, {.kind = ScaleKind::QeraExact, .exact_impl = ExactImpl::Eigh}, "bench");
      eigh_s = ew.seconds();
      std::printf(", eigh %.2f s (eigh/chol %.1fx)", eigh_s, eigh_s / chol_s);
    }
    std::printf("\n");
    const Scale identity = Scale::identity(in);
    struct Config {
      std::string key;
      const Scale* S;
      const Matrix<double>* rxx;
      Method method;
    };
    std::vector<Config> configs;
    for (const auto* scale_name : {"identity", "qera-exact"})
      for (const auto* method_name : {"qer", "srr"}) {
        const bool exact = std::string(scale_name) == "qera-exact";
        configs.push_back({std::string(scale_name) + " " + method_name, exact ? &chol : &identity,
                           exact ? &R : nullptr, method_from_string(method_name)});
      }
    // Two passes over the four configurations: the first in the process pays the first-touch page faults of
    // every buffer size (this VM charges ~11 µs a page); the second is a layer in the steady state of a
    // quantize job, whose worker runs layer after layer in one process, and is the figure compared. Both
    // are printed; the results are the same bits.
    std::map<std::string, Timed> srr;
    for (const char* pass : {"first in process", "steady state"}) {
      std::printf("  srr, %s:\n", pass);
      for (const auto& c : configs) {
        settings.method = c.method;
        Stopwatch t;
        auto r = decompose_layer(W, *c.S, settings, "bench.layer", trunc, c.rxx);
        const double secs = t.seconds();
        std::printf("  srr %-15s %7.2f s  k* %ld  err_S %.6e  err %.6e\n", c.key.c_str(), secs,
                    static_cast<long>(r.k_star), r.rel_error_scaled, r.rel_error);
        print_stages(r);
        srr[c.key] = {std::move(r), secs};
      }
    }
    // The float64 references after the timed passes, so that their larger buffers do not reshape the heap
    // the timed runs see.
    if (std::max(in, out) <= opt.full_max_dim)
      for (const auto& c : configs) {
        settings.method = c.method;
        const auto f = decompose_layer(W.cast<double>(), *c.S, settings, "bench.layer", full, c.rxx);
        compare_with_reference(srr.at(c.key).result, f, c.key);
      }
    std::printf("  srr peak RSS %.0f MB; load average %s\n", peak_rss_mb(RUSAGE_SELF), load_average().c_str());
    if (std::find(opt.peer_shapes.begin(), opt.peer_shapes.end(), shape) == opt.peer_shapes.end()) continue;
    std::string steps = "qer,srr";
    if (in <= opt.sqrtm_max_dim && !sqrtm_measured.count(in)) steps += ",sqrtm";
    if (in <= opt.eigh_max_dim) steps += ",eigh";
    const auto peer = run_peer(opt, shape, opt.rank, steps);
    if (peer.contains("sqrtm")) sqrtm_measured[in] = peer.at("sqrtm").get<double>();
    std::printf("  peer %s; peer peak RSS %.0f MB; load average %s\n", peer.dump().c_str(), peak_rss_mb(RUSAGE_CHILDREN),
                load_average().c_str());
    double sqrtm = NAN;
    std::string sqrtm_note = "measured";
    if (sqrtm_measured.count(in)) {
      sqrtm = sqrtm_measured.at(in);
    } else if (!sqrtm_measured.empty()) {
      const auto& [m0, s0] = *sqrtm_measured.rbegin();
      sqrtm = s0 * std::pow(static_cast<double>(in) / static_cast<double>(m0), 3);
      sqrtm_note = "scaled by m³ from m = " + std::to_string(m0);
    }
    const double p_qer = peer.at("qer").get<double>(), p_srr = peer.at("srr").get<double>();
    const auto ratio = [](const char* what, double peer_s, double srr_s, double target) {
      std::printf("  RATIO %-58s peer %8.2f s / srr %7.2f s = %6.1fx", what, peer_s, srr_s, peer_s / srr_s);
      if (target > 0) std::printf("  (target >= %.0fx: %s)", target, peer_s / srr_s >= target ? "met" : "MISSED");
      std::printf("\n");
    };
    ratio("identity QER vs peer QER", p_qer, srr.at("identity qer").seconds, 0);
    ratio("identity SRR vs peer SRR", p_srr, srr.at("identity srr").seconds, 25);
    if (!std::isnan(sqrtm)) {
      std::printf("  peer sqrtm at m = %ld: %.2f s (%s)\n", static_cast<long>(in), sqrtm, sqrtm_note.c_str());
      ratio("QERA-exact QER + chol/3 vs peer QER + sqrtm/3", p_qer + sqrtm / 3, srr.at("qera-exact qer").seconds + chol_s / 3, 0);
      ratio("QERA-exact SRR + chol/3 vs peer SRR + sqrtm/3", p_srr + sqrtm / 3, srr.at("qera-exact srr").seconds + chol_s / 3,
            20);
      ratio("whitening: chol vs peer sqrtm", sqrtm, chol_s, in >= 11008 ? 20 : 0);
    }
    if (peer.contains("eigh")) ratio("whitening: chol vs numpy eigh", peer.at("eigh").get<double>(), chol_s, 0);
  }
  std::printf("\nload average at the end %s\n", load_average().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  srr::keep_freed_memory();
  const Options opt = parse(argc, argv);
  if (opt.vs_peer) {
    // OpenBLAS reads its thread count when it loads: re-execute with it set, so srr and the peer agree.
    const std::string want = std::to_string(opt.threads);
    const char* have = std::getenv("OPENBLAS_NUM_THREADS");
    if (!have || want != have) {
      setenv("OPENBLAS_NUM_THREADS", want.c_str(), 1);
      execv("/proc/self/exe", argv);
      std::perror("bench_core: re-executing with OPENBLAS_NUM_THREADS");
      return 2;
    }
    try {
      return vs_peer(opt);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_core: %s\n", e.what());
      return 2;
    }
  }
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
          const double svd_flops = krylov_flops(in, out, opt.rank, svd), svd_s = t.seconds.get(Stage::ReconSvd);
          const double tt = t.seconds.get(Stage::Total);
          std::printf("%-11s %-10s %-6s %-8s %8.2f ", shape.c_str(), scale_name.c_str(), method_name.c_str(),
                      label.c_str(), tt);
          if (run_full)
            std::printf("%8.2f %6.1f %5ld %5ld %10.4e %10.2e %10.2e", f.seconds.get(Stage::Total), f.seconds.get(Stage::Total) / tt,
                        static_cast<long>(t.k_star), static_cast<long>(f.k_star), t.rel_error_scaled,
                        rel(t.rel_error_scaled, f.rel_error_scaled), rel(t.rel_error, f.rel_error));
          else
            std::printf("%8s %6s %5ld %5s %10.4e %10s %10s", "-", "-", static_cast<long>(t.k_star), "-",
                        t.rel_error_scaled, "-", "-");
          std::printf(" %8.1f %6.0f%%\n", svd_flops / svd_s / 1e9, 100 * svd_flops / svd_s / 1e9 / sgemm);
          std::printf("    stages (truncated):");
          print_stage_times(t.seconds);
          std::printf("  | scale build %.2f s\n", scale_s);
          std::fflush(stdout);
        }
      }
    }
  }
  return 0;
}
