// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// HF `tokenizer.json` with a BPE model, as TinyStories-656K (and sentencepiece-converted llama tokenizers)
/// use it: a normalizer made of Prepend/Replace steps, no pre-tokenizer (merges may cross spaces), BPE by
/// merge rank with byte fallback or <unk>, added tokens split out of the text first, and a decoder made of
/// Replace/ByteFallback/Fuse/Strip steps. Any other component type is refused with an InputError naming
/// it, rather than silently tokenizing differently from the reference library.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/tokenizer.hpp"
#include "model/tokenizer_bpe.hpp"

namespace srr::model {

class HfBpeTokenizer final : public Tokenizer {
public:
  /// The BOS/EOS token texts; an empty name means "derive it" (see the constructor).
  struct SpecialNames {
    std::string bos, eos;
  };

  /// Parses tokenizer.json text; `source` names it in errors. BOS/EOS: the given names; an empty BOS name
  /// falls back to the first special token of the post-processor's single-sequence template (what HF puts
  /// before a text); an empty EOS name leaves eos() = -1.
  HfBpeTokenizer(std::string_view json_text, const std::string& source, SpecialNames names = {});

  /// Reads tokenizer.json and takes bos_token/eos_token from tokenizer_config.json, else from
  /// special_tokens_map.json, in the same folder (where HF transformers takes them from).
  static HfBpeTokenizer load(const std::filesystem::path& path);

  /// HF `encode(text, add_special_tokens=False)`.
  std::vector<int> encode(std::string_view text) const override;

  /// The token through the file's decoder chain. A Strip that follows Fuse acts on the start of the whole
  /// text, i.e. on the first token (previous_id -1) and, as in a generation printed without BOS, on the
  /// token after BOS. Byte-fallback tokens give their raw byte (HF would print U+FFFD for a byte run that is
  /// not valid UTF-8; raw bytes concatenate to the same text whenever the run is valid).
  std::string piece(int id, int previous_id) const override;

  int bos() const override { return bos_; }
  int eos() const override { return eos_; }
  int vocab_size() const override { return static_cast<int>(tokens_.size()); }

  /// Token id of a vocabulary or added-token text, -1 when absent.
  int token_id(std::string_view text) const;
  /// The raw token text (before the decoder), e.g. "▁a" (for tests and diagnostics).
  const std::string& token_text(int id) const;

private:
  struct NormalizerStep {
    enum class Kind { Prepend, Replace } kind;
    std::string pattern, content;  // Prepend: content only
  };
  struct DecoderStep {
    enum class Kind { Replace, ByteFallback, Strip } kind;
    std::string pattern, content;  // Replace
    std::uint32_t strip_char = 0;  // Strip
    int strip_start = 0, strip_stop = 0;
    bool after_fuse = false;  // Strip only: acts on the whole text, not on every token
  };
  struct AddedToken {
    std::string match;  // the content, normalized when the token is `normalized`
    int id;
    bool normalized;
  };

  void parse_model(const nlohmann::json& model);
  void parse_added_tokens(const nlohmann::json& list);
  void parse_normalizer(const nlohmann::json& spec, const std::string& where);
  void parse_decoder(const nlohmann::json& spec, const std::string& where, bool& fused);
  std::string template_bos(const nlohmann::json& root) const;
  int special_id(const std::string& name, const char* which) const;
  std::string normalize(std::string_view text) const;
  /// Splits `text` at the added tokens of the given kind (leftmost, then longest match, as HF's
  /// Aho-Corasick LeftmostLongest), appending their ids and passing the text between them to `rest`.
  template <class Rest>
  void split_added(std::string_view text, bool normalized, std::vector<int>& out, const Rest& rest) const;
  void encode_model(std::string_view text, std::vector<int>& out) const;
  std::string decode_token(int id, bool at_start) const;

  std::string source_;
  std::vector<NormalizerStep> normalizer_;
  std::vector<DecoderStep> decoder_;
  std::vector<AddedToken> added_;
  std::vector<std::string> tokens_;  // id → text (added-token content wins, as in HF id_to_token)
  std::unordered_map<std::string, int> vocab_;  // the BPE model's vocabulary
  std::unordered_map<std::uint64_t, bpe::Merge> merges_;
  std::vector<int> byte_ids_;  // byte → id of its <0xXX> token, or -1
  std::vector<std::string> piece_mid_, piece_start_;  // decode_token for every id, precomputed
  int unk_ = -1, bos_ = -1, eos_ = -1;
  bool byte_fallback_ = false, fuse_unk_ = false, ignore_merges_ = false;
};

}  // namespace srr::model
