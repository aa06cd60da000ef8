// SPDX-License-Identifier: MIT
// The plan file of srr allocate: a written plan reads back to the same settings, its digest is the SHA-256
// of its bytes, and every kind of bad plan is refused with the file, the line and the layer named.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "base/error.hpp"
#include "model/checkpoint.hpp"
#include "pipeline/allocation_plan.hpp"
#include "../model/support.hpp"  // data_file

using namespace srr;
using namespace srr::pipeline;

namespace {

std::filesystem::path stories() { return model::test::data_file("stories260K/stories260K.bin"); }

/// A plan giving every linear layer of stories260K `bits` and `rank`.
std::string plan_for(const model::Checkpoint& ckpt, int bits, int rank) {
  std::string text = "# a comment\nlayer\tbits\trank\tk_rule\tk_star\n";
  for (const auto& name : ckpt.linear_layer_names())
    text += name + "\t" + std::to_string(bits) + "\t" + std::to_string(rank) + "\tcriterion\t1\n";
  return text;
}

/// The message of the InputError `f` throws (fails the test when it throws nothing or something else).
template <class F>
std::string refusal(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError";
  return {};
}

}  // namespace

TEST(AllocationPlan, CostAccountingMatchesTheStatedFormula) {
  // 64 inputs, 172 outputs, MXINT B32 at 3 bits: 3 + 8/32 bits per weight for Q; bf16 factors 16·r·(in+out).
  quant::QuantSettings q;
  q.scheme = quant::Scheme::Mxint;
  q.width = 3;
  q.block = 32;
  EXPECT_DOUBLE_EQ(quantized_bits(64, 172, q), 64.0 * 172 * (3 + 8.0 / 32));
  EXPECT_DOUBLE_EQ(factor_bits(64, 172, 8), 16.0 * 8 * (64 + 172));
  q.scheme = quant::Scheme::IntGroup;  // float16 scale + w-bit zero point per group
  EXPECT_DOUBLE_EQ(quantized_bits(64, 172, q), 64.0 * 172 * 3 + 172.0 * 2 * (16 + 3));
}

TEST(AllocationPlan, ReadsBackEverySetting) {
  const auto ckpt = model::Checkpoint::open(stories());
  std::string text = plan_for(ckpt, 3, 4);
  const std::string first = ckpt.linear_layer_names().front();
  text.replace(text.find(first + "\t3\t4\tcriterion"), first.size() + 14, first + "\t2\t0\tcriterion");
  const auto plan = parse_plan(text, "p.tsv");
  EXPECT_EQ(plan.sha256.size(), 64u);
  EXPECT_NE(plan.sha256, parse_plan(plan_for(ckpt, 3, 4), "p.tsv").sha256);
  qer::LayerSettings base;
  base.method = qer::Method::Srr;
  base.k_rule = qer::KRule::Fixed;
  base.k = 0;
  const auto s = plan_settings(plan, ckpt, base);
  ASSERT_EQ(s.size(), ckpt.linear_layer_names().size());
  EXPECT_EQ(s[0].first, first);
  EXPECT_EQ(s[0].second.method, qer::Method::WeightOnly);  // rank 0
  EXPECT_EQ(s[0].second.quant.width, 2);
  EXPECT_EQ(s[1].second.method, qer::Method::Srr);
  EXPECT_EQ(s[1].second.rank, 4);
  EXPECT_EQ(s[1].second.quant.width, 3);
  EXPECT_EQ(s[1].second.k_rule, qer::KRule::Criterion);  // the plan's rule, not the base's
}

TEST(AllocationPlan, RefusesMalformedLinesWithFileAndLine) {
  const auto ckpt = model::Checkpoint::open(stories());
  const std::string good = plan_for(ckpt, 3, 4);
  const std::string first = ckpt.linear_layer_names().front();
  const auto with = [&](const std::string& from, const std::string& to) {
    std::string t = good;
    t.replace(t.find(from), from.size(), to);
    return t;
  };
  // Line 3 is the first layer's.
  EXPECT_NE(refusal([&] { parse_plan(with(first + "\t3\t4", first + "\tx\t4"), "p.tsv"); }).find("p.tsv:3: bits 'x'"),
            std::string::npos);
  EXPECT_NE(refusal([&] { parse_plan(with(first + "\t3\t4", first + "\t9\t4"), "p.tsv"); }).find("outside 2..8"),
            std::string::npos);
  EXPECT_NE(refusal([&] { parse_plan(with(first + "\t3\t4", first + "\t1\t4"), "p.tsv"); }).find("p.tsv:3:"),
            std::string::npos);
  EXPECT_NE(refusal([&] { parse_plan(with(first + "\t3\t4\t", first + "\t3\t4 "), "p.tsv"); }).find("p.tsv:3: 4 fields"),
            std::string::npos);
  EXPECT_NE(refusal([&] { parse_plan(with("criterion", "sometimes"), "p.tsv"); }).find("p.tsv:3: layer " + first),
            std::string::npos);
  EXPECT_NE(refusal([&] { parse_plan(with("layer\tbits", "name\tbits"), "p.tsv"); }).find("no column 'layer'"),
            std::string::npos);
  EXPECT_NE(refusal([&] { parse_plan(good + first + "\t3\t4\tcriterion\t1\n", "p.tsv"); }).find("listed twice"),
            std::string::npos);
  EXPECT_NE(refusal([&] { parse_plan("# only comments\n", "p.tsv"); }).find("no header"), std::string::npos);
}

TEST(AllocationPlan, RefusesPlansThatDoNotFitTheCheckpoint) {
  const auto ckpt = model::Checkpoint::open(stories());
  const std::string first = ckpt.linear_layer_names().front();
  const qer::LayerSettings base;
  std::string unknown = plan_for(ckpt, 3, 4) + "model.layers.9.mlp.up_proj\t3\t4\tcriterion\t1\n";
  EXPECT_NE(refusal([&] { plan_settings(parse_plan(unknown, "p.tsv"), ckpt, base); })
                .find("model.layers.9.mlp.up_proj is not a linear layer"),
            std::string::npos);
  std::string missing = plan_for(ckpt, 3, 4);
  missing.erase(missing.find(first), missing.find('\n', missing.find(first)) - missing.find(first) + 1);
  EXPECT_NE(refusal([&] { plan_settings(parse_plan(missing, "p.tsv"), ckpt, base); })
                .find("p.tsv: layer " + first + " of the checkpoint is missing"),
            std::string::npos);
  // Every layer of stories260K has min(in, out) ≥ 32: rank 32 is too large for k_proj (64 → 32).
  EXPECT_NE(refusal([&] { plan_settings(parse_plan(plan_for(ckpt, 3, 32), "p.tsv"), ckpt, base); })
                .find("must be smaller than min(in, out) = 32"),
            std::string::npos);
  EXPECT_NO_THROW(plan_settings(parse_plan(plan_for(ckpt, 3, 31), "p.tsv"), ckpt, base));
}
