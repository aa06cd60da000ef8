// SPDX-License-Identifier: MIT
// Forward and calibration throughput against the machine's measured GEMM rates, on TinyStories-656K (real)
// and a synthetic LLaMA-2-7B-shaped checkpoint of a few decoder layers (hidden 4096, 32 heads, FFN 11008,
// vocab 32000, BF16): the forward should be sgemm-bound, the XᵀX update dgemm-bound (issue 12: ≥ 60 %).
//
//   bench_model [--data DIR] [--synthetic-dir DIR] [--ctx 512] [--windows 2] [--layers 2] [--tokens 512]
//
// Printed: sgemm and dgemm rates (2048², this process's BLAS threads); the XᵀX update (calibrate's panel
// GEMMs, pipeline::xtx_panel) at widths 4096 and 11008 over --tokens tokens, counted as the useful
// m²·T flops of the lower triangle and diagonal, against dgemm; the layer-by-layer forward (LayerwiseForward
// with DecoderLayer::load, as calibrate and eval run it) against sgemm; and calibrate() itself in tokens/s.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "base/heap.hpp"
#include "base/rng.hpp"
#include "base/timer.hpp"
#include "la/lapack.hpp"
#include "model/checkpoint.hpp"
#include "model/forward.hpp"
#include "model/synthetic_checkpoint.hpp"
#include "parallel/mpi.hpp"
#include "pipeline/calibration.hpp"

using namespace srr;

