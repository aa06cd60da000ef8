// SPDX-License-Identifier: MIT
#include "model/tokenizer_llama2c.hpp"

#include <bit>
#include <cmath>
#include <cstring>

#include "base/error.hpp"
#include "model/text_utf8.hpp"

namespace srr::model {

namespace {

/// Bounds that no real llama2.c tokenizer comes near (llama's 32000-token file is 424 KB with tokens of
/// at most 48 bytes), so a wrong or corrupt file fails here instead of allocating gigabytes.
constexpr std::size_t max_file_bytes = std::size_t{64} << 20;
constexpr int max_token_bytes = 1024;
constexpr int max_vocab = 1 << 22;
/// run.c starts its best-score search at -1e10, so a pair scoring at or below it never merges.
constexpr float run_c_score_floor = -1e10f;
/// run.c's fixed ids: byte fallback is "byte + 3" because 0..2 are <unk>, BOS, EOS.
constexpr int first_byte_id = 3;

/// Little-endian reader over the file's bytes that names the file and the field on a short read.
class Reader {
public:
  Reader(std::string_view bytes, const std::string& source) : bytes_(bytes), source_(source) {}
  bool at_end() const { return pos_ == bytes_.size(); }
  std::size_t remaining() const { return bytes_.size() - pos_; }

  template <class T>
  T scalar(const char* what, int token) {
    static_assert(std::endian::native == std::endian::little, "llama2.c files are little-endian");
    need(sizeof(T), what, token);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string_view take(std::size_t n, const char* what, int token) {
    need(n, what, token);
    const std::string_view s = bytes_.substr(pos_, n);
    pos_ += n;
    return s;
  }

private:
  void need(std::size_t n, const char* what, int token) const {
    if (remaining() >= n) return;
    if (token < 0) throw InputError(detail::concat("tokenizer ", source_, ": truncated in the ", what));
    throw InputError(detail::concat("tokenizer ", source_, ": truncated in the ", what, " of token ", token,
                                    " (", remaining(), " bytes left)"));
  }
  std::string_view bytes_;
  const std::string& source_;
  std::size_t pos_ = 0;
};

}  // namespace

Llama2cTokenizer::Llama2cTokenizer(std::string_view bytes, const std::string& source, int vocab_size)
    : source_(source) {
  const auto fail = [&](auto&&... what) {
    throw InputError(detail::concat("tokenizer ", source_, ": ", std::forward<decltype(what)>(what)...));
  };
  if (vocab_size < 0 || vocab_size > max_vocab) fail("vocabulary size ", vocab_size, " out of range");
  Reader in(bytes, source_);
  max_token_length_ = in.scalar<std::int32_t>("header (max_token_length)", -1);
  if (max_token_length_ < 1 || max_token_length_ > max_token_bytes)
    fail("max_token_length ", max_token_length_, " is not in [1, ", max_token_bytes, "]");

  while (vocab_size > 0 ? static_cast<int>(vocab_.size()) < vocab_size : !in.at_end()) {
    const int id = static_cast<int>(vocab_.size());
    if (id >= max_vocab) fail("more than ", max_vocab, " tokens");
    const float score = in.scalar<float>("score", id);
    const std::int32_t len = in.scalar<std::int32_t>("length", id);
    if (!std::isfinite(score)) fail("token ", id, " has a non-finite score");
    if (len < 1 || len > max_token_length_)
      fail("token ", id, " has length ", len, ", outside [1, max_token_length = ", max_token_length_, "]");
    vocab_.emplace_back(in.take(static_cast<std::size_t>(len), "text", id));
    scores_.push_back(score);
  }
  if (!in.at_end())
    fail(in.remaining(), " bytes follow the ", vocab_size, " tokens the model expects: tokenizer and model ",
         "do not belong together");
  if (vocab_.size() < static_cast<std::size_t>(first_byte_id + 256))
    fail("only ", vocab_.size(), " tokens; the llama2.c layout needs <unk>, BOS, EOS and 256 byte tokens");
  for (int b = 0; b < 256; ++b)
    if (vocab_[first_byte_id + b] != byte_token_text(static_cast<unsigned char>(b)))
      fail("token ", first_byte_id + b, " is not the byte token ", byte_token_text(static_cast<unsigned char>(b)),
           " that run.c's byte fallback (byte + 3) relies on");

  const int n = static_cast<int>(vocab_.size());
  canonical_.resize(n);
  for (int id = 0; id < n; ++id) canonical_[id] = ids_.try_emplace(vocab_[id], id).first->second;
  // Every way a token's text splits into two tokens is a pair that run.c's loop would merge into it.
  for (const auto& [text, id] : ids_) {
    if (scores_[id] <= run_c_score_floor) continue;
    for (std::size_t k = 1; k < text.size(); ++k) {
      const auto left = ids_.find(text.substr(0, k)), right = ids_.find(text.substr(k));
      if (left != ids_.end() && right != ids_.end())
        merges_.emplace(bpe::pair_key(left->second, right->second), bpe::Merge{-scores_[id], id});
    }
  }
}

Llama2cTokenizer Llama2cTokenizer::load(const std::filesystem::path& path, int vocab_size) {
  return Llama2cTokenizer(read_small_file(path, max_file_bytes), path.string(), vocab_size);
}

std::vector<int> Llama2cTokenizer::encode(std::string_view text) const {
  std::vector<int> symbols;
  if (text.empty()) return symbols;
  symbols.reserve(text.size() + 1);
  const auto add_char = [&](std::string_view ch) {
    if (const auto it = ids_.find(std::string(ch)); it != ids_.end()) {
      symbols.push_back(it->second);
    } else {
      for (const char c : ch) symbols.push_back(first_byte_id + static_cast<unsigned char>(c));
    }
  };
  add_char(" ");  // sentencepiece's add_dummy_prefix, as run.c applies it
  for (std::size_t pos = 0; pos < text.size();) {
    // run.c groups a byte with the continuation bytes after it (at most 4 bytes), even if it is malformed.
    std::size_t len = 1;
    while (len < 4 && pos + len < text.size() && utf8::is_continuation(static_cast<unsigned char>(text[pos + len])))
      ++len;
    add_char(text.substr(pos, len));
    pos += len;
  }
  bpe::merge_all(symbols, [this](int left, int right) -> std::optional<bpe::Merge> {
    const auto it = merges_.find(bpe::pair_key(canonical_[left], canonical_[right]));
    if (it == merges_.end()) return std::nullopt;
    return it->second;
  });
  return symbols;
}

const std::string& Llama2cTokenizer::token_text(int id) const {
  require(id >= 0 && id < vocab_size(), "token id ", id, " is outside the vocabulary [0, ", vocab_size(),
          ") of ", source_);
  return vocab_[static_cast<std::size_t>(id)];
}

float Llama2cTokenizer::score(int id) const {
  token_text(id);  // range check
  return scores_[static_cast<std::size_t>(id)];
}

std::string Llama2cTokenizer::piece(int id, int previous_id) const {
  std::string_view text = token_text(id);
  if (previous_id == bos() && text.front() == ' ') text.remove_prefix(1);
  if (const auto byte = byte_token_value(text)) return std::string(1, static_cast<char>(*byte));
  return std::string(text);
}

}  // namespace srr::model
