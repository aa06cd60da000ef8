// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Perplexity of a model over a text, data-parallel over a communicator. Used by `srr eval` and the
/// end-to-end tests, so every path scores text the same way.

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/forward.hpp"
#include "parallel/mpi.hpp"
#include "pipeline/text_input.hpp"

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

/// Collective over `comm`: rank i scores windows (stream) or documents (wikitext) i, i + np, …, and the
/// sums are all-reduced. `windows` is used by the stream protocol only.
Score evaluate(const model::Llama& llama, const TextInput& in, const std::string& protocol,
               const std::vector<std::vector<int>>& windows, const parallel::Communicator& comm);

}  // namespace srr::pipeline
