// SPDX-License-Identifier: MIT
#include "model/tokenizer_hf.hpp"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "model/json_input.hpp"
#include "model/text.hpp"
#include "model/text_utf8.hpp"

namespace srr::model {

namespace {

using nlohmann::json;

/// Llama-3's tokenizer.json is 9 MB; anything far larger is not a tokenizer. (parse_json_input bounds the
/// nesting depth and refuses duplicated keys, which would otherwise hide a vocabulary entry.)
constexpr std::size_t max_json_bytes = std::size_t{32} << 20;
constexpr std::size_t max_config_bytes = std::size_t{1} << 20;
constexpr std::int64_t max_vocab = std::int64_t{1} << 22;

/// Typed access to tokenizer.json that names the file and the field on every mismatch.
class Fields {
public:
  explicit Fields(const std::string& source) : source_(source) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw InputError(detail::concat("tokenizer ", source_, ": ", where, ": ", what));
  }
  const json& member(const json& obj, const char* key, const std::string& where) const {
    if (!obj.is_object()) fail(where, "expected an object");
    const auto it = obj.find(key);
    if (it == obj.end()) fail(where, detail::concat("missing field \"", key, "\""));
    return *it;
  }
  /// The member, or null when the object does not have it.
  const json& optional(const json& obj, const char* key, const std::string& where) const {
    static const json null_value;
    if (!obj.is_object()) fail(where, "expected an object");
    const auto it = obj.find(key);
    return it == obj.end() ? null_value : *it;
  }
  std::string string(const json& j, const std::string& where) const {
    if (!j.is_string()) fail(where, detail::concat("expected a string, found ", j.type_name()));
    return j.get<std::string>();
  }
  std::int64_t integer(const json& j, const std::string& where, std::int64_t lo, std::int64_t hi) const {
    if (!j.is_number_integer()) fail(where, detail::concat("expected an integer, found ", j.type_name()));
    const std::int64_t v = j.get<std::int64_t>();
    if (v < lo || v > hi) fail(where, detail::concat("value ", v, " is outside [", lo, ", ", hi, "]"));
    return v;
  }
  bool boolean(const json& j, const std::string& where, bool if_null) const {
    if (j.is_null()) return if_null;
    if (!j.is_boolean()) fail(where, detail::concat("expected true or false, found ", j.type_name()));
    return j.get<bool>();
  }
  const json& array(const json& j, const std::string& where) const {
    if (!j.is_array()) fail(where, detail::concat("expected an array, found ", j.type_name()));
    return j;
  }
  /// The "type" of a component object.
  std::string type(const json& j, const std::string& where) const {
    return string(member(j, "type", where), where + ".type");
  }
  /// A Replace pattern: only the literal {"String": s} form (a {"Regex": ...} pattern is refused).
  std::string pattern(const json& j, const std::string& where) const {
    const json& p = member(j, "pattern", where);
    if (p.is_object() && p.contains("String")) {
      std::string s = string(p["String"], where + ".pattern.String");
      if (s.empty()) fail(where, "empty Replace pattern");
      return s;
    }
    fail(where, "only literal {\"String\": ...} Replace patterns are supported");
  }

private:
  const std::string& source_;
};

/// bos_token / eos_token of an HF tokenizer_config.json or special_tokens_map.json: a string or an object
/// with "content"; "" when the file or the field is absent.
std::string config_token(const std::filesystem::path& path, const char* key) {
  if (!std::filesystem::exists(path)) return {};
  const std::string source = path.string();
  const json root = parse_json_input(read_small_file(path, max_config_bytes), source);
  const Fields f(source);
  const json& v = f.optional(root, key, "top level");
  if (v.is_null()) return {};
  if (v.is_object()) return f.string(f.member(v, "content", key), detail::concat(key, ".content"));
  return f.string(v, key);
}

}  // namespace

