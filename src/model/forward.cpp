// SPDX-License-Identifier: MIT
#include "model/forward.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/error.hpp"
#include "la/lapack.hpp"

namespace srr::model {

using la::index_t;
using la::Matrix;
using la::Op;

namespace {

/// How much of the head is converted to float32 at once: the whole of a small model's (so its logits are one
/// gemm), 64 MiB slices of a large vocabulary's.
constexpr std::size_t k_head_slice_bytes = 64u << 20;

}  // namespace

// ---- Linear and DecoderLayer ----

Matrix<float> Linear::apply(const Matrix<float>& X) const {
  Matrix<float> Y = la::matmul(X, W);
  if (!L.empty()) {
    const Matrix<float> Z = la::matmul(X, L);  // T×r
    la::gemm(Op::N, Op::N, 1.0f, Z, R, 1.0f, Y);
  }
  return Y;
}

DecoderLayer DecoderLayer::load(const Checkpoint& ck, int index) {
  const LlamaConfig& c = ck.config();
  require(index >= 0 && index < c.layers, "decoder layer ", index, " outside [0, ", c.layers, ")");
  DecoderLayer l;
  l.index = index;
  const std::string p = "model.layers." + std::to_string(index) + ".";
  l.attn_norm = ck.read_f32(p + "input_layernorm.weight");
  l.ffn_norm = ck.read_f32(p + "post_attention_layernorm.weight");
  const auto names = linear_layer_names(c);
  Linear* lin[7] = {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down};  // linear_layer_names() order
  for (int j = 0; j < 7; ++j) {
    lin[j]->name = names[static_cast<std::size_t>(7 * index + j)];
    lin[j]->W = ck.linear_weight(lin[j]->name);  // releases its mapped pages: the float32 copy is what we hold
  }
  return l;
}

Linear* DecoderLayer::find_linear(const std::string& name) {
  for (Linear* lin : {&q, &k, &v, &o, &gate, &up, &down})
    if (lin->name == name) return lin;
  return nullptr;
}

void DecoderLayer::replace_linear(const std::string& name, LinearOverride r) {
  Linear* lin = find_linear(name);
  require(lin != nullptr, "replace_linear: \"", name, "\" is not a linear layer of decoder layer ", index,
          " (expected e.g. ", q.name, ")");
  const index_t in = lin->W.rows(), out = lin->W.cols();
  require(r.Q.rows() == in && r.Q.cols() == out, "replace_linear ", name, ": Q is ", r.Q.rows(), "×",
          r.Q.cols(), ", the layer is ", in, "×", out);
  const bool rank0 = r.L.cols() == 0 && r.R.rows() == 0;
  if (!rank0) {
    require(r.L.rows() == in && r.R.cols() == out && r.L.cols() == r.R.rows(), "replace_linear ", name, ": L is ",
            r.L.rows(), "×", r.L.cols(), " and R is ", r.R.rows(), "×", r.R.cols(), ", need ", in, "×r and r×",
            out);
  }
  lin->W = std::move(r.Q);
  lin->L = rank0 ? Matrix<float>() : std::move(r.L);
  lin->R = rank0 ? Matrix<float>() : std::move(r.R);
}

std::size_t DecoderLayer::bytes() const {
  std::size_t n = attn_norm.size() + ffn_norm.size();
  for (const Linear* lin : {&q, &k, &v, &o, &gate, &up, &down})
    n += static_cast<std::size_t>(lin->W.size() + lin->L.size() + lin->R.size());
  return n * sizeof(float);
}

// ---- LayerwiseForward ----

LayerwiseForward::LayerwiseForward(const Checkpoint& ck)
    : ckpt_(ck),
      config_(ck.config()),
      head_(ck.config().tied_embeddings ? "model.embed_tokens.weight" : "lm_head.weight"),
      final_norm_(ck.read_f32("model.norm.weight")) {
  const LlamaConfig& c = config_;
  // RoPE angles in double, rounded once: position·θ^(−2i/d) loses ~1e-5 rad in float at position 512.
  const int half = c.head_dim / 2;
  // The table covers the positions a window can use, at most kRopePositions: max_position_embeddings comes
  // from config.json and bounds nothing we can check against the weights (longer windows are refused).
  rope_positions_ = std::min(c.max_pos, kRopePositions);
  cos_.resize(static_cast<std::size_t>(rope_positions_) * half);
  sin_.resize(cos_.size());
  for (int pos = 0; pos < rope_positions_; ++pos)
    for (int i = 0; i < half; ++i) {
      const double angle = pos * std::pow(c.rope_theta, -2.0 * i / c.head_dim);
      cos_[static_cast<std::size_t>(pos) * half + i] = static_cast<float>(std::cos(angle));
      sin_[static_cast<std::size_t>(pos) * half + i] = static_cast<float>(std::sin(angle));
    }
}

Matrix<float> LayerwiseForward::rms_norm(const Matrix<float>& X, const std::vector<float>& w) const {
  const index_t T = X.rows(), d = X.cols();
  std::vector<double> ss(static_cast<std::size_t>(T), 0.0);
  for (index_t j = 0; j < d; ++j) {
    const float* x = X.col(j);
    for (index_t t = 0; t < T; ++t) ss[t] += static_cast<double>(x[t]) * x[t];
  }
  std::vector<float> scale(ss.size());
  for (std::size_t t = 0; t < ss.size(); ++t)
    scale[t] = static_cast<float>(1.0 / std::sqrt(ss[t] / static_cast<double>(d) + config_.rms_eps));
  Matrix<float> Y(T, d);
  for (index_t j = 0; j < d; ++j) {
    const float* x = X.col(j);
    float* y = Y.col(j);
    const float wj = w[static_cast<std::size_t>(j)];
    for (index_t t = 0; t < T; ++t) y[t] = wj * (x[t] * scale[t]);
  }
  return Y;
}

void LayerwiseForward::rope(Matrix<float>& X, int heads) const {
  const index_t T = X.rows();
  const int hd = config_.head_dim, half = hd / 2;
  for (int h = 0; h < heads; ++h)
    for (int i = 0; i < half; ++i) {
      // The two columns rotated together: adjacent (llama2.c) or half a head apart (HF rotate_half).
      const index_t c0 = static_cast<index_t>(h) * hd + (config_.rope_interleaved ? 2 * i : i);
      const index_t c1 = c0 + (config_.rope_interleaved ? 1 : half);
      float* x0 = X.col(c0);
      float* x1 = X.col(c1);
      for (index_t t = 0; t < T; ++t) {
        const float c = cos_[static_cast<std::size_t>(t) * half + i], s = sin_[static_cast<std::size_t>(t) * half + i];
        const float a = x0[t], b = x1[t];
        x0[t] = a * c - b * s;
        x1[t] = a * s + b * c;
      }
    }
}

Matrix<float> LayerwiseForward::attention(const Matrix<float>& Q, const Matrix<float>& K, const Matrix<float>& V) const {
  const index_t T = Q.rows();
  const int hd = config_.head_dim, group = config_.heads / config_.kv_heads;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  Matrix<float> out(T, Q.cols());
  Matrix<float> P(T, T);  // P(j, i): weight of key j for query i, so each query's softmax is one column
  for (int h = 0; h < config_.heads; ++h) {
    const index_t qc = static_cast<index_t>(h) * hd, kc = static_cast<index_t>(h / group) * hd;
    la::gemm(Op::N, Op::T, T, T, hd, scale, K.col(kc), T, Q.col(qc), T, 0.0f, P.data(), T);
    for (index_t i = 0; i < T; ++i) {
      float* p = P.col(i);
      const float mx = *std::max_element(p, p + i + 1);
      double sum = 0;
      for (index_t j = 0; j <= i; ++j) {
        p[j] = std::exp(p[j] - mx);
        sum += p[j];
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (index_t j = 0; j <= i; ++j) p[j] *= inv;
      std::fill(p + i + 1, p + T, 0.0f);  // causal mask
    }
    la::gemm(Op::T, Op::N, T, hd, T, 1.0f, P.data(), T, V.col(kc), T, 0.0f, out.col(qc), T);
  }
  return out;
}

Matrix<float> LayerwiseForward::embed(std::span<const int> tokens) const {
  const LlamaConfig& c = config_;
  const index_t T = static_cast<index_t>(tokens.size());
  require(T > 0, "logits: empty token window");
  require(T <= c.max_pos, "logits: window of ", T, " tokens exceeds max_position_embeddings ", c.max_pos);
  require(T <= rope_positions_, "logits: windows are limited to ", rope_positions_, " tokens, got ", T);
  Matrix<float> X(T, c.hidden);
  for (index_t t = 0; t < T; ++t) {
    const int tok = tokens[static_cast<std::size_t>(t)];
    require(tok >= 0 && tok < c.vocab, "logits: token id ", tok, " at position ", t, " is outside [0, ", c.vocab,
            ")");
    const auto e = ckpt_.read_rows_f32("model.embed_tokens.weight", tok, 1);
    for (index_t j = 0; j < c.hidden; ++j) X(t, j) = e[static_cast<std::size_t>(j)];
  }
  return X;
}

void LayerwiseForward::apply(const DecoderLayer& l, Matrix<float>& X, const InputHook& hook) const {
  const LlamaConfig& c = config_;
  auto call_hook = [&](const Linear& lin, const Matrix<float>& in) {
    if (hook) hook(lin.name, in);
  };
  auto add = [](Matrix<float>& acc, const Matrix<float>& d) {
    float* a = acc.data();
    const float* b = d.data();
    for (index_t i = 0; i < acc.size(); ++i) a[i] += b[i];
  };
  const Matrix<float> xn = rms_norm(X, l.attn_norm);
  for (const Linear* lin : {&l.q, &l.k, &l.v}) call_hook(*lin, xn);
  Matrix<float> q = l.q.apply(xn), k = l.k.apply(xn);
  const Matrix<float> v = l.v.apply(xn);
  rope(q, c.heads);
  rope(k, c.kv_heads);
  const Matrix<float> att = attention(q, k, v);
  call_hook(l.o, att);
  add(X, l.o.apply(att));

  const Matrix<float> xf = rms_norm(X, l.ffn_norm);
  call_hook(l.gate, xf);
  call_hook(l.up, xf);
  Matrix<float> g = l.gate.apply(xf);
  const Matrix<float> u = l.up.apply(xf);
  for (index_t i = 0; i < g.size(); ++i) {
    const float a = g.data()[i];
    g.data()[i] = a / (1.0f + std::exp(-a)) * u.data()[i];  // SwiGLU: silu(gate)·up
  }
  call_hook(l.down, g);
  add(X, l.down.apply(g));
}

Matrix<float> LayerwiseForward::logits(const Matrix<float>& X) const {
  const index_t T = X.rows(), d = config_.hidden, vocab = config_.vocab;
  const Matrix<float> xn = rms_norm(X, final_norm_);
  Matrix<float> out(vocab, T);
  const index_t slice = std::max<index_t>(1, static_cast<index_t>(k_head_slice_bytes / (sizeof(float) * d)));
  for (index_t v0 = 0; v0 < vocab; v0 += slice) {
    const index_t n = std::min(slice, vocab - v0);
    const auto rows = ckpt_.read_rows_f32(head_, v0, n);  // n×d row-major = d×n column-major
    la::gemm(Op::T, Op::T, n, T, d, 1.0f, rows.data(), d, xn.data(), T, 0.0f, out.data() + v0, vocab);
  }
  ckpt_.release_pages(head_);
  return out;
}

// ---- Llama ----

Llama::Llama(const Checkpoint& ck) : forward_(ck) {
  for (int i = 0; i < ck.config().layers; ++i) layers_.push_back(DecoderLayer::load(ck, i));
}

void Llama::replace_linear(const std::string& name, LinearOverride r) {
  for (auto& l : layers_)
    if (l.find_linear(name)) return l.replace_linear(name, std::move(r));
  throw InputError("replace_linear: \"" + name + "\" is not a linear layer (expected e.g. " + layers_.front().q.name +
                   ")");
}

Matrix<float> Llama::logits(std::span<const int> tokens) const {
  Matrix<float> X = forward_.embed(tokens);
  for (const DecoderLayer& l : layers_) forward_.apply(l, X, hook_);
  return forward_.logits(X);
}

std::vector<int> Llama::generate_greedy(int bos, int steps) const {
  require(steps >= 0, "generate_greedy: negative step count ", steps);
  require(steps < config().max_pos, "generate_greedy: ", steps, " steps after BOS exceed max_position_embeddings ",
          config().max_pos);
  std::vector<int> window = {bos};
  for (int s = 0; s < steps; ++s) {
    const Matrix<float> lg = logits(window);
    const float* last = lg.col(lg.cols() - 1);
    window.push_back(static_cast<int>(std::max_element(last, last + lg.rows()) - last));
  }
  return {window.begin() + 1, window.end()};
}

double mean_nll(const Matrix<float>& logits, std::span<const int> tokens, int first_predicted) {
  const index_t n = static_cast<index_t>(tokens.size());
  require(first_predicted >= 1 && first_predicted < n, "mean_nll: first predicted position ", first_predicted,
          " must be in [1, ", n, ")");
  require(logits.cols() >= n - 1, "mean_nll: ", logits.cols(), " logit columns for ", n, " tokens");
  double total = 0;
  for (index_t p = first_predicted; p < n; ++p) {
    const float* col = logits.col(p - 1);
    const int target = tokens[static_cast<std::size_t>(p)];
    require(target >= 0 && target < logits.rows(), "mean_nll: token id ", target, " outside the vocabulary");
    double mx = -std::numeric_limits<double>::infinity();
    for (index_t v = 0; v < logits.rows(); ++v) mx = std::max(mx, static_cast<double>(col[v]));
    double sum = 0;
    for (index_t v = 0; v < logits.rows(); ++v) sum += std::exp(static_cast<double>(col[v]) - mx);
    total += mx + std::log(sum) - static_cast<double>(col[target]);
  }
  return total / static_cast<double>(n - first_predicted);
}

}  // namespace srr::model
