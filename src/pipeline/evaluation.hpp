// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Perplexity of a model over a text, layer-sequential and token-parallel like calibration: each rank embeds
/// its share of the windows (stream) or documents (wikitext) and keeps their hidden states; every decoder
/// layer in turn is loaded once (FP32 from the memory-mapped checkpoint, or with Q + L·R from a store, a PEFT
/// adapter or computed on the spot), applied to all of the rank's tokens and freed; then the head scores
/// them. Memory per rank is one layer plus the rank's activations, whatever the depth. Used by `srr eval` and
/// the end-to-end tests, so every path scores text the same way; the arithmetic per window is the whole-model
/// forward's, so the perplexities are the same bits as when every layer was resident.

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "export/export.hpp"
#include "model/forward.hpp"
#include "parallel/mpi.hpp"
#include "pipeline/layer_quantizer.hpp"
#include "pipeline/text_input.hpp"
#include "store/store.hpp"

namespace srr::pipeline {

/// Sums over the scored tokens.
struct Score {
  double nll = 0;     ///< Σ −log p (natural log)
  double tokens = 0;  ///< predicted tokens
  double words = 0;   ///< wikitext: words of the original documents
  double bytes = 0;   ///< wikitext: UTF-8 bytes of the detokenized documents
  double perplexity() const;
  nlohmann::json to_json(const std::string& protocol) const;
};

/// This rank's share of the text as the model reads it: each sequence is read minus its last token, and its
/// positions first.. are scored (position p predicted by the logits of p − 1).
struct EvalWork {
  struct Sequence {
    std::vector<int> tokens;
    std::size_t first = 1;
  };
  std::vector<Sequence> sequences;
  double words = 0, bytes = 0;  ///< wikitext: of this rank's documents
  std::uint64_t tokens() const;  ///< read by the model (hidden states held)
  std::uint64_t longest() const;
};

/// Local: rank i's windows (stream: `windows` i, i + np, …) or documents (wikitext, split into lm-eval's
/// rolling windows of `max_len` tokens).
EvalWork eval_work(const TextInput& in, const std::string& protocol, const std::vector<std::vector<int>>& windows,
                   int max_len, const parallel::Communicator& comm);

/// Decoder layer l as the evaluated model has it. load() is collective over the communicator evaluate()
/// runs on (a source may compute layers across ranks).
class LayerSource {
public:
  virtual ~LayerSource() = default;
  virtual model::DecoderLayer load(int l) = 0;
};

/// The FP32 checkpoint.
class Fp32Layers : public LayerSource {
public:
  explicit Fp32Layers(const model::Checkpoint& ckpt) : ckpt_(ckpt) {}
  model::DecoderLayer load(int l) override { return model::DecoderLayer::load(ckpt_, l); }

private:
  const model::Checkpoint& ckpt_;
};

/// Q + L·R of every linear layer from a finished store made from `ckpt` (each rank reads: read-only opens
/// may run in parallel). InputError when the store was made from another checkpoint (even one of the same
/// shapes), is not complete, or a layer fails its checksum (store::ChecksumError, naming it).
class StoreLayers : public LayerSource {
public:
  StoreLayers(const std::filesystem::path& store, const model::Checkpoint& ckpt);
  model::DecoderLayer load(int l) override;

private:
  const model::Checkpoint& ckpt_;
  store::Store store_;
  std::map<std::string, std::size_t> index_;
};

/// Every linear layer quantized on the spot: layer l's seven linear layers are computed by ranks i mod np
/// and broadcast, so the result is the same on any rank count. A layer named in `per_layer` (a plan,
/// pipeline/allocation_plan.hpp) is computed with those settings, every other with `q`'s.
class QuantizedLayers : public LayerSource {
public:
  QuantizedLayers(const model::Checkpoint& ckpt, LayerQuantizer& q, const parallel::Communicator& comm,
                  std::map<std::string, qer::LayerSettings> per_layer = {})
      : ckpt_(ckpt), q_(q), comm_(comm), per_layer_(std::move(per_layer)) {}
  model::DecoderLayer load(int l) override;

private:
  const model::Checkpoint& ckpt_;
  LayerQuantizer& q_;
  const parallel::Communicator& comm_;
  std::map<std::string, qer::LayerSettings> per_layer_;
};

/// The checkpoint with a PEFT LoRA adapter applied (store::adapter_overrides, layer by layer).
class AdapterLayers : public LayerSource {
public:
  AdapterLayers(store::PeftAdapter adapter, const model::Checkpoint& ckpt);
  model::DecoderLayer load(int l) override;

private:
  std::vector<store::PeftAdapter> by_layer_;
  const model::Checkpoint& ckpt_;
};

/// Collective over `comm`: the score of `work` (each rank its own) under the layers of `layers`, summed
/// over the ranks.
Score evaluate(const model::Checkpoint& ckpt, const EvalWork& work, LayerSource& layers,
               const parallel::Communicator& comm);

}  // namespace srr::pipeline
