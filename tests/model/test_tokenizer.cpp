// SPDX-License-Identifier: MIT
// Both tokenizers on the real files of the shared data directory.
//
// Reference values: the HF ids come from tokenizers.js (@huggingface/tokenizers 0.2.0, an independent
// implementation of HF tokenizers) run on the same tokenizer.json; the llama2.c ids from a literal
// transcription of run.c encode() (rescan all pairs after every merge). Hashes are FNV-1a-64 over the ids,
// so the test carries no text of the corpus.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/timer.hpp"
#include "model/text.hpp"
#include "model/tokenizer.hpp"
#include "model/tokenizer_hf.hpp"
#include "model/tokenizer_llama2c.hpp"
#include "support.hpp"

using namespace srr::model;
using srr::InputError;
using srr::model::test::data_file;

namespace {

constexpr std::uint64_t fnv_offset = 0xcbf29ce484222325ull;

std::uint64_t fnv(const std::vector<int>& ids, std::uint64_t h = fnv_offset) {
  for (const int id : ids) {
    h ^= static_cast<std::uint64_t>(id);
    h *= 0x100000001b3ull;
  }
  return h;
}

std::vector<std::string> nonempty_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t nl = std::min(text.find('\n', pos), text.size());
    if (nl > pos) lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

const std::string& tinystories() {
  static const std::string text = read_text(data_file("tinystories/tinystories_val_head.txt"));
  return text;
}

const HfBpeTokenizer& hf() {
  static const HfBpeTokenizer tok = HfBpeTokenizer::load(data_file("tinystories-656k/tokenizer.json"));
  return tok;
}

const Llama2cTokenizer& l2c() {
  static const Llama2cTokenizer tok = Llama2cTokenizer::load(data_file("stories260K/tok512.bin"));
  return tok;
}

/// Runs `what`, expects an InputError whose message contains every one of `needles`.
template <class F>
void expect_input_error(F&& what, std::initializer_list<std::string> needles) {
  try {
    what();
    ADD_FAILURE() << "no InputError thrown";
  } catch (const InputError& e) {
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

void report_speed(const char* name, const Tokenizer& tok, const std::string& text) {
  srr::Stopwatch clock;
  const std::vector<int> ids = tok.encode(text);
  const double s = clock.seconds();
  std::cout << "[ speed    ] " << name << ": " << text.size() << " bytes -> " << ids.size() << " tokens in " << s
            << " s = " << static_cast<double>(ids.size()) / s << " tokens/s\n";
}

/// A small tokenizer.json: byte fallback tokens present, merges as [a, b] arrays.
std::string tiny_json(const std::string& merges, const std::string& extra_model = "") {
  return R"({"version": "1.0", "added_tokens": [{"id": 0, "content": "<unk>", "special": true},
    {"id": 1, "content": "<s>", "special": true, "normalized": false}],
  "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
    {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
  "pre_tokenizer": null,
  "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
    {"Sequence": {"id": "A", "type_id": 0}}]},
  "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
    {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
  "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true)" +
         extra_model + R"(,
    "vocab": {"<unk>": 0, "<s>": 1, "<0xC3>": 2, "<0xA9>": 3, "\u2581": 4, "a": 5, "b": 6, "\u2581a": 7,
              "ab": 8, "\u2581ab": 9},
    "merges": )" +
         merges + "}}";
}

}  // namespace

// ---- HF tokenizer.json (TinyStories-656K) ----------------------------------------------------------------

TEST(HfTokenizer, LoadsTinyStoriesVocabularyAndSpecialTokens) {
  const auto tok = load_tokenizer(data_file("tinystories-656k/tokenizer.json"));
  EXPECT_NE(dynamic_cast<const HfBpeTokenizer*>(tok.get()), nullptr);
  EXPECT_EQ(tok->vocab_size(), 2048);
  EXPECT_EQ(tok->bos(), 1);
  EXPECT_EQ(tok->eos(), 2);
  EXPECT_EQ(hf().token_text(1), "<|start_story|>");
  EXPECT_EQ(hf().token_text(2), "<|end_story|>");
}

