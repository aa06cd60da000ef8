// SPDX-License-Identifier: MIT
#include "pipeline/evaluation.hpp"

#include <array>
#include <cmath>

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

namespace {

/// Σ −log p of sequence[first..] where the model reads `sequence` minus its last token: position p is
/// predicted by the logits of position p − 1, so the final token is only ever a target.
double nll_sum(const model::Llama& llama, std::span<const int> sequence, std::size_t first) {
  const auto logits = llama.logits(sequence.first(sequence.size() - 1));
  return model::mean_nll(logits, sequence, static_cast<int>(first)) * static_cast<double>(sequence.size() - first);
}

Score score_stream(const model::Llama& llama, const std::vector<std::vector<int>>& windows,
                   const parallel::Communicator& comm) {
  Score s;
  for_my_share(windows.size(), comm, [&](std::size_t w) {
    s.nll += nll_sum(llama, windows[w], 1);
    s.tokens += static_cast<double>(windows[w].size() - 1);
  });
  return s;
}

Score score_wikitext(const model::Llama& llama, const TextInput& in, int max_len, const parallel::Communicator& comm) {
  const auto docs = model::split_wikitext_documents(model::read_text(in.text, in.max_chars));
  Score s;
  for_my_share(docs.size(), comm, [&](std::size_t d) {
    const std::string text = model::wikitext_detokenize(docs[d]);
    const auto tokens = in.tokenizer->encode(text);
    for (const auto& w : model::rolling_windows(tokens, max_len, in.tokenizer->bos())) {
      // The model reads w.input; its positions first_scored.. predict tokens[target_begin..], the last of
      // which lies just beyond the input.
      std::vector<int> sequence = w.input;
      sequence.push_back(tokens[w.target_begin + w.target_count() - 1]);
      s.nll += nll_sum(llama, sequence, w.first_scored + 1);
      s.tokens += static_cast<double>(w.target_count());
    }
    s.words += static_cast<double>(model::word_count(docs[d]));
    s.bytes += static_cast<double>(text.size());
  });
  return s;
}

}  // namespace

Score evaluate(const model::Llama& llama, const TextInput& in, const std::string& protocol,
               const std::vector<std::vector<int>>& windows, const parallel::Communicator& comm) {
  const int max_len = in.ctx == 0 ? llama.config().max_pos : in.ctx;
  const Score s = protocol == "stream" ? score_stream(llama, windows, comm) : score_wikitext(llama, in, max_len, comm);
  std::array<double, 4> sums = {s.nll, s.tokens, s.words, s.bytes};
  comm.allreduce(std::span<double>(sums), parallel::ReduceOp::Sum);
  return {sums[0], sums[1], sums[2], sums[3]};
}

}  // namespace srr::pipeline
