// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The fp32 Llama forward pass over a whole window of tokens at once. Activations for T tokens are a T×d
/// matrix, so every linear layer is one BLAS-3 gemm X·W (W in×out, the paper's orientation) and attention is
/// two gemms per head; this is what makes calibration and perplexity over long texts affordable.
///
/// The pass is built from pieces that hold at most one decoder layer, so a 70B model runs layer by layer:
/// LayerwiseForward embeds tokens (reading only their rows of the embedding from the memory-mapped
/// checkpoint), applies one DecoderLayer (loaded and converted to float32 on demand), and computes logits
/// through the head in slices of the vocabulary. Llama is the whole model for small checkpoints: every
/// decoder layer loaded, the same pieces applied in turn.

#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "la/matrix.hpp"
#include "model/checkpoint.hpp"

namespace srr::model {

/// A linear layer replaced by y = x·Q + (x·L)·R. L·R is never formed: for rank r ≪ min(in, out) the two
/// thin products are cheaper and exactly what a deployed adapter computes. L (in×r) and R (r×out) may be
/// empty for rank 0.
struct LinearOverride {
  la::Matrix<float> Q;
  la::Matrix<float> L;
  la::Matrix<float> R;
};

/// One linear layer of a decoder: y = x·W, plus (x·L)·R when replaced by a low-rank corrected one.
struct Linear {
  std::string name;
  la::Matrix<float> W;  ///< in×out
  la::Matrix<float> L, R;
  la::Matrix<float> apply(const la::Matrix<float>& X) const;
};

/// Called with the input of every linear layer (T×in). q, k and v share one input, as do gate and up; the
/// hook is still called once per name so the caller keeps what it wants.
using InputHook = std::function<void(const std::string& linear_name, const la::Matrix<float>& X)>;

/// The weights of decoder layer `index` in float32, converted from the checkpoint's stored dtype.
struct DecoderLayer {
  int index = 0;
  std::vector<float> attn_norm, ffn_norm;
  Linear q, k, v, o, gate, up, down;

  static DecoderLayer load(const Checkpoint& ck, int index);
  /// Nullptr when `name` is not one of this layer's linear layers.
  Linear* find_linear(const std::string& name);
  /// Replaces the weight of linear layer `name`. InputError when the name is not in this layer or the
  /// shapes disagree with the layer.
  void replace_linear(const std::string& name, LinearOverride replacement);
  /// Bytes of float32 weights held (for memory plans).
  std::size_t bytes() const;
};

/// The parts of the forward pass that hold no decoder weights. Copies of a Checkpoint share its mappings,
/// so this object keeps the checkpoint readable for the embedding and the head.
class LayerwiseForward {
public:
  explicit LayerwiseForward(const Checkpoint& ck);
  const LlamaConfig& config() const { return config_; }

  /// T×hidden: the embedding of each token. Tokens must lie in [0, vocab) and the window must fit max_pos;
  /// InputError otherwise.
  la::Matrix<float> embed(std::span<const int> tokens) const;
  /// X ← X + attention(X) and then X ← X + MLP(X) with the weights of `layer`; `hook` (may be empty) sees
  /// the input of every linear layer.
  void apply(const DecoderLayer& layer, la::Matrix<float>& X, const InputHook& hook = {}) const;
  /// vocab × T: column t holds the logits of the token following position t, from the last hidden state.
  la::Matrix<float> logits(const la::Matrix<float>& X) const;

private:
  la::Matrix<float> rms_norm(const la::Matrix<float>& X, const std::vector<float>& w) const;
  void rope(la::Matrix<float>& X, int heads) const;
  la::Matrix<float> attention(const la::Matrix<float>& Q, const la::Matrix<float>& K,
                              const la::Matrix<float>& V) const;

  Checkpoint ckpt_;
  LlamaConfig config_;
  std::string head_;  ///< lm_head.weight, or the embedding when tied
  std::vector<float> final_norm_;
  static constexpr int kRopePositions = 1 << 16;  ///< the longest window the tables cover
  int rope_positions_ = 0;        ///< min(max_pos, kRopePositions)
  std::vector<float> cos_, sin_;  ///< [rope_positions_][head_dim/2] RoPE tables
};

class Llama {
public:
  /// Loads every decoder layer as float32; the embedding and head stay in the (shared) checkpoint mapping.
  explicit Llama(const Checkpoint& ck);

  const LlamaConfig& config() const { return forward_.config(); }

  /// Replaces the weight of linear layer `name` (as in Checkpoint::linear_layer_names()). InputError when the
  /// name is unknown or the shapes disagree with the layer.
  void replace_linear(const std::string& name, LinearOverride replacement);

  void set_input_hook(InputHook hook) { hook_ = std::move(hook); }

  /// vocab × T: column t holds the logits of the token following tokens[0..t]. Tokens must lie in
  /// [0, vocab) and the window must fit max_pos; InputError otherwise.
  la::Matrix<float> logits(std::span<const int> tokens) const;

  /// `steps` greedily chosen tokens following `bos` (bos itself is not returned). Recomputes the whole
  /// window per step, which is fine at the model sizes it is used for.
  std::vector<int> generate_greedy(int bos, int steps) const;

private:
  LayerwiseForward forward_;
  std::vector<DecoderLayer> layers_;
  InputHook hook_;
};

/// Mean negative log-likelihood (natural log) of tokens[first_predicted..] given `logits` (vocab × T, as
/// returned by Llama::logits for `tokens`): position p is predicted by column p − 1. Log-softmax in double.
/// first_predicted ≥ 1 and at least one position must be predicted.
double mean_nll(const la::Matrix<float>& logits, std::span<const int> tokens, int first_predicted);

}  // namespace srr::model
