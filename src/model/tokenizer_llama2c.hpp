// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The llama2.c tokenizer (tokenizer.bin, tok512.bin, ...), encoding and decoding exactly as llama2.c run.c
/// does, so that stories260K perplexities and samples match the reference implementation.
///
/// File: int32 max_token_length, then per token: float32 score, int32 byte length, the bytes (little-endian).
/// Ids 0 <unk>, 1 BOS, 2 EOS, 3..258 the byte tokens <0x00>..<0xFF> (checked), then the merges.

#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/tokenizer.hpp"
#include "model/tokenizer_bpe.hpp"

namespace srr::model {

class Llama2cTokenizer final : public Tokenizer {
public:
  /// Parses the file's bytes. vocab_size > 0 (from the model header) must match the file exactly; 0 infers
  /// it from the length. `source` names the file in error messages. Anything malformed is an InputError.
  Llama2cTokenizer(std::string_view bytes, const std::string& source, int vocab_size = 0);
  static Llama2cTokenizer load(const std::filesystem::path& path, int vocab_size = 0);

  /// run.c encode(): a dummy " " before non-empty text, one symbol per UTF-8 character (its vocab id, or
  /// its bytes as byte tokens when absent), then repeatedly the adjacent pair whose concatenated text is a
  /// token with the highest score is merged (leftmost on ties). No BOS/EOS.
  std::vector<int> encode(std::string_view text) const override;

  /// run.c decode(): the token's text; after BOS a leading space is dropped; byte tokens become the byte.
  std::string piece(int id, int previous_id) const override;

  int bos() const override { return 1; }
  int eos() const override { return 2; }
  int vocab_size() const override { return static_cast<int>(vocab_.size()); }

  /// The raw vocabulary entry and its merge score (for tests and diagnostics).
  const std::string& token_text(int id) const;
  float score(int id) const;
  int max_token_length() const { return max_token_length_; }

private:
  std::string source_;
  int max_token_length_ = 0;
  std::vector<std::string> vocab_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int> ids_;  // text → lowest id with that text (run.c's lookup)
  std::vector<int> canonical_;                // id → ids_[vocab_[id]], so duplicate texts merge alike
  std::unordered_map<std::uint64_t, bpe::Merge> merges_;  // canonical pair → merged token
};

}  // namespace srr::model
