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
#include <limits>
#include <optional>
#include <set>

#include "model/checkpoint.hpp"
#include "model/forward.hpp"
#include "model/linear_inputs.hpp"
#include "pipeline/calibration.hpp"
#include "pipeline/evaluation.hpp"
#include "pipeline/layer_quantizer.hpp"
#include "store/calibration.hpp"

#include "../model/support.hpp"  // data_file

using namespace srr;
using namespace srr::pipeline;

namespace {

struct Case {
  const char* name;
  const char* model;  // relative to SRR_DATA_DIR
  double fp32_ppl;  // measured once; the forward pass is deterministic
};

TextInput slice(const Case& c, int skip, int count) {
  TextInput in;
  in.model = srr::model::test::data_file(c.model);
  in.text = srr::model::test::data_file("tinystories/tinystories_val_head.txt");
  in.tokenizer_path = find_tokenizer(in.model);
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
  QuantizedLayers layers(ckpt, q, comm);
  return evaluate(ckpt, eval_work(eval, "stream", windows, 0, comm), layers, comm).perplexity();
}

class EndToEnd : public ::testing::TestWithParam<Case> {};

}  // namespace

TEST_P(EndToEnd, CalibrateQuantizeEvaluate) {
  const Case c = GetParam();
  const auto comm = parallel::Communicator::world();
  const auto ckpt = model::Checkpoint::open(srr::model::test::data_file(c.model));
  const TextInput calib_in = slice(c, 0, 8), eval_in = slice(c, 8, 8);  // disjoint windows
  const auto calib_windows = stream_windows(calib_in, ckpt.config().max_pos);
  const auto eval_windows = stream_windows(eval_in, ckpt.config().max_pos);

  Fp32Layers fp32_layers(ckpt);
  const double fp32 = evaluate(ckpt, eval_work(eval_in, "stream", eval_windows, 0, comm), fp32_layers, comm).perplexity();
  EXPECT_NEAR(fp32, c.fp32_ppl, 5e-3 * c.fp32_ppl) << c.name;

  const auto calib = std::filesystem::temp_directory_path() /
                     ("srr-e2e-" + std::string(c.name) + "-" + std::to_string(comm.size()) + ".h5");
  StatisticsMap stats;
  (void)calibrate(ckpt, calib_windows, {}, comm, comm.rank() == 0 ? &stats : nullptr);
  if (comm.rank() == 0) store::write_calibration(calib, stats.stats, "{}");
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
                         ::testing::Values(Case{"stories260K", "stories260K/stories260K.bin", 4.4818},
                                           Case{"tinystories656K", "tinystories-656k", 31.2274}),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

namespace {

/// The whole-model reference calibration (srr ≤ 0.3's): every layer resident, one window at a time through
/// all of them, XᵀX by a rank-T syrk per window in float64, over every window on this rank alone.
std::map<std::string, qer::InputStatistics> reference_statistics(const model::Checkpoint& ckpt,
                                                                 const std::vector<std::vector<int>>& windows) {
  model::Llama llama(ckpt);
  std::map<std::string, qer::InputStatistics> stats;
  for (const auto& name : ckpt.linear_layer_names()) {
    const auto key = model::statistics_key(name);
    if (!stats.count(key)) stats.emplace(key, qer::make_statistics(ckpt.shape(name + ".weight").at(1), true));
  }
  std::set<std::string> seen;
  llama.set_input_hook([&](const std::string& name, const la::Matrix<float>& X) {
    const auto key = model::statistics_key(name);
    if (seen.insert(key).second) stats.at(key).accumulate(X, true);
  });
  for (const auto& w : windows) {
    seen.clear();
    (void)llama.logits(w);
  }
  for (auto& [key, s] : stats) s.symmetrize();
  return stats;
}

/// Layer-sequential statistics on `comm` equal the whole-model reference: tokens and LQER's max exactly (a
/// max is exact in any order, and each window's mean is computed alike), Σx² and XᵀX up to float64 summation
/// order, entry by entry against √(XᵀX_ii·XᵀX_jj) (Cauchy–Schwarz bounds every entry's magnitude by it).
void expect_reference(const std::map<std::string, qer::InputStatistics>& got,
                      const std::map<std::string, qer::InputStatistics>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [key, w] : want) {
    ASSERT_TRUE(got.count(key)) << key;
    const auto& g = got.at(key);
    EXPECT_EQ(g.tokens, w.tokens) << key;
    EXPECT_EQ(g.mean_abs_max, w.mean_abs_max) << key;
    const double tol = 64 * std::sqrt(static_cast<double>(w.tokens)) * std::numeric_limits<double>::epsilon();
    for (std::size_t i = 0; i < w.sum_sq.size(); ++i) EXPECT_NEAR(g.sum_sq[i], w.sum_sq[i], tol * w.sum_sq[i]) << key;
    ASSERT_TRUE(g.has_xtx()) << key;
    double worst = 0;
    for (la::index_t j = 0; j < w.dim; ++j)
      for (la::index_t i = 0; i < w.dim; ++i)
        worst = std::max(worst, std::abs(g.xtx(i, j) - w.xtx(i, j)) / std::sqrt(w.xtx(i, i) * w.xtx(j, j)));
    EXPECT_LT(worst, tol) << key;
  }
}

}  // namespace

TEST(Calibration, LayerSequentialEqualsWholeModelOnAnyRankCount) {
  // Run on np = 1, 2 and 3: the windows are split over the ranks, XᵀX comes in column panels (a 4 KiB bound
  // makes 8-column panels of the 64-wide inputs and 3-column ones of the 172-wide), the statistics are reduced
  // onto rank 0; they must equal rank 0's whole-model reference over all windows alone.
  const auto world = parallel::Communicator::world();
  const Case c{"stories260K", "stories260K/stories260K.bin", 0.0};
  const auto ckpt = model::Checkpoint::open(srr::model::test::data_file(c.model));
  const auto windows = stream_windows(slice(c, 0, 7), ckpt.config().max_pos);
  StatisticsMap map;
  const auto report = calibrate(ckpt, windows, {.with_xtx = true, .panel_bytes = 4096}, world,
                                world.rank() == 0 ? &map : nullptr);
  EXPECT_EQ(report.layers_computed, ckpt.config().layers);
  if (world.rank() == 0) expect_reference(map.stats, reference_statistics(ckpt, windows));

  // The same through the calibration file (format 3, packed XᵀX): what quantize reads is what was computed.
  const auto path = std::filesystem::temp_directory_path() / ("srr-calib-np" + std::to_string(world.size()) + ".h5");
  std::optional<CalibrationFileSink> file;
  if (world.rank() == 0) {
    std::vector<store::CalibrationInput> layout;
    for (int l = 0; l < ckpt.config().layers; ++l)
      for (const auto& [key, m] : layer_inputs(ckpt, l)) layout.push_back({key, m, true});
    store::create_calibration(path, layout, "{}");
    file.emplace(path);
  }
  (void)calibrate(ckpt, windows, {.with_xtx = true, .panel_bytes = 1 << 20}, world, file ? &*file : nullptr);
  if (world.rank() == 0) {
    file->close();
    std::map<std::string, qer::InputStatistics> read;
    for (const auto& [key, s] : map.stats) read[key] = store::read_statistics(path, key);
    expect_reference(read, map.stats);
    std::filesystem::remove(path);
  }
}