TEST(HfTokenizer, OnceUponATimeIsMergedAcrossSpaces) {
  const std::vector<int> ids = hf().encode("Once upon a time");
  std::string pieces;
  for (const int id : ids) pieces += hf().token_text(id);
  EXPECT_EQ(pieces, "\u2581Once\u2581upon\u2581a\u2581time");  // the normalized text, merged across spaces
  EXPECT_EQ(ids, (std::vector<int>{80, 147, 201, 282, 57}));    // ▁ On ce▁ upon▁a▁tim e (tokenizers.js)
  EXPECT_EQ(hf().token_text(282), "upon\u2581a\u2581tim");
  EXPECT_EQ(hf().decode(ids), "Once upon a time");
}

TEST(HfTokenizer, EmptyStringAndSpaces) {
  EXPECT_TRUE(hf().encode("").empty());
  EXPECT_EQ(hf().decode(std::vector<int>{}), "");
  const std::vector<int> ids = hf().encode(" a  b ");
  EXPECT_EQ(ids, (std::vector<int>{80, 104, 80, 1927}));  // tokenizers.js
  EXPECT_EQ(hf().decode(ids), " a  b ");
}

TEST(HfTokenizer, UnknownCharactersBecomeOneFusedUnkWithoutByteTokens) {
  // This vocabulary has no <0xXX> tokens, so byte_fallback cannot apply and HF falls back to <unk>;
  // the four-byte emoji is one character and one <unk>.
  EXPECT_EQ(hf().encode("\xC3\xA9"), (std::vector<int>{80, 0}));
  const std::vector<int> ids = hf().encode("Hi \xF0\x9F\x98\x80!");
  EXPECT_EQ(ids, (std::vector<int>{80, 1158, 80, 0, 4}));
  EXPECT_EQ(hf().decode(ids), "Hi <unk>!");
  EXPECT_EQ(hf().encode("\xC3\xA9\xC3\xA9\xF0\x9F\x98\x80"), (std::vector<int>{80, 0}));  // fuse_unk
}

TEST(HfTokenizer, SpecialTokensInTextAreMatchedAfterNormalization) {
  // The added tokens are `normalized`, so HF matches their normalized form "▁<|start_story|>": the space
  // before the token belongs to it (tokenizers.js gives the same ids).
  EXPECT_EQ(hf().encode("<|start_story|>Once"), (std::vector<int>{1, 147, 682}));
  EXPECT_EQ(hf().encode("Hello <|start_story|>Once"), (std::vector<int>{80, 1288, 67, 1, 147, 682}));
  EXPECT_EQ(hf().decode(hf().encode("<|start_story|>Once")), "<|start_story|>Once");
}

TEST(HfTokenizer, PieceStripsTheLeadingSpaceAtTheStartAndAfterBos) {
  ASSERT_EQ(hf().token_text(85), "\u2581a");
  EXPECT_EQ(hf().piece(85, -1), "a");
  EXPECT_EQ(hf().piece(85, hf().bos()), "a");
  EXPECT_EQ(hf().piece(85, 53), " a");
  EXPECT_EQ(hf().piece(1, -1), "<|start_story|>");
  expect_input_error([] { hf().piece(2048, -1); }, {"2048", "tokenizer.json"});
  expect_input_error([] { hf().piece(-1, -1); }, {"-1"});
}

TEST(HfTokenizer, RoundTripsEveryTinyStoriesLineWithoutUnknownCharacters) {
  std::uint64_t h = fnv_offset;
  std::size_t tokens = 0, exact = 0, with_unk = 0;
  const auto lines = nonempty_lines(tinystories());
  for (const std::string& line : lines) {
    const std::vector<int> ids = hf().encode(line);
    h = fnv(ids, h);
    tokens += ids.size();
    if (std::find(ids.begin(), ids.end(), 0) != ids.end()) {
      ++with_unk;  // the mojibake "â€œ" etc. of the corpus has no token: it decodes as <unk>
      continue;
    }
    EXPECT_EQ(hf().decode(ids), line);
    ++exact;
  }
  EXPECT_EQ(lines.size(), 4358u);
  EXPECT_EQ(exact, 4246u);  // the lines all of whose characters have a token
  EXPECT_EQ(exact + with_unk, lines.size());
  EXPECT_EQ(tokens, 194332u);                 // tokenizers.js, line by line
  EXPECT_EQ(h, 0x9271d3c6c32dbe46ull);
}