HfBpeTokenizer::HfBpeTokenizer(std::string_view json_text, const std::string& source, SpecialNames names)
    : source_(source) {
  const json root = parse_json_input(json_text, source_);
  const Fields f(source_);
  if (!root.is_object()) f.fail("top level", "expected an object");

  parse_model(f.member(root, "model", "top level"));
  parse_added_tokens(f.optional(root, "added_tokens", "top level"));
  for (std::size_t id = 0; id < tokens_.size(); ++id)
    if (tokens_[id].empty()) f.fail("model.vocab", detail::concat("no token has id ", id, " (ids must be dense)"));

  if (const json& pre = f.optional(root, "pre_tokenizer", "top level"); !pre.is_null())
    f.fail("pre_tokenizer", detail::concat("type \"", f.type(pre, "pre_tokenizer"),
                                           "\" is not supported (only none: BPE over the whole text)"));
  if (const json& norm = f.optional(root, "normalizer", "top level"); !norm.is_null())
    parse_normalizer(norm, "normalizer");
  if (const json& dec = f.optional(root, "decoder", "top level"); !dec.is_null()) {
    bool fused = false;
    parse_decoder(dec, "decoder", fused);
  }
  // Normalized added tokens are matched against normalized text, so HF normalizes their content too.
  for (AddedToken& t : added_)
    if (t.normalized) t.match = normalize(t.match);

  bos_ = special_id(names.bos.empty() ? template_bos(root) : names.bos, "BOS");
  eos_ = special_id(names.eos, "EOS");

  piece_mid_.resize(tokens_.size());
  piece_start_.resize(tokens_.size());
  for (std::size_t id = 0; id < tokens_.size(); ++id) {
    piece_mid_[id] = decode_token(static_cast<int>(id), false);
    piece_start_[id] = decode_token(static_cast<int>(id), true);
  }
}

void HfBpeTokenizer::parse_model(const json& model) {
  const Fields f(source_);
  if (const std::string type = f.type(model, "model"); type != "BPE")
    f.fail("model.type", detail::concat("model type \"", type, "\" is not supported (only BPE)"));
  if (const json& dropout = f.optional(model, "dropout", "model"); !dropout.is_null()) {
    if (!dropout.is_number()) f.fail("model.dropout", "expected a number or null");
    if (dropout.get<double>() != 0.0) f.fail("model.dropout", "BPE dropout is not supported (not deterministic)");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const json& v = f.optional(model, key, "model");
    if (!v.is_null() && !f.string(v, detail::concat("model.", key)).empty())
      f.fail(detail::concat("model.", key), "word prefixes/suffixes are not supported");
  }
  byte_fallback_ = f.boolean(f.optional(model, "byte_fallback", "model"), "model.byte_fallback", false);
  fuse_unk_ = f.boolean(f.optional(model, "fuse_unk", "model"), "model.fuse_unk", false);
  ignore_merges_ = f.boolean(f.optional(model, "ignore_merges", "model"), "model.ignore_merges", false);

  const json& vocab = f.member(model, "vocab", "model");
  if (!vocab.is_object()) f.fail("model.vocab", "expected an object mapping token text to id");
  if (static_cast<std::int64_t>(vocab.size()) > max_vocab) f.fail("model.vocab", "too many tokens");
  for (const auto& [text, id_json] : vocab.items()) {
    const auto id = static_cast<int>(f.integer(id_json, "model.vocab[\"" + text + "\"]", 0, max_vocab - 1));
    if (static_cast<std::size_t>(id) >= tokens_.size()) tokens_.resize(static_cast<std::size_t>(id) + 1);
    if (!tokens_[static_cast<std::size_t>(id)].empty())
      f.fail("model.vocab", detail::concat("id ", id, " is given to two tokens"));
    if (text.empty()) f.fail("model.vocab", "empty token text");
    tokens_[static_cast<std::size_t>(id)] = text;
    vocab_.emplace(text, id);
  }

  const json& merges = f.array(f.member(model, "merges", "model"), "model.merges");
  if (merges.size() >= (std::size_t{1} << 24)) f.fail("model.merges", "too many merges");  // ranks stay exact floats
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string where = detail::concat("model.merges[", rank, "]");
    std::string left, right;
    if (merges[rank].is_string()) {  // "a b", the format of tokenizers < 0.20
      const std::string m = merges[rank].get<std::string>();
      const std::size_t space = m.find(' ');
      if (space == std::string::npos || m.find(' ', space + 1) != std::string::npos)
        f.fail(where, "expected \"left right\" with exactly one space");
      left = m.substr(0, space);
      right = m.substr(space + 1);
    } else if (merges[rank].is_array() && merges[rank].size() == 2) {  // ["a", "b"]
      left = f.string(merges[rank][0], where + "[0]");
      right = f.string(merges[rank][1], where + "[1]");
    } else {
      f.fail(where, "expected \"left right\" or [\"left\", \"right\"]");
    }
    const auto l = vocab_.find(left), r = vocab_.find(right), m = vocab_.find(left + right);
    if (l == vocab_.end() || r == vocab_.end() || m == vocab_.end())
      f.fail(where, detail::concat("\"", left, "\" + \"", right, "\" is not made of vocabulary tokens"));
    // A pair listed twice keeps its last rank, as HF's HashMap collection does.
    merges_.insert_or_assign(bpe::pair_key(l->second, r->second),
                             bpe::Merge{static_cast<float>(rank), m->second});
  }

  byte_ids_.assign(256, -1);
  if (byte_fallback_)
    for (int b = 0; b < 256; ++b)
      if (const auto it = vocab_.find(byte_token_text(static_cast<unsigned char>(b))); it != vocab_.end())
        byte_ids_[static_cast<std::size_t>(b)] = it->second;

  if (const json& unk = f.optional(model, "unk_token", "model"); !unk.is_null()) {
    const auto it = vocab_.find(f.string(unk, "model.unk_token"));
    if (it == vocab_.end()) f.fail("model.unk_token", "the unknown token is not in the vocabulary");
    unk_ = it->second;
  }
}

