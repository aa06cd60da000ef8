// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The fp32 Llama forward pass over a whole window of tokens at once. Activations for T tokens are a T×d
/// matrix, so every linear layer is one BLAS-3 gemm X·W (W in×out, the paper's orientation) and attention is
/// two gemms per head; this is what makes calibration and perplexity over long texts affordable.

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

class Llama {
public:
  /// Loads every weight as float32 (the checkpoint is not needed afterwards).
  explicit Llama(const Checkpoint& ck);

  const LlamaConfig& config() const { return config_; }

  /// Replaces the weight of linear layer `name` (as in Checkpoint::linear_layer_names()). InputError when the
  /// name is unknown or the shapes disagree with the layer.
  void replace_linear(const std::string& name, LinearOverride replacement);

  /// Called with the input of every linear layer (T×in) during logits(). q, k and v share one input, as do
  /// gate and up; the hook is still called once per name so the caller keeps what it wants.
  using InputHook = std::function<void(const std::string& linear_name, const la::Matrix<float>& X)>;
  void set_input_hook(InputHook hook) { hook_ = std::move(hook); }

  /// vocab × T: column t holds the logits of the token following tokens[0..t]. Tokens must lie in
  /// [0, vocab) and the window must fit max_pos; InputError otherwise.
  la::Matrix<float> logits(std::span<const int> tokens) const;

  /// `steps` greedily chosen tokens following `bos` (bos itself is not returned). Recomputes the whole
  /// window per step, which is fine at the model sizes it is used for.
  std::vector<int> generate_greedy(int bos, int steps) const;

private:
  struct Linear {
    std::string name;
    la::Matrix<float> W;  ///< in×out
    la::Matrix<float> L, R;
    la::Matrix<float> apply(const la::Matrix<float>& X) const;
  };
  struct Layer {
    std::vector<float> attn_norm, ffn_norm;
    Linear q, k, v, o, gate, up, down;
  };
  Linear* find_linear(const std::string& name);
  void call_hook(const Linear& lin, const la::Matrix<float>& X) const;
  la::Matrix<float> rms_norm(const la::Matrix<float>& X, const std::vector<float>& w) const;
  void rope(la::Matrix<float>& X, int heads) const;
  la::Matrix<float> attention(const la::Matrix<float>& Q, const la::Matrix<float>& K,
                              const la::Matrix<float>& V) const;

  LlamaConfig config_;
  la::Matrix<float> embed_;    ///< hidden × vocab: column v is token v's embedding
  la::Matrix<float> lm_head_;  ///< hidden × vocab; empty when tied to embed_
  std::vector<float> final_norm_;
  std::vector<Layer> layers_;
  std::vector<float> cos_, sin_;  ///< [max_pos][head_dim/2] RoPE tables
  InputHook hook_;
};

/// Mean negative log-likelihood (natural log) of tokens[first_predicted..] given `logits` (vocab × T, as
/// returned by Llama::logits for `tokens`): position p is predicted by column p − 1. Log-softmax in double.
/// first_predicted ≥ 1 and at least one position must be predicted.
double mean_nll(const la::Matrix<float>& logits, std::span<const int> tokens, int first_predicted);

}  // namespace srr::model
