// SPDX-License-Identifier: MIT
// The BLAS-3 window forward pass against an independent float64 implementation written the way llama2.c
// run.c is (one token at a time with a key/value cache, plain loops over the stored [out][in] weights),
// on both real checkpoints and on a synthetic untied model; weight replacement and the input hook.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "base/error.hpp"
#include "base/rng.hpp"
#include "model/checkpoint.hpp"
#include "model/synthetic_checkpoint.hpp"
#include "model/forward.hpp"
#include "support.hpp"

using namespace srr::model;
using namespace srr::model::test;
using srr::la::Matrix;

namespace {

/// The reference: float64 throughout, per-token incremental decoding.
class Reference {
public:
  explicit Reference(const Checkpoint& ck) : c_(ck.config()) {
    auto load = [&](const std::string& name) {
      const auto f = ck.read_f32(name);
      return std::vector<double>(f.begin(), f.end());
    };
    embed_ = load("model.embed_tokens.weight");
    head_ = load("lm_head.weight");
    norm_ = load("model.norm.weight");
    for (int l = 0; l < c_.layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      layers_.push_back({load(p + "input_layernorm.weight"), load(p + "post_attention_layernorm.weight"),
                         load(p + "self_attn.q_proj.weight"), load(p + "self_attn.k_proj.weight"),
                         load(p + "self_attn.v_proj.weight"), load(p + "self_attn.o_proj.weight"),
                         load(p + "mlp.gate_proj.weight"), load(p + "mlp.up_proj.weight"),
                         load(p + "mlp.down_proj.weight")});
    }
  }

  /// logits[t][v] for every position.
  std::vector<std::vector<double>> run(const std::vector<int>& tokens) const {
    const int d = c_.hidden, hd = c_.head_dim, qd = c_.heads * hd, kvd = c_.kv_heads * hd, f = c_.intermediate;
    std::vector<std::vector<std::vector<double>>> kcache(c_.layers), vcache(c_.layers);
    std::vector<std::vector<double>> out;
    for (std::size_t pos = 0; pos < tokens.size(); ++pos) {
      std::vector<double> x(embed_.begin() + static_cast<long>(tokens[pos]) * d,
                            embed_.begin() + static_cast<long>(tokens[pos] + 1) * d);
      for (int l = 0; l < c_.layers; ++l) {
        const Layer& L = layers_[static_cast<std::size_t>(l)];
        const auto xn = rmsnorm(x, L.attn_norm);
        auto q = matvec(L.wq, xn, qd), k = matvec(L.wk, xn, kvd);
        const auto v = matvec(L.wv, xn, kvd);
        rope(q, c_.heads, static_cast<int>(pos));
        rope(k, c_.kv_heads, static_cast<int>(pos));
        kcache[l].push_back(k);
        vcache[l].push_back(v);
        std::vector<double> att(static_cast<std::size_t>(qd), 0.0);
        for (int h = 0; h < c_.heads; ++h) {
          const int g = h / (c_.heads / c_.kv_heads);
          std::vector<double> s(pos + 1);
          double mx = -1e300;
          for (std::size_t t = 0; t <= pos; ++t) {
            double dot = 0;
            for (int i = 0; i < hd; ++i) dot += q[h * hd + i] * kcache[l][t][g * hd + i];
            s[t] = dot / std::sqrt(static_cast<double>(hd));
            mx = std::max(mx, s[t]);
          }
          double sum = 0;
          for (auto& e : s) sum += (e = std::exp(e - mx));
          for (std::size_t t = 0; t <= pos; ++t)
            for (int i = 0; i < hd; ++i) att[h * hd + i] += s[t] / sum * vcache[l][t][g * hd + i];
        }
        const auto o = matvec(L.wo, att, d);
        for (int i = 0; i < d; ++i) x[i] += o[i];
        const auto xf = rmsnorm(x, L.ffn_norm);
        auto gate = matvec(L.w1, xf, f);
        const auto up = matvec(L.w3, xf, f);
        for (int i = 0; i < f; ++i) gate[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
        const auto down = matvec(L.w2, gate, d);
        for (int i = 0; i < d; ++i) x[i] += down[i];
      }
      out.push_back(matvec(head_, rmsnorm(x, norm_), c_.vocab));
    }
    return out;
  }

private:
  struct Layer {
    std::vector<double> attn_norm, ffn_norm, wq, wk, wv, wo, w1, w3, w2;
  };
  static std::vector<double> matvec(const std::vector<double>& w, const std::vector<double>& x, int rows) {
    const std::size_t n = x.size();
    std::vector<double> y(static_cast<std::size_t>(rows), 0.0);
    for (std::size_t r = 0; r < y.size(); ++r)
      for (std::size_t i = 0; i < n; ++i) y[r] += w[r * n + i] * x[i];
    return y;
  }
  std::vector<double> rmsnorm(const std::vector<double>& x, const std::vector<double>& w) const {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double s = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + c_.rms_eps);
    std::vector<double> y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = w[i] * x[i] * s;
    return y;
  }
  void rope(std::vector<double>& v, int heads, int pos) const {
    const int hd = c_.head_dim;
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < hd / 2; ++i) {
        const double angle = pos / std::pow(c_.rope_theta, 2.0 * i / hd);
        const int a = h * hd + (c_.rope_interleaved ? 2 * i : i);
        const int b = c_.rope_interleaved ? a + 1 : a + hd / 2;
        const double x0 = v[a], x1 = v[b];
        v[a] = x0 * std::cos(angle) - x1 * std::sin(angle);
        v[b] = x0 * std::sin(angle) + x1 * std::cos(angle);
      }
  }
  LlamaConfig c_;
  std::vector<double> embed_, head_, norm_;
  std::vector<Layer> layers_;
};

