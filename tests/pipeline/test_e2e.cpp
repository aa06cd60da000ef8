// SPDX-License-Identifier: MIT
// End to end on both real checkpoints: calibrate on one TinyStories slice, quantize every linear layer
// with every scale × {QER, SRR} × rank at 3-bit MXINT B32, evaluate on a disjoint slice. Run on 1 and 2
// ranks. The tolerances are tight enough to catch a broken forward pass (FP32 perplexity pinned to 0.5 %)
// or a broken statistic (activation-aware scales must beat the identity at every rank).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "model/checkpoint.hpp"
#include "pipeline/calibration.hpp"
#include "pipeline/evaluation.hpp"
#include "pipeline/layer_quantizer.hpp"
#include "store/calibration.hpp"

using namespace srr;
using namespace srr::pipeline;

namespace {

std::filesystem::path data_dir() {
  const char* d = std::getenv("SRR_DATA_DIR");
  if (!d) throw std::runtime_error("SRR_DATA_DIR is not set");
  return d;
}

struct Case {
  const char* name;
  std::filesystem::path model;
  double fp32_ppl;  // measured once; the forward pass is deterministic
};

TextInput slice(const Case& c, int skip, int count) {
  TextInput in;
  in.model = c.model;
  in.text = data_dir() / "tinystories/tinystories_val_head.txt";
  in.tokenizer_path = find_tokenizer(c.model);
  in.tokenizer = model::load_tokenizer(in.tokenizer_path);
  in.max_chars = 200000;
  in.ctx = 256;
  in.skip_windows = skip;
  in.windows = count;
  return in;
}

qer::MethodSettings method(qer::Method m, qer::ScaleKind scale, la::index_t rank) {
  qer::MethodSettings c;
  c.layer.method = m;
  c.layer.rank = rank;
  c.layer.quant = {quant::Scheme::Mxint, 3, 32};
  c.scale.kind = scale;
  return c;
}

/// Perplexity on the evaluation slice with every linear layer replaced as `cfg` says.
double quantized_ppl(const model::Checkpoint& ckpt, const qer::MethodSettings& cfg,
                     const std::filesystem::path& calib, const TextInput& eval,
                     const std::vector<std::vector<int>>& windows, const parallel::Communicator& comm) {
  LayerQuantizer q(ckpt, cfg, calib);
  model::Llama llama(ckpt);
  for (auto& [name, o] : quantize_all(ckpt, q, comm)) llama.replace_linear(name, std::move(o));
  return evaluate(llama, eval, "stream", windows, comm).perplexity();
}

class EndToEnd : public ::testing::TestWithParam<Case> {};

}  // namespace

TEST_P(EndToEnd, CalibrateQuantizeEvaluate) {
  const Case c = GetParam();
  const auto comm = parallel::Communicator::world();
  const auto ckpt = model::Checkpoint::open(c.model);
  model::Llama llama(ckpt);
  const TextInput calib_in = slice(c, 0, 8), eval_in = slice(c, 8, 8);  // disjoint windows
  const auto calib_windows = stream_windows(calib_in, llama.config().max_pos);
  const auto eval_windows = stream_windows(eval_in, llama.config().max_pos);

  const double fp32 = evaluate(llama, eval_in, "stream", eval_windows, comm).perplexity();
  EXPECT_NEAR(fp32, c.fp32_ppl, 5e-3 * c.fp32_ppl) << c.name;

  const auto stats = calibrate(llama, ckpt, calib_windows, true, comm);
  const auto calib = std::filesystem::temp_directory_path() /
                     ("srr-e2e-" + std::string(c.name) + "-" + std::to_string(comm.size()) + ".h5");
  if (comm.rank() == 0) store::write_calibration(calib, stats, "{}");
  comm.barrier();

  const double w_only = quantized_ppl(ckpt, method(qer::Method::WeightOnly, qer::ScaleKind::Identity, 4), calib,
                                      eval_in, eval_windows, comm);
  if (comm.rank() == 0) std::printf("%s: FP32 %.4f, 3-bit w-only %.4f\n", c.name, fp32, w_only);
  EXPECT_GT(w_only, fp32);
  const qer::ScaleKind scales[] = {qer::ScaleKind::Identity, qer::ScaleKind::Lqer, qer::ScaleKind::QeraApprox,
                                   qer::ScaleKind::QeraExact};
  for (la::index_t rank : {4, 8, 16}) {
    double identity_qer = 0;
    for (auto scale : scales)
      for (auto m : {qer::Method::Qer, qer::Method::Srr}) {
        const double ppl = quantized_ppl(ckpt, method(m, scale, rank), calib, eval_in, eval_windows, comm);
        if (comm.rank() == 0)
          std::printf("%s r=%2ld %-11s %-3s ppl %.4f\n", c.name, static_cast<long>(rank), qer::to_string(scale).c_str(),
                      qer::to_string(m).c_str(), ppl);
        EXPECT_GT(ppl, fp32);
        EXPECT_LT(ppl, w_only) << "the low-rank repair must help: " << qer::to_string(scale) << " r=" << rank;
        if (scale == qer::ScaleKind::Identity && m == qer::Method::Qer) identity_qer = ppl;
        if (scale == qer::ScaleKind::QeraExact && m == qer::Method::Qer) {
          EXPECT_LT(ppl, identity_qer) << "statistics must make QERA-exact beat the identity scale at r=" << rank;
        }
      }
  }
  comm.barrier();
  if (comm.rank() == 0) std::filesystem::remove(calib);
}

INSTANTIATE_TEST_SUITE_P(RealCheckpoints, EndToEnd,
                         ::testing::Values(Case{"stories260K", data_dir() / "stories260K/stories260K.bin", 4.4818},
                                           Case{"tinystories656K", data_dir() / "tinystories-656k", 31.2274}),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Calibration, AnyRankCountGivesTheSameStatistics) {
  // The world communicator splits the windows; a per-rank self communicator makes each rank do all of
  // them alone. The two must agree up to float64 summation order.
  const auto world = parallel::Communicator::world();
  const auto self = world.split(world.rank(), 0);
  const Case c{"stories260K", data_dir() / "stories260K/stories260K.bin", 0.0};
  const auto ckpt = model::Checkpoint::open(c.model);
  model::Llama llama(ckpt);
  const auto windows = stream_windows(slice(c, 0, 6), llama.config().max_pos);
  const auto split = calibrate(llama, ckpt, windows, true, world);
  const auto alone = calibrate(llama, ckpt, windows, true, self);
  ASSERT_EQ(split.size(), alone.size());
  for (const auto& [key, s] : split) {
    const auto& a = alone.at(key);
    EXPECT_EQ(s.tokens, a.tokens) << key;
    EXPECT_EQ(s.mean_abs_max, a.mean_abs_max) << key;  // a max is exact in any order
    for (std::size_t i = 0; i < s.sum_sq.size(); ++i) EXPECT_NEAR(s.sum_sq[i], a.sum_sq[i], 1e-12 * a.sum_sq[i]);
    double diff = 0, norm = 0;
    for (la::index_t i = 0; i < s.xtx.size(); ++i) {
      diff += std::pow(s.xtx.data()[i] - a.xtx.data()[i], 2);
      norm += a.xtx.data()[i] * a.xtx.data()[i];
    }
    EXPECT_LT(std::sqrt(diff / norm), 1e-13) << key;
  }
}