TEST(HfTokenizer, WholeCorpusAsOneStreamMatchesReference) {
  const std::vector<int> ids = hf().encode(tinystories());
  EXPECT_EQ(ids.size(), 193346u);  // tokenizers.js on the whole file: merges cross lines (".\n" etc.)
  EXPECT_EQ(fnv(ids), 0x5fe83808f9a00a9cull);
  report_speed("HF TinyStories-656K", hf(), tinystories());
}

TEST(HfTokenizer, ByteFallbackAndArrayMerges) {
  const HfBpeTokenizer tok(tiny_json(R"([["a", "b"], ["\u2581", "ab"], ["\u2581", "a"]])"), "tiny.json");
  EXPECT_EQ(tok.vocab_size(), 10);
  EXPECT_EQ(tok.bos(), 1);  // from the post-processor template
  EXPECT_EQ(tok.eos(), -1);
  // "ab" has rank 0, so "▁ab" wins over "▁a" + "b" although "▁a" is also a merge.
  EXPECT_EQ(tok.encode("ab"), (std::vector<int>{9}));
  EXPECT_EQ(tok.encode("a\xC3\xA9"), (std::vector<int>{7, 2, 3}));  // é → <0xC3> <0xA9>
  EXPECT_EQ(tok.decode(tok.encode("a\xC3\xA9")), "a\xC3\xA9");
  // A non-normalized token is matched in the raw text, and each side is normalized on its own (HF
  // extract_and_normalize), so "b" gets its own prepended "▁".
  EXPECT_EQ(tok.encode("a<s>b"), (std::vector<int>{7, 1, 4, 6}));
  EXPECT_EQ(tok.encode("\xE2\x82\xAC"), (std::vector<int>{4, 0}));  // € has no byte tokens here: <unk>
  // The same merges as "a b" strings give the same tokenizer.
  const HfBpeTokenizer legacy(tiny_json(R"(["a b", "\u2581 ab", "\u2581 a"])"), "legacy.json");
  EXPECT_EQ(legacy.encode("ab a ba"), tok.encode("ab a ba"));
}