std::vector<int> random_tokens(int n, int vocab, std::uint64_t seed) {
  srr::Rng rng(seed);
  std::vector<int> t = {1};
  while (static_cast<int>(t.size()) < n) t.push_back(static_cast<int>(rng.next() % static_cast<std::uint64_t>(vocab)));
  return t;
}

/// max |ours − ref| / max |ref| over all positions and tokens.
double relative_error(const Matrix<float>& ours, const std::vector<std::vector<double>>& ref) {
  double diff = 0, scale = 0;
  for (std::size_t t = 0; t < ref.size(); ++t)
    for (std::size_t v = 0; v < ref[t].size(); ++v) {
      diff = std::max(diff, std::abs(ours(static_cast<long>(v), static_cast<long>(t)) - ref[t][v]));
      scale = std::max(scale, std::abs(ref[t][v]));
    }
  return diff / scale;
}

double relative_error(const Matrix<float>& a, const Matrix<float>& b) {
  double diff = 0, scale = 0;
  for (long i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(double(a.data()[i]) - b.data()[i]));
    scale = std::max(scale, std::abs(double(b.data()[i])));
  }
  return diff / scale;
}

void expect_matches_reference(const Checkpoint& ck, int n, std::uint64_t seed) {
  const Llama model(ck);
  const auto tokens = random_tokens(n, ck.config().vocab, seed);
  const Matrix<float> lg = model.logits(tokens);
  ASSERT_EQ(lg.rows(), ck.config().vocab);
  ASSERT_EQ(lg.cols(), n);
  const auto ref = Reference(ck).run(tokens);
  const double err = relative_error(lg, ref);
  std::cout << "max relative logit error vs float64 reference over " << n << " tokens: " << err << "\n";
  EXPECT_LT(err, 1e-4);

  // mean_nll against the reference's log-softmax.
  double total = 0;
  for (int p = 1; p < n; ++p) {
    const auto& col = ref[static_cast<std::size_t>(p - 1)];
    const double mx = *std::max_element(col.begin(), col.end());
    double sum = 0;
    for (double v : col) sum += std::exp(v - mx);
    total += mx + std::log(sum) - col[static_cast<std::size_t>(tokens[static_cast<std::size_t>(p)])];
  }
  EXPECT_NEAR(mean_nll(lg, tokens, 1), total / (n - 1), 1e-4);
}

LlamaConfig tiny_config() {
  LlamaConfig c;
  c.hidden = 32;
  c.layers = 2;
  c.heads = 8;
  c.kv_heads = 2;  // 4 query heads per key/value head
  c.head_dim = 4;
  c.intermediate = 40;
  c.vocab = 50;
  c.max_pos = 64;
  c.rms_eps = 1e-6;
  c.rope_theta = 500.0;
  c.tied_embeddings = false;
  return c;
}

Matrix<float> random_matrix(long rows, long cols, double scale, std::uint64_t seed) {
  srr::Rng rng(seed);
  Matrix<float> m(rows, cols);
  for (auto& v : m.values()) v = static_cast<float>(scale * rng.normal());
  return m;
}

}  // namespace

TEST(Forward, Stories260KMatchesFloat64Reference) {
  expect_matches_reference(Checkpoint::open(data_file("stories260K/stories260K.bin")), 512, 11);
}