void HfBpeTokenizer::parse_added_tokens(const json& list) {
  const Fields f(source_);
  if (list.is_null()) return;
  f.array(list, "added_tokens");
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string where = detail::concat("added_tokens[", i, "]");
    const json& t = list[i];
    const auto id = static_cast<int>(f.integer(f.member(t, "id", where), where + ".id", 0, max_vocab - 1));
    std::string content = f.string(f.member(t, "content", where), where + ".content");
    if (content.empty()) f.fail(where, "empty content");
    for (const char* key : {"lstrip", "rstrip", "single_word"})
      if (f.boolean(f.optional(t, key, where), detail::concat(where, ".", key), false))
        f.fail(where, detail::concat("\"", key, "\": true is not supported"));
    // HF's AddedToken defaults to normalized = !special.
    const bool special = f.boolean(f.optional(t, "special", where), where + ".special", false);
    const bool normalized = f.boolean(f.optional(t, "normalized", where), where + ".normalized", !special);
    if (static_cast<std::size_t>(id) >= tokens_.size()) tokens_.resize(static_cast<std::size_t>(id) + 1);
    tokens_[static_cast<std::size_t>(id)] = content;
    added_.push_back({std::move(content), id, normalized});
  }
}

void HfBpeTokenizer::parse_normalizer(const json& spec, const std::string& where) {
  const Fields f(source_);
  const std::string type = f.type(spec, where);
  if (type == "Sequence") {
    const json& steps = f.array(f.member(spec, "normalizers", where), where + ".normalizers");
    for (std::size_t i = 0; i < steps.size(); ++i)
      parse_normalizer(steps[i], detail::concat(where, ".normalizers[", i, "]"));
  } else if (type == "Prepend") {
    normalizer_.push_back(
        {NormalizerStep::Kind::Prepend, {}, f.string(f.member(spec, "prepend", where), where + ".prepend")});
  } else if (type == "Replace") {
    normalizer_.push_back({NormalizerStep::Kind::Replace, f.pattern(spec, where),
                           f.string(f.member(spec, "content", where), where + ".content")});
  } else {
    f.fail(where, detail::concat("normalizer type \"", type, "\" is not supported (only Sequence, Prepend, ",
                                 "Replace)"));
  }
}