namespace {

template <class T>
double gemm_gflops() {
  const la::index_t n = 2048;
  la::Matrix<T> A(n, n, T(1)), B(n, n, T(0.5)), C(n, n);
  la::gemm(la::Op::N, la::Op::N, T(1), A, B, T(0), C);
  Stopwatch t;
  int reps = 0;
  do {
    la::gemm(la::Op::N, la::Op::N, T(1), A, B, T(0), C);
    ++reps;
  } while (t.seconds() < 2.0);
  return 2.0 * n * n * n * reps / t.seconds() / 1e9;
}

/// Floating-point operations of one forward over T tokens: every linear layer, attention, classifier.
double forward_flops(const model::LlamaConfig& c, double T) {
  const double d = c.hidden, q = c.q_dim(), kv = c.kv_dim(), f = c.intermediate;
  const double linear = 2.0 * T * (d * q + 2 * d * kv + q * d + 3 * d * f);
  const double attention = 2.0 * 2.0 * T * T * q;  // QKᵀ and ·V over all heads (full T×T, as computed)
  return c.layers * (linear + attention) + 2.0 * T * d * c.vocab;
}

std::vector<std::vector<int>> random_windows(int count, int ctx, int vocab) {
  Rng rng(7);
  std::vector<std::vector<int>> w(static_cast<std::size_t>(count), std::vector<int>(static_cast<std::size_t>(ctx)));
  for (auto& win : w)
    for (auto& t : win) t = static_cast<int>(rng.next() % static_cast<std::uint64_t>(vocab));
  return w;
}

/// calibrate()'s XᵀX update of one m-wide input over T tokens, in its default panels.
void xtx_rate(la::index_t m, la::index_t T, double dgemm) {
  la::Matrix<double> X(T, m);
  Rng rng(3);
  for (auto& v : X.values()) v = static_cast<double>(rng.next() % 1000) / 1000.0 - 0.5;
  const la::index_t width = pipeline::xtx_panel_width(m, pipeline::CalibrationSettings{}.panel_bytes);
  std::vector<double> panel(static_cast<std::size_t>(m) * static_cast<std::size_t>(width));
  const auto once = [&] {
    for (la::index_t j0 = 0; j0 < m; j0 += width) (void)pipeline::xtx_panel(X, T, j0, std::min(width, m - j0), panel.data());
  };
  once();  // warm-up
  Stopwatch t;
  int reps = 0;
  do {
    once();
    ++reps;
  } while (t.seconds() < 2.0);
  const double useful = static_cast<double>(m) * (m + 1) * T * reps / t.seconds() / 1e9;  // lower triangle
  std::printf("XᵀX update  m %5ld  T %4ld  panels of %4ld columns  %6.1f GFLOP/s useful (%3.0f%% of dgemm)\n",
              static_cast<long>(m), static_cast<long>(T), static_cast<long>(width), useful, 100 * useful / dgemm);
  std::fflush(stdout);
}

/// Discards what calibrate() produces: the benchmark times the computation, not a file.
class Discard : public pipeline::StatisticsSink {
public:
  bool done(const std::string&) const override { return false; }
  void begin(const std::string&, const qer::InputStatistics&) override {}
  void write_xtx_columns(la::index_t, la::index_t, std::span<const double>) override {}
  void end() override {}
  void commit() override {}
};

void run(const char* label, const std::filesystem::path& path, int ctx, int windows, double sgemm,
         const parallel::Communicator& comm) {
  const auto ckpt = model::Checkpoint::open(path);
  const model::LayerwiseForward forward(ckpt);
  const auto& c = ckpt.config();
  const auto w = random_windows(windows, std::min(ctx, c.max_pos), c.vocab);
  const double T = static_cast<double>(w[0].size());
  std::vector<la::Matrix<float>> hidden;
  Stopwatch fwd;
  for (const auto& win : w) hidden.push_back(forward.embed(win));
  double load_s = 0;
  for (int l = 0; l < c.layers; ++l) {
    Stopwatch load;
    const auto layer = model::DecoderLayer::load(ckpt, l);
    load_s += load.seconds();
    for (auto& X : hidden) forward.apply(layer, X);
  }
  for (const auto& X : hidden) (void)forward.logits(X);
  const double fwd_s = fwd.seconds();
  const double gflops = forward_flops(c, T) * windows / (fwd_s - load_s) / 1e9;
  Discard sink;
  Stopwatch cal;
  const auto report = pipeline::calibrate(ckpt, w, {}, comm, &sink);
  const double cal_s = cal.seconds();
  std::printf("%-16s layers %2d ctx %4.0f  forward %8.1f tokens/s, %6.1f GFLOP/s without the %.2f s of layer "
              "loads (%3.0f%% of sgemm)  calibrate %8.1f tokens/s (forward %.2f s, statistics %.2f s of which XᵀX "
              "%.1f GFLOP)\n",
              label, c.layers, T, T * windows / fwd_s, gflops, load_s, 100 * gflops / sgemm, T * windows / cal_s,
              report.forward_seconds, report.statistics_seconds, static_cast<double>(report.xtx_flops) / 1e9);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  srr::keep_freed_memory();
  parallel::MpiEnvironment env(argc, argv);
  const auto self = parallel::Communicator::world();
  std::filesystem::path data = std::getenv("SRR_DATA_DIR") ? std::getenv("SRR_DATA_DIR") : "../shared/data";
  std::filesystem::path synthetic = std::filesystem::temp_directory_path() / "srr-bench-llama2-7b";
  int ctx = 512, windows = 2, layers = 2, tokens = 512;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--data")) data = argv[i + 1];
    else if (!std::strcmp(argv[i], "--synthetic-dir")) synthetic = argv[i + 1];
    else if (!std::strcmp(argv[i], "--ctx")) ctx = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--windows")) windows = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--layers")) layers = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--tokens")) tokens = std::atoi(argv[i + 1]);
  }
  const double sgemm = gemm_gflops<float>(), dgemm = gemm_gflops<double>();
  std::printf("machine: sgemm %.1f GFLOP/s, dgemm %.1f GFLOP/s (2048², this process's BLAS threads)\n", sgemm, dgemm);
  for (la::index_t m : {4096, 11008}) xtx_rate(m, tokens, dgemm);
  run("TinyStories-656K", data / "tinystories-656k", ctx, windows, sgemm, self);
  std::filesystem::create_directories(synthetic);
  if (!std::filesystem::exists(synthetic / "model.safetensors")) {
    model::LlamaConfig c = model::named_shape("llama2-7b");
    c.layers = layers;
    Stopwatch t;
    model::write_synthetic_llama(synthetic, c, 1);
    std::printf("wrote a synthetic LLaMA-2-7B-shaped checkpoint of %d layers (bf16) in %.1f s\n", layers, t.seconds());
  }
  run("LLaMA-2-7B-shape", synthetic, ctx, windows, sgemm, self);
  return 0;
}
