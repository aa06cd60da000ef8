// SPDX-License-Identifier: MIT
// Forward and calibration throughput on TinyStories-656K (real) and a synthetic TinyLlama-shaped
// checkpoint (hidden 2048, 22 layers, 32 heads / 4 kv heads, FFN 5632, vocab 32000), against the
// machine's measured sgemm rate: the forward should be GEMM-bound, not loop-bound.
//
//   bench_model [--data DIR] [--synthetic-dir DIR] [--ctx 256] [--windows 2]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "pipeline/calibration.hpp"
#include "base/rng.hpp"
#include "base/timer.hpp"
#include "parallel/mpi.hpp"
#include "la/lapack.hpp"
#include "model/checkpoint.hpp"
#include "model/synthetic_checkpoint.hpp"

using namespace srr;

namespace {

double sgemm_gflops() {
  const la::index_t n = 2048;
  la::Matrix<float> A(n, n, 1.0f), B(n, n, 0.5f), C(n, n);
  la::gemm(la::Op::N, la::Op::N, 1.0f, A, B, 0.0f, C);
  Stopwatch t;
  int reps = 0;
  do {
    la::gemm(la::Op::N, la::Op::N, 1.0f, A, B, 0.0f, C);
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

void run(const char* label, const std::filesystem::path& path, int ctx, int windows, double peak,
         const parallel::Communicator& comm) {
  Stopwatch load;
  const auto ckpt = model::Checkpoint::open(path);
  model::Llama llama(ckpt);
  const double load_s = load.seconds();
  const auto w = random_windows(windows, std::min(ctx, llama.config().max_pos), llama.config().vocab);
  const double T = static_cast<double>(w[0].size());
  (void)llama.logits(w[0]);  // warm-up
  Stopwatch fwd;
  for (const auto& win : w) (void)llama.logits(win);
  const double fwd_s = fwd.seconds();
  const double gflops = forward_flops(llama.config(), T) * windows / fwd_s / 1e9;
  Stopwatch cal;
  (void)pipeline::calibrate(llama, ckpt, w, true, comm);
  const double cal_s = cal.seconds();
  std::printf("%-16s ctx %4.0f  load %6.2f s  forward %9.1f tokens/s  %6.1f GFLOP/s (%3.0f%% of sgemm)  "
              "calibrate (with XᵀX) %9.1f tokens/s\n",
              label, T, load_s, T * windows / fwd_s, gflops, 100 * gflops / peak, T * windows / cal_s);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  parallel::MpiEnvironment env(argc, argv);
  const auto self = parallel::Communicator::world();
  std::filesystem::path data = std::getenv("SRR_DATA_DIR") ? std::getenv("SRR_DATA_DIR") : "../shared/data";
  std::filesystem::path synthetic = std::filesystem::temp_directory_path() / "srr-bench-tinyllama";
  int ctx = 256, windows = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--data")) data = argv[i + 1];
    else if (!std::strcmp(argv[i], "--synthetic-dir")) synthetic = argv[i + 1];
    else if (!std::strcmp(argv[i], "--ctx")) ctx = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--windows")) windows = std::atoi(argv[i + 1]);
  }
  const double peak = sgemm_gflops();
  std::printf("machine: sgemm %.1f GFLOP/s (2048², this process's BLAS threads)\n", peak);
  run("TinyStories-656K", data / "tinystories-656k", ctx, windows, peak, self);
  if (!std::filesystem::exists(synthetic / "model.safetensors")) {
    model::LlamaConfig c;
    c.hidden = 2048, c.layers = 22, c.heads = 32, c.kv_heads = 4, c.head_dim = 64, c.intermediate = 5632;
    c.vocab = 32000, c.max_pos = 2048, c.rms_eps = 1e-5;
    Stopwatch t;
    model::write_synthetic_llama(synthetic, c, 1);
    std::printf("wrote synthetic TinyLlama-shaped checkpoint (bf16) in %.1f s\n", t.seconds());
  }
  run("TinyLlama-shape", synthetic, ctx, windows, peak, self);
  return 0;
}