void HfBpeTokenizer::parse_decoder(const json& spec, const std::string& where, bool& fused) {
  const Fields f(source_);
  const std::string type = f.type(spec, where);
  if (type == "Sequence") {
    const json& steps = f.array(f.member(spec, "decoders", where), where + ".decoders");
    for (std::size_t i = 0; i < steps.size(); ++i)
      parse_decoder(steps[i], detail::concat(where, ".decoders[", i, "]"), fused);
  } else if (type == "Replace") {
    DecoderStep step{DecoderStep::Kind::Replace, f.pattern(spec, where),
                     f.string(f.member(spec, "content", where), where + ".content")};
    // After Fuse a pattern could span two tokens, which a per-token decoder cannot see.
    if (fused && utf8::char_length(step.pattern, 0) != step.pattern.size())
      f.fail(where, "a multi-character Replace after Fuse is not supported");
    decoder_.push_back(std::move(step));
  } else if (type == "ByteFallback") {
    if (fused) f.fail(where, "ByteFallback after Fuse is not supported");
    decoder_.push_back({DecoderStep::Kind::ByteFallback, {}, {}});
  } else if (type == "Fuse") {
    fused = true;  // tokens are concatenated from here on: only the text boundaries remain special
  } else if (type == "Strip") {
    const std::string content = f.string(f.member(spec, "content", where), where + ".content");
    if (content.empty() || utf8::char_length(content, 0) != content.size())
      f.fail(where + ".content", "expected exactly one character");
    DecoderStep step{DecoderStep::Kind::Strip, {}, {}};
    step.strip_char = utf8::code_point(content, 0, content.size());
    step.strip_start = static_cast<int>(f.integer(f.member(spec, "start", where), where + ".start", 0, 1 << 20));
    step.strip_stop = static_cast<int>(f.integer(f.member(spec, "stop", where), where + ".stop", 0, 1 << 20));
    step.after_fuse = fused;
    if (fused && step.strip_stop != 0)
      f.fail(where, "Strip with stop > 0 after Fuse (the end of the whole text) is not supported");
    decoder_.push_back(std::move(step));
  } else {
    f.fail(where, detail::concat("decoder type \"", type, "\" is not supported (only Sequence, Replace, ",
                                 "ByteFallback, Fuse, Strip)"));
  }
}

std::string HfBpeTokenizer::template_bos(const json& root) const {
  // TemplateProcessing {"single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": ...}]}: the token HF puts
  // before a single text is the BOS of that tokenizer.
  const Fields f(source_);
  const json& post = f.optional(root, "post_processor", "top level");
  if (!post.is_object() || f.type(post, "post_processor") != "TemplateProcessing") return {};
  const json& single = f.array(f.member(post, "single", "post_processor"), "post_processor.single");
  if (single.empty() || !single[0].is_object() || !single[0].contains("SpecialToken")) return {};
  return f.string(f.member(single[0]["SpecialToken"], "id", "post_processor.single[0].SpecialToken"),
                  "post_processor.single[0].SpecialToken.id");
}

int HfBpeTokenizer::special_id(const std::string& name, const char* which) const {
  if (name.empty()) return -1;
  const int id = token_id(name);
  if (id < 0) Fields(source_).fail(which, detail::concat("token \"", name, "\" is not in the vocabulary"));
  return id;
}

HfBpeTokenizer HfBpeTokenizer::load(const std::filesystem::path& path) {
  SpecialNames names;
  for (const char* sibling : {"tokenizer_config.json", "special_tokens_map.json"}) {
    const std::filesystem::path config = path.parent_path() / sibling;
    if (names.bos.empty()) names.bos = config_token(config, "bos_token");
    if (names.eos.empty()) names.eos = config_token(config, "eos_token");
  }
  return HfBpeTokenizer(read_small_file(path, max_json_bytes), path.string(), std::move(names));
}

int HfBpeTokenizer::token_id(std::string_view text) const {
  for (const AddedToken& t : added_)
    if (tokens_[static_cast<std::size_t>(t.id)] == text) return t.id;
  const auto it = vocab_.find(std::string(text));
  return it == vocab_.end() ? -1 : it->second;
}

std::string HfBpeTokenizer::normalize(std::string_view text) const {
  std::string s(text);
  for (const NormalizerStep& step : normalizer_) {
    if (step.kind == NormalizerStep::Kind::Prepend) {
      if (!s.empty()) s.insert(0, step.content);  // HF's Prepend leaves an empty string empty
    } else {
      s = replace_all(s, step.pattern, step.content);
    }
  }
  return s;
}

template <class Rest>
void HfBpeTokenizer::split_added(std::string_view text, bool normalized, std::vector<int>& out,
                                 const Rest& rest) const {
  constexpr std::size_t none = std::string_view::npos;
  std::vector<std::size_t> next(added_.size(), none);  // next occurrence of each token at or after `pos`
  for (std::size_t i = 0; i < added_.size(); ++i)
    if (added_[i].normalized == normalized && !added_[i].match.empty()) next[i] = text.find(added_[i].match);
  std::size_t pos = 0;
  for (;;) {
    std::size_t best = added_.size();
    for (std::size_t i = 0; i < added_.size(); ++i) {
      if (next[i] == none) continue;
      if (best == added_.size() || next[i] < next[best] ||
          (next[i] == next[best] && added_[i].match.size() > added_[best].match.size()))
        best = i;
    }
    if (best == added_.size()) break;
    const std::size_t at = next[best];
    rest(text.substr(pos, at - pos));
    out.push_back(added_[best].id);
    pos = at + added_[best].match.size();
    for (std::size_t i = 0; i < added_.size(); ++i)
      if (next[i] != none && next[i] < pos) next[i] = text.find(added_[i].match, pos);
  }
  rest(text.substr(pos));
}