TEST(Forward, TinyStories656KMatchesFloat64Reference) {
  expect_matches_reference(Checkpoint::open(data_file("tinystories-656k")), 512, 12);
}

TEST(Forward, SyntheticUntiedGqaModelMatchesFloat64Reference) {
  TempDir dir;
  write_synthetic_llama(dir.path(), tiny_config(), 5, DType::F32);
  expect_matches_reference(Checkpoint::open(dir.path()), 64, 13);
}

TEST(Forward, ReplacingWithTheSameWeightChangesNothing) {
  const auto ck = Checkpoint::open(data_file("tinystories-656k"));
  Llama model(ck);
  const auto tokens = random_tokens(40, ck.config().vocab, 3);
  const Matrix<float> before = model.logits(tokens);
  bool odd = false;
  for (const auto& name : ck.linear_layer_names()) {
    const auto W = ck.linear_weight(name);
    // Rank 0 both as empty matrices and as in×0 / 0×out.
    LinearOverride o{W, odd ? Matrix<float>(W.rows(), 0) : Matrix<float>(),
                     odd ? Matrix<float>(0, W.cols()) : Matrix<float>()};
    model.replace_linear(name, std::move(o));
    odd = !odd;
  }
  const Matrix<float> after = model.logits(tokens);
  ASSERT_EQ(after.size(), before.size());
  for (long i = 0; i < after.size(); ++i) ASSERT_EQ(after.data()[i], before.data()[i]) << i;
}

TEST(Forward, LowRankSplitGivesTheSameLogits) {
  const auto ck = Checkpoint::open(data_file("stories260K/stories260K.bin"));
  Llama model(ck);
  const auto tokens = random_tokens(100, ck.config().vocab, 4);
  const Matrix<float> before = model.logits(tokens);
  std::uint64_t seed = 100;
  for (const auto& name : ck.linear_layer_names()) {
    const auto W = ck.linear_weight(name);
    const long r = 5;
    // A·B of the same size as W's entries, so Q = W − A·B is genuinely different from W.
    Matrix<float> A = random_matrix(W.rows(), r, 0.3, seed++), B = random_matrix(r, W.cols(), 0.3, seed++);
    Matrix<float> Q(W.rows(), W.cols());
    for (long j = 0; j < W.cols(); ++j)
      for (long i = 0; i < W.rows(); ++i) {
        double ab = 0;
        for (long p = 0; p < r; ++p) ab += double(A(i, p)) * B(p, j);
        Q(i, j) = static_cast<float>(W(i, j) - ab);
      }
    model.replace_linear(name, {std::move(Q), std::move(A), std::move(B)});
  }
  const double err = relative_error(model.logits(tokens), before);
  std::cout << "relative logit change after W -> (W - AB) + A·B: " << err << "\n";
  EXPECT_LT(err, 1e-5);
}

TEST(Forward, ReplacementActuallyChangesTheModel) {
  const auto ck = Checkpoint::open(data_file("stories260K/stories260K.bin"));
  Llama model(ck);
  const auto tokens = random_tokens(20, ck.config().vocab, 5);
  const Matrix<float> before = model.logits(tokens);
  const auto W = ck.linear_weight("model.layers.2.mlp.down_proj");
  model.replace_linear("model.layers.2.mlp.down_proj", {Matrix<float>(W.rows(), W.cols()), {}, {}});
  EXPECT_GT(relative_error(model.logits(tokens), before), 1e-3);
}