TEST(HfTokenizer, RefusesMalformedAndUnsupportedFiles) {
  const std::string merges = R"([["a", "b"]])";
  const auto bad = [&](const std::string& json, std::initializer_list<std::string> needles) {
    expect_input_error([&] { HfBpeTokenizer(json, "bad.json"); }, needles);
  };
  bad("{not json", {"bad.json", "JSON"});
  bad("[]", {"bad.json", "object"});
  bad(R"({"added_tokens": []})", {"bad.json", "model"});
  bad(tiny_json("5"), {"bad.json", "model.merges", "array"});
  bad(tiny_json(R"([["a", "zz"]])"), {"model.merges[0]", "vocabulary"});
  bad(tiny_json(R"(["a  b"])"), {"model.merges[0]"});
  bad(tiny_json(R"([["a", 3]])"), {"model.merges[0][1]", "string"});
  bad(tiny_json(merges, R"(, "dropout": 0.1)"), {"dropout"});
  bad(tiny_json(merges, R"(, "continuing_subword_prefix": "##")"), {"continuing_subword_prefix"});
  std::string j = tiny_json(merges);
  bad(std::string(j).replace(j.find(R"("a": 5)"), 6, R"("a": "5")"), {"model.vocab[\"a\"]", "integer"});
  bad(std::string(j).replace(j.find(R"("a": 5)"), 6, R"("a": 12)"), {"ids must be dense"});
  bad(std::string(j).replace(j.find(R"("b": 6)"), 6, R"("a": 6)"), {"duplicated"});
  bad(std::string(j).replace(j.find(R"("type": "BPE")"), 13, R"("type": "Unigram")"), {"Unigram"});
  bad(std::string(j).replace(j.find(R"("pre_tokenizer": null)"), 21, R"("pre_tokenizer": {"type": "ByteLevel"})"),
      {"pre_tokenizer", "ByteLevel"});
  bad(std::string(j).replace(j.find(R"({"type": "Prepend")"), 18, R"({"type": "NFKC")"), {"NFKC"});
  bad(std::string(j).replace(j.find(R"({"type": "Fuse"})"), 16, R"({"type": "Metaspace"})"), {"Metaspace"});
  bad(std::string(j).replace(j.find(R"("special": true})"), 16, R"("special": true, "lstrip": true})"),
      {"lstrip"});
  bad(std::string(j).replace(j.find(R"({"String": " "})"), 15, R"({"Regex": " +"})"), {"String"});
  bad(std::string(j).replace(j.find(R"("byte_fallback": true)"), 21, R"("byte_fallback": "yes")"),
      {"model.byte_fallback"});
  expect_input_error([&] { HfBpeTokenizer(j, "x.json", {"<nope>", ""}); }, {"BOS", "<nope>"});
}

TEST(HfTokenizer, LoaderNamesMissingAndUnknownFiles) {
  srr::model::test::TempDir dir;
  expect_input_error([&] { load_tokenizer(dir / "tokenizer.json"); }, {"tokenizer.json"});
  srr::model::test::write_file(dir / "vocab.txt", "a\n");
  expect_input_error([&] { load_tokenizer(dir / "vocab.txt"); }, {"vocab.txt", "unknown format"});
  srr::model::test::write_file(dir / "tokenizer.json",
                               R"({"model": {"type": "BPE", "vocab": {"a": "0"}, "merges": []}})");
  expect_input_error([&] { load_tokenizer(dir / "tokenizer.json"); }, {"tokenizer.json", "model.vocab"});
}

// ---- llama2.c tok512.bin (stories260K) --------------------------------------------------------------------

TEST(Llama2cTokenizer, LoadsTok512) {
  const auto tok = load_tokenizer(data_file("stories260K/tok512.bin"));
  EXPECT_NE(dynamic_cast<const Llama2cTokenizer*>(tok.get()), nullptr);
  EXPECT_EQ(tok->vocab_size(), 512);
  EXPECT_EQ(tok->bos(), 1);
  EXPECT_EQ(tok->eos(), 2);
  EXPECT_EQ(l2c().max_token_length(), 7);
  EXPECT_EQ(l2c().token_text(3), "<0x00>");
  EXPECT_EQ(l2c().token_text(259), " t");
  EXPECT_FLOAT_EQ(l2c().score(260), -1.0f);
}

TEST(Llama2cTokenizer, OnceUponATimeGetsTheDummyPrefix) {
  const std::vector<int> ids = l2c().encode("Once upon a time");
  std::string pieces;
  for (const int id : ids) pieces += l2c().token_text(id);
  EXPECT_EQ(pieces, " Once upon a time");
  EXPECT_EQ(ids, (std::vector<int>{403, 407, 261, 378}));  // run.c transcription
  EXPECT_EQ(l2c().decode(ids), " Once upon a time");       // no BOS before it: the space stays
  EXPECT_EQ(l2c().piece(ids[0], l2c().bos()), "Once");       // after BOS run.c drops it
}

TEST(Llama2cTokenizer, ByteFallbackForCharactersOutsideTheVocabulary) {
  // U+1F600 is not in the 512 tokens: its four bytes become byte tokens byte + 3.
  const std::vector<int> ids = l2c().encode("\xF0\x9F\x98\x80");
  EXPECT_EQ(ids, (std::vector<int>{410, 0xF0 + 3, 0x9F + 3, 0x98 + 3, 0x80 + 3}));
  EXPECT_EQ(l2c().token_text(410), " ");
  EXPECT_EQ(l2c().decode(ids), " \xF0\x9F\x98\x80");
  EXPECT_EQ(l2c().encode("Hi \xF0\x9F\x98\x80!"), (std::vector<int>{320, 417, 410, 243, 162, 155, 131, 443}));
  // "é" happens to be a token of its own.
  EXPECT_EQ(l2c().token_text(l2c().encode("\xC3\xA9")[1]), "\xC3\xA9");
  // A stray continuation byte is its own "character" and falls back to its byte.
  EXPECT_EQ(l2c().encode("\x80"), (std::vector<int>{410, 0x80 + 3}));
}

TEST(Llama2cTokenizer, EmptyString) {
  EXPECT_TRUE(l2c().encode("").empty());  // no dummy prefix for empty text (run.c)
}

TEST(Llama2cTokenizer, RoundTripsEveryTinyStoriesLine) {
  // What holds exactly: decode(encode(s)) == " " + s for non-empty s (the dummy prefix is a real token),
  // and printing after BOS (piece(first, BOS) + the rest) gives back s itself.
  std::uint64_t h = fnv_offset;
  std::size_t tokens = 0;
  const auto lines = nonempty_lines(tinystories());
  for (const std::string& line : lines) {
    const std::vector<int> ids = l2c().encode(line);
    h = fnv(ids, h);
    tokens += ids.size();
    ASSERT_EQ(l2c().decode(ids), " " + line);
    std::string printed = l2c().piece(ids[0], l2c().bos());
    for (std::size_t i = 1; i < ids.size(); ++i) printed += l2c().piece(ids[i], ids[i - 1]);
    ASSERT_EQ(printed, line);
  }
  EXPECT_EQ(lines.size(), 4358u);
  EXPECT_EQ(tokens, 381526u);  // run.c transcription, line by line
  EXPECT_EQ(h, 0x07571d7f994aa6fdull);
}

TEST(Llama2cTokenizer, WholeCorpusRoundTrips) {
  const std::vector<int> ids = l2c().encode(tinystories());
  EXPECT_EQ(l2c().decode(ids), " " + tinystories());
  report_speed("llama2.c tok512", l2c(), tinystories());
}

TEST(Llama2cTokenizer, RefusesCorruptFiles) {
  const std::string good = srr::model::test::read_file(data_file("stories260K/tok512.bin"));
  const auto bad = [](const std::string& bytes, int vocab, std::initializer_list<std::string> needles) {
    expect_input_error([&] { Llama2cTokenizer(bytes, "tok.bin", vocab); }, needles);
  };
  bad("", 0, {"tok.bin", "truncated", "max_token_length"});
  bad(good.substr(0, good.size() - 1), 0, {"tok.bin", "truncated", "token 511"});
  bad(good.substr(0, good.size() / 2), 0, {"tok.bin", "truncated"});
  bad(good, 511, {"tok.bin", "bytes follow", "511"});
  bad(good, 513, {"tok.bin", "truncated", "token 512"});
  bad(good.substr(0, 4 + (8 + 5) + (8 + 5) + (8 + 6)), 0, {"tok.bin", "only 3 tokens"});  // <unk>, BOS, EOS
  std::string b = good;
  b[0] = 0;  // max_token_length 0
  bad(b, 0, {"max_token_length"});
  b = good;
  b[4 + 4 + 3] = static_cast<char>(0x80);  // the int32 length of token 0 becomes negative
  bad(b, 0, {"token 0", "length"});
  b = good;
  b.replace(b.find("<0x41>"), 6, "<0x4X>");
  bad(b, 0, {"byte token <0x41>"});
  EXPECT_EQ(Llama2cTokenizer(good, "tok.bin", 512).vocab_size(), 512);

  srr::model::test::TempDir dir;
  srr::model::test::write_file(dir / "tok512.bin", good.substr(0, 101));  // 101: inside token 7
  expect_input_error([&] { load_tokenizer(dir / "tok512.bin"); }, {"tok512.bin", "truncated"});
}
