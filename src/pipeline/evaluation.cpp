// SPDX-License-Identifier: MIT
#include "pipeline/evaluation.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "export/export.hpp"
#include "model/text.hpp"
#include "pipeline/ranks.hpp"

namespace srr::pipeline {

double Score::perplexity() const { return std::exp(nll / tokens); }

nlohmann::json Score::to_json(const std::string& protocol) const {
  nlohmann::json j = {{"nll_sum", nll}, {"tokens", tokens}, {"token_perplexity", perplexity()}};
  if (protocol == "wikitext") {
    j["words"] = words;
    j["word_perplexity"] = std::exp(nll / words);
    j["byte_perplexity"] = std::exp(nll / bytes);
    j["bits_per_byte"] = nll / bytes / std::log(2.0);
  }
  return j;
}

std::uint64_t EvalWork::tokens() const {
  std::uint64_t n = 0;
  for (const auto& s : sequences) n += s.tokens.size() - 1;
  return n;
}

std::uint64_t EvalWork::longest() const {
  std::uint64_t n = 0;
  for (const auto& s : sequences) n = std::max<std::uint64_t>(n, s.tokens.size() - 1);
  return n;
}

EvalWork eval_work(const TextInput& in, const std::string& protocol, const std::vector<std::vector<int>>& windows,
                   int max_len, const parallel::Communicator& comm) {
  EvalWork work;
  if (protocol == "stream") {
    for_my_share(windows.size(), comm, [&](std::size_t w) { work.sequences.push_back({windows[w], 1}); });
    return work;
  }
  const auto docs = model::split_wikitext_documents(model::read_text(in.text, in.max_chars));
  for_my_share(docs.size(), comm, [&](std::size_t d) {
    const std::string text = model::wikitext_detokenize(docs[d]);
    const auto tokens = in.tokenizer->encode(text);
    for (const auto& w : model::rolling_windows(tokens, max_len, in.tokenizer->bos())) {
      // The model reads w.input; its positions first_scored.. predict tokens[target_begin..], the last of
      // which lies just beyond the input.
      std::vector<int> sequence = w.input;
      sequence.push_back(tokens[w.target_begin + w.target_count() - 1]);
      work.sequences.push_back({std::move(sequence), static_cast<std::size_t>(w.first_scored) + 1});
    }
    work.words += static_cast<double>(model::word_count(docs[d]));
    work.bytes += static_cast<double>(text.size());
  });
  return work;
}

// ---- layer sources ----

namespace {

void replace_all(model::DecoderLayer& layer, std::map<std::string, model::LinearOverride> overrides) {
  for (auto& [name, o] : overrides) layer.replace_linear(name, std::move(o));
}

std::vector<std::string> names_of_layer(const model::Checkpoint& ckpt, int l) {
  const auto all = model::linear_layer_names(ckpt.config());
  return {all.begin() + 7 * l, all.begin() + 7 * (l + 1)};
}

}  // namespace

StoreLayers::StoreLayers(const std::filesystem::path& store, const model::Checkpoint& ckpt)
    : ckpt_(ckpt), store_(store::Store::open_read_only(store)) {
  store::require_exportable(store_, ckpt);  // the same checkpoint, every layer done, shapes that fit
  for (std::size_t i = 0; i < store_.layout().layers.size(); ++i) index_[store_.layout().layers[i].name] = i;
}

model::DecoderLayer StoreLayers::load(int l) {
  model::DecoderLayer layer = model::DecoderLayer::load(ckpt_, l);
  for (const auto& name : names_of_layer(ckpt_, l)) {
    const auto it = index_.find(name);
    require(it != index_.end(), "the store has no layer ", name);
    layer.replace_linear(name, store::to_override(store_.read_layer(it->second)));
  }
  return layer;
}

model::DecoderLayer QuantizedLayers::load(int l) {
  model::DecoderLayer layer = model::DecoderLayer::load(ckpt_, l);
  const auto names = names_of_layer(ckpt_, l);
  for (std::size_t i = 0; i < names.size(); ++i) {
    // Layer i of the whole model goes to rank i mod np, as quantize's scheduler-free order always did.
    const int owner = static_cast<int>((7 * static_cast<std::size_t>(l) + i) % static_cast<std::size_t>(comm_.size()));
    std::vector<std::byte> bytes;
    if (comm_.rank() == owner) {
      const auto it = per_layer_.find(names[i]);
      bytes = store::serialize(it == per_layer_.end() ? q_.run(names[i]) : q_.run(names[i], it->second));
    }
    auto size = comm_.bcast_value(static_cast<std::int64_t>(bytes.size()), owner, parallel::Wait::Poll);
    bytes.resize(static_cast<std::size_t>(size));
    comm_.bcast(std::span<std::byte>(bytes), owner, parallel::Wait::Poll);
    layer.replace_linear(names[i], store::to_override(store::deserialize(bytes)));
  }
  return layer;
}

AdapterLayers::AdapterLayers(store::PeftAdapter adapter, const model::Checkpoint& ckpt)
    : by_layer_(static_cast<std::size_t>(ckpt.config().layers)), ckpt_(ckpt) {
  // Every module is checked against the model now (names, shapes), before any layer is run.
  const auto names = ckpt.linear_layer_names();
  for (auto& [module, f] : adapter.layers) {
    const auto it = std::find(names.begin(), names.end(), module);
    require(it != names.end(), "the adapter targets \"", module,
            "\", which is not a linear layer of the model (expected e.g. ", names.front(), ")");
    auto& sub = by_layer_[static_cast<std::size_t>(it - names.begin()) / 7];
    sub.layers.emplace(module, std::move(f));
  }
}

model::DecoderLayer AdapterLayers::load(int l) {
  model::DecoderLayer layer = model::DecoderLayer::load(ckpt_, l);
  replace_all(layer, store::adapter_overrides(by_layer_[static_cast<std::size_t>(l)], ckpt_));
  return layer;
}

// ---- evaluate ----

Score evaluate(const model::Checkpoint& ckpt, const EvalWork& work, LayerSource& layers,
               const parallel::Communicator& comm) {
  const model::LayerwiseForward forward(ckpt);
  std::vector<la::Matrix<float>> hidden;
  hidden.reserve(work.sequences.size());
  for (const auto& s : work.sequences)
    hidden.push_back(forward.embed(std::span<const int>(s.tokens).first(s.tokens.size() - 1)));
  for (int l = 0; l < ckpt.config().layers; ++l) {
    const model::DecoderLayer layer = layers.load(l);  // collective for sources that compute
    for (auto& X : hidden) forward.apply(layer, X);
  }
  Score s;
  for (std::size_t i = 0; i < hidden.size(); ++i) {
    const auto& seq = work.sequences[i];
    const auto logits = forward.logits(hidden[i]);
    hidden[i] = la::Matrix<float>();  // scored: its memory goes back before the next window's logits
    s.nll += model::mean_nll(logits, seq.tokens, static_cast<int>(seq.first)) *
             static_cast<double>(seq.tokens.size() - seq.first);
    s.tokens += static_cast<double>(seq.tokens.size() - seq.first);
  }
  std::array<double, 4> sums = {s.nll, s.tokens, work.words, work.bytes};
  comm.allreduce(std::span<double>(sums), parallel::ReduceOp::Sum);
  return {sums[0], sums[1], sums[2], sums[3]};
}

}  // namespace srr::pipeline