TEST(Forward, BadReplacementsAndInputsAreInputErrors) {
  const auto ck = Checkpoint::open(data_file("stories260K/stories260K.bin"));
  Llama model(ck);
  const auto W = ck.linear_weight("model.layers.0.mlp.up_proj");  // 64×172
  EXPECT_THROW(model.replace_linear("lm_head", {W, {}, {}}), srr::InputError);
  EXPECT_THROW(model.replace_linear("model.layers.0.mlp.down_proj", {W, {}, {}}), srr::InputError);
  EXPECT_THROW(model.replace_linear("model.layers.0.mlp.up_proj", {W.transposed(), {}, {}}), srr::InputError);
  EXPECT_THROW(model.replace_linear("model.layers.0.mlp.up_proj", {W, Matrix<float>(64, 3), Matrix<float>(2, 172)}),
               srr::InputError);
  EXPECT_THROW(model.replace_linear("model.layers.0.mlp.up_proj", {W, Matrix<float>(63, 3), Matrix<float>(3, 172)}),
               srr::InputError);
  EXPECT_THROW(model.replace_linear("model.layers.0.mlp.up_proj", {W, Matrix<float>(64, 3), {}}), srr::InputError);

  const std::vector<int> ok = {1, 2, 3};
  EXPECT_NO_THROW(model.logits(ok));
  EXPECT_THROW(model.logits(std::vector<int>{1, 512}), srr::InputError);
  EXPECT_THROW(model.logits(std::vector<int>{1, -1}), srr::InputError);
  EXPECT_THROW(model.logits(std::vector<int>{}), srr::InputError);
  EXPECT_THROW(model.logits(std::vector<int>(513, 1)), srr::InputError);
  EXPECT_NO_THROW(model.logits(std::vector<int>(512, 1)));
  EXPECT_THROW(model.generate_greedy(1, 512), srr::InputError);
  const auto lg = model.logits(ok);
  EXPECT_THROW(mean_nll(lg, ok, 0), srr::InputError);
  EXPECT_THROW(mean_nll(lg, ok, 3), srr::InputError);
  EXPECT_THROW(mean_nll(lg, std::vector<int>{1, 2, 999}, 1), srr::InputError);
}

TEST(Forward, HookSeesEveryLinearInputWithItsShape) {
  const auto ck = Checkpoint::open(data_file("tinystories-656k"));
  const LlamaConfig& c = ck.config();
  Llama model(ck);
  struct Seen {
    std::string name;
    Matrix<float> X;
  };
  std::vector<Seen> seen;
  model.set_input_hook([&](const std::string& name, const Matrix<float>& X) { seen.push_back({name, X}); });
  const auto tokens = random_tokens(30, c.vocab, 6);
  const Matrix<float> lg = model.logits(tokens);
  const auto names = ck.linear_layer_names();
  ASSERT_EQ(seen.size(), names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(seen[i].name, names[i]);
    EXPECT_EQ(seen[i].X.rows(), 30);
    EXPECT_EQ(seen[i].X.cols(), ck.linear_weight(names[i]).rows()) << names[i];  // T×in
  }
  // q, k and v share one input, gate and up another.
  for (int l = 0; l < c.layers; ++l) {
    const std::size_t b = 7 * static_cast<std::size_t>(l);
    EXPECT_EQ(seen[b].X.values().size(), seen[b + 2].X.values().size());
    EXPECT_TRUE(std::equal(seen[b].X.values().begin(), seen[b].X.values().end(), seen[b + 1].X.values().begin()));
    EXPECT_TRUE(std::equal(seen[b].X.values().begin(), seen[b].X.values().end(), seen[b + 2].X.values().begin()));
    EXPECT_TRUE(
        std::equal(seen[b + 4].X.values().begin(), seen[b + 4].X.values().end(), seen[b + 5].X.values().begin()));
  }
  // The first input is RMSNorm of the embeddings, computed here independently.
  const auto emb = ck.read_f32("model.embed_tokens.weight");
  const auto w = ck.read_f32("model.layers.0.input_layernorm.weight");
  for (int t : {0, 17, 29}) {
    double ss = 0;
    for (int j = 0; j < c.hidden; ++j) ss += std::pow(emb[static_cast<std::size_t>(tokens[t] * c.hidden + j)], 2);
    const double s = 1 / std::sqrt(ss / c.hidden + c.rms_eps);
    for (int j : {0, 64, 127})
      EXPECT_NEAR(seen[0].X(t, j), w[j] * emb[static_cast<std::size_t>(tokens[t] * c.hidden + j)] * s, 1e-5);
  }
  // The hook observes; it does not change the result.
  model.set_input_hook(nullptr);
  EXPECT_EQ(relative_error(model.logits(tokens), lg), 0.0);
}

TEST(Forward, GreedyGenerationFollowsTheLogits) {
  const auto ck = Checkpoint::open(data_file("tinystories-656k"));
  const Llama model(ck);
  const auto ids = model.generate_greedy(1, 20);
  ASSERT_EQ(ids.size(), 20u);
  std::vector<int> window = {1};
  window.insert(window.end(), ids.begin(), ids.end());
  const auto lg = model.logits(window);
  for (int t = 0; t < 20; ++t) {
    const float* col = lg.col(t);
    EXPECT_EQ(ids[static_cast<std::size_t>(t)], std::max_element(col, col + lg.rows()) - col) << t;
  }
  EXPECT_TRUE(model.generate_greedy(1, 0).empty());
}