std::vector<int> HfBpeTokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  // HF AddedVocabulary::extract_and_normalize: split at the raw-text tokens, normalize each remaining piece
  // on its own, split that at the normalized tokens, and run the model on what is left.
  split_added(text, false, ids, [&](std::string_view raw) {
    if (raw.empty()) return;
    const std::string normalized = normalize(raw);
    split_added(normalized, true, ids, [&](std::string_view piece) { encode_model(piece, ids); });
  });
  return ids;
}

void HfBpeTokenizer::encode_model(std::string_view text, std::vector<int>& out) const {
  if (text.empty()) return;
  if (ignore_merges_)
    if (const auto it = vocab_.find(std::string(text)); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  std::vector<int> symbols;
  symbols.reserve(text.size());
  bool last_unk = false;
  std::string ch;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t len = utf8::char_length(text, pos);
    ch.assign(text, pos, len);
    pos += len;
    if (const auto it = vocab_.find(ch); it != vocab_.end()) {
      symbols.push_back(it->second);
      last_unk = false;
      continue;
    }
    if (byte_fallback_ && std::all_of(ch.begin(), ch.end(), [&](char c) {
          return byte_ids_[static_cast<unsigned char>(c)] >= 0;
        })) {
      for (const char c : ch) symbols.push_back(byte_ids_[static_cast<unsigned char>(c)]);
      last_unk = false;
      continue;
    }
    if (unk_ < 0) continue;  // HF drops a character it has no token for when the model has no unk token
    if (!(fuse_unk_ && last_unk)) symbols.push_back(unk_);
    last_unk = true;
  }
  bpe::merge_all(symbols, [this](int left, int right) -> std::optional<bpe::Merge> {
    const auto it = merges_.find(bpe::pair_key(left, right));
    if (it == merges_.end()) return std::nullopt;
    return it->second;
  });
  out.insert(out.end(), symbols.begin(), symbols.end());
}

std::string HfBpeTokenizer::decode_token(int id, bool at_start) const {
  std::string s = tokens_[static_cast<std::size_t>(id)];
  for (const DecoderStep& step : decoder_) {
    switch (step.kind) {
      case DecoderStep::Kind::Replace:
        s = replace_all(s, step.pattern, step.content);
        break;
      case DecoderStep::Kind::ByteFallback:
        if (const auto byte = byte_token_value(s)) s.assign(1, static_cast<char>(*byte));
        break;
      case DecoderStep::Kind::Strip: {
        if (step.after_fuse && !at_start) break;
        std::size_t begin = 0;
        for (int k = 0; k < step.strip_start && begin < s.size(); ++k) {
          const std::size_t len = utf8::char_length(s, begin);
          if (utf8::code_point(s, begin, len) != step.strip_char) break;
          begin += len;
        }
        std::size_t end = s.size();
        for (int k = 0; k < step.strip_stop && end > begin; ++k) {
          std::size_t start = end - 1;
          while (start > begin && utf8::is_continuation(static_cast<unsigned char>(s[start]))) --start;
          if (utf8::code_point(s, start, utf8::char_length(s, start)) != step.strip_char) break;
          end = start;
        }
        s = s.substr(begin, end - begin);
        break;
      }
    }
  }
  return s;
}

const std::string& HfBpeTokenizer::token_text(int id) const {
  require(id >= 0 && id < vocab_size(), "token id ", id, " is outside the vocabulary [0, ", vocab_size(),
          ") of ", source_);
  return tokens_[static_cast<std::size_t>(id)];
}

std::string HfBpeTokenizer::piece(int id, int previous_id) const {
  token_text(id);  // range check
  const bool at_start = previous_id < 0 || (bos_ >= 0 && previous_id == bos_);
  return (at_start ? piece_start_ : piece_mid_)[static_cast<std::size_t>(id)];
}

}  // namespace srr::model
