// SPDX-License-Identifier: MIT
// Text protocols: reading text, stream windows, and lm-eval's WikiText-2 word-perplexity pieces.
//
// WikiText reference values were computed offline with lm-eval's own Python (preprocess_wikitext.py and the
// EleutherAI/wikitext_document_level builder script) on the same wiki.test.raw; the hash is FNV-1a-64 over
// the bytes of the detokenized documents, so no text of the corpus is stored here.
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "model/text.hpp"
#include "support.hpp"

using namespace srr::model;
using srr::InputError;
using srr::model::test::data_file;

namespace {

template <class F>
std::string input_error_message(F&& what) {
  try {
    what();
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError thrown";
  return {};
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

const std::vector<std::string>& wikitext_pages() {
  static const std::vector<std::string> pages =
      split_wikitext_documents(read_text(data_file("wikitext-2/wiki.test.raw")));
  return pages;
}

}  // namespace

// ---- read_text -----------------------------------------------------------------------------------------

TEST(ReadText, NeverCutsACharacterInHalf) {
  srr::model::test::TempDir dir;
  const std::string text = "a\xC3\xA9\xE2\x82\xAC" "b";  // a é € b: 1 + 2 + 3 + 1 bytes
  srr::model::test::write_file(dir / "t.txt", text);
  const std::size_t expected[] = {0, 1, 1, 3, 3, 3, 6, 7, 7};
  for (std::size_t max = 0; max < std::size(expected); ++max)
    EXPECT_EQ(read_text(dir / "t.txt", max), text.substr(0, expected[max])) << "max_chars " << max;
  EXPECT_EQ(read_text(dir / "t.txt"), text);
}

TEST(ReadText, MissingFileNamesIt) {
  srr::model::test::TempDir dir;
  EXPECT_TRUE(contains(input_error_message([&] { read_text(dir / "nope.txt", 10); }), "nope.txt"));
  EXPECT_TRUE(contains(input_error_message([&] { read_text(dir.path(), 10); }), "not a regular file"));
}

// ---- stream windows ------------------------------------------------------------------------------------

TEST(StreamWindows, BosPrefixedChunksOfCtxMinusOneIncludingTheShortLastOne) {
  std::vector<int> stream(10);
  std::iota(stream.begin(), stream.end(), 100);
  const int bos = 1;
  const auto w = stream_windows(stream, 4, bos);
  ASSERT_EQ(w.size(), 4u);
  EXPECT_EQ(w[0], (std::vector<int>{1, 100, 101, 102}));
  EXPECT_EQ(w[1], (std::vector<int>{1, 103, 104, 105}));
  EXPECT_EQ(w[2], (std::vector<int>{1, 106, 107, 108}));
  EXPECT_EQ(w[3], (std::vector<int>{1, 109}));
  EXPECT_EQ(predicted_tokens(w), 10u);
  EXPECT_EQ(stream_window_count(10, 4), 4u);
  EXPECT_EQ(stream_window_count(9, 4), 3u);
  EXPECT_EQ(stream_window_count(0, 4), 0u);

  const auto slice = stream_windows(stream, 4, bos, 1, 2);
  ASSERT_EQ(slice.size(), 2u);
  EXPECT_EQ(slice[0], w[1]);
  EXPECT_EQ(slice[1], w[2]);
  EXPECT_EQ(stream_windows(stream, 4, bos, 3).size(), 1u);
  EXPECT_EQ(predicted_tokens(stream_windows(stream, 4, bos, 3)), 1u);
  EXPECT_EQ(stream_windows(stream, 11, bos).size(), 1u);  // ctx - 1 >= stream: one window
  EXPECT_EQ(stream_windows(stream, 2, bos).size(), 10u);  // ctx 2: one token per window
}

TEST(StreamWindows, RefusesBadSlices) {
  const std::vector<int> stream(10, 7);
  EXPECT_TRUE(contains(input_error_message([&] { stream_windows(stream, 1, 1); }), "context length 1"));
  EXPECT_TRUE(contains(input_error_message([&] { stream_windows(stream, 4, 1, -1); }), "negative"));
  EXPECT_TRUE(contains(input_error_message([&] { stream_windows(stream, 4, 1, 0, 0); }), "--windows"));
  EXPECT_TRUE(contains(input_error_message([&] { stream_windows(stream, 4, 1, 0, -2); }), "--windows"));
  const std::string beyond = input_error_message([&] { stream_windows(stream, 4, 1, 3, 2); });
  EXPECT_TRUE(contains(beyond, "4 windows")) << beyond;
  EXPECT_TRUE(contains(input_error_message([&] { stream_windows(stream, 4, 1, 4); }), "4 windows"));
  EXPECT_TRUE(contains(input_error_message([&] { stream_windows({}, 4, 1); }), "0 windows"));
}

// ---- rolling windows (lm-eval get_rolling_token_windows, context_len 1) ---------------------------------

TEST(RollingWindows, HandExample) {
  const std::vector<int> t{10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
  const auto w = rolling_windows(t, 3, 1);
  ASSERT_EQ(w.size(), 4u);
  EXPECT_EQ(w[0].input, (std::vector<int>{1, 10, 11}));  // predicts 10 11 12
  EXPECT_EQ(w[0].first_scored, 0u);
  EXPECT_EQ(w[0].target_begin, 0u);
  EXPECT_EQ(w[1].input, (std::vector<int>{12, 13, 14}));  // predicts 13 14 15
  EXPECT_EQ(w[1].first_scored, 0u);
  EXPECT_EQ(w[1].target_begin, 3u);
  EXPECT_EQ(w[2].input, (std::vector<int>{15, 16, 17}));  // predicts 16 17 18
  EXPECT_EQ(w[3].input, (std::vector<int>{16, 17, 18}));  // predicts only 19, with two tokens of context
  EXPECT_EQ(w[3].first_scored, 2u);
  EXPECT_EQ(w[3].target_begin, 9u);
  EXPECT_EQ(w[3].target_count(), 1u);
  EXPECT_TRUE(rolling_windows({}, 3, 1).empty());
  EXPECT_TRUE(contains(input_error_message([&] { rolling_windows(t, 0, 1); }), "max_len"));
}

TEST(RollingWindows, EveryTokenIsPredictedExactlyOnceWithItsTrueContext) {
  const int bos = -7;
  for (int n = 0; n <= 40; ++n) {
    std::vector<int> t(static_cast<std::size_t>(n));
    std::iota(t.begin(), t.end(), 0);  // token i has value i, so a value says where it came from
    for (int max_len = 1; max_len <= 12; ++max_len) {
      const auto windows = rolling_windows(t, max_len, bos);
      std::vector<int> times(static_cast<std::size_t>(n), 0);
      for (std::size_t k = 0; k < windows.size(); ++k) {
        const RollingWindow& w = windows[k];
        ASSERT_LE(w.input.size(), static_cast<std::size_t>(max_len));
        if (k > 0) {
          ASSERT_EQ(w.input.size(), static_cast<std::size_t>(max_len));  // full context
        }
        ASSERT_LT(w.first_scored, w.input.size());
        for (std::size_t p = 0; p < w.input.size(); ++p) {
          // The input is the true sequence [BOS] + t: position p holds the token just before the one it
          // predicts.
          const std::size_t target = w.target_begin + p - w.first_scored;
          if (p >= w.first_scored) {
            ASSERT_LT(target, t.size());
            ++times[target];
          }
          const int expected_input = target == 0 ? bos : t[target - 1];
          ASSERT_EQ(w.input[p], expected_input) << "n " << n << " max_len " << max_len << " window " << k;
        }
      }
      for (int i = 0; i < n; ++i) ASSERT_EQ(times[static_cast<std::size_t>(i)], 1) << n << " " << max_len;
    }
  }
}

// ---- lm-eval wikitext_detokenizer -----------------------------------------------------------------------

TEST(WikitextDetokenize, HandExamples) {
  EXPECT_EQ(wikitext_detokenize("the cat 's toy"), "the cat's toy");
  EXPECT_EQ(wikitext_detokenize("the players ' union"), "the players' union");
  EXPECT_EQ(wikitext_detokenize("1 @,@ 000 @.@ 5 km @-@ long"), "1,000.5 km-long");
  EXPECT_EQ(wikitext_detokenize("Hi , you . Yes ; no : maybe ! Why ? ok"), "Hi, you. Yes; no: maybe! Why? ok");
  EXPECT_EQ(wikitext_detokenize("a ( b c ) d [ e ] { f } \" g \" x"), "a (b c) d [e] {f} \"g\" x");
  EXPECT_EQ(wikitext_detokenize("( )"), "()");
  // Python's lazy regex pairs an opening bracket with the first closing one after it.
  EXPECT_EQ(wikitext_detokenize("a ( b ( c ) d"), "a (b ( c) d");
  EXPECT_EQ(wikitext_detokenize("\" a \" b \" c"), "\"a\" b \" c");
  // "s '" → "s'" first, then the single-quote pair rule: both as lm-eval does it.
  EXPECT_EQ(wikitext_detokenize("it ' s 'quoted' x"), "it's'quoted' x");
  // \s is Unicode whitespace: U+00A0 inside brackets goes too.
  EXPECT_EQ(wikitext_detokenize("(\xC2\xA0x\xC2\xA0)"), "(x)");
  EXPECT_EQ(wikitext_detokenize(" = = = Film = = = \n"), " === Film ===\n");
  EXPECT_EQ(wikitext_detokenize("= = = = Deep = = = ="), "==== Deep ====");
  EXPECT_EQ(wikitext_detokenize("10 \xC2\xB0 C"), "10\xC2\xB0" "C");
  EXPECT_EQ(wikitext_detokenize("end . \n next"), "end.\nnext");
  EXPECT_EQ(wikitext_detokenize("won N games"), "won 1 games");
  // The pattern r"/' [0-9]/" has literal slashes; it is applied as lm-eval applies it.
  EXPECT_EQ(wikitext_detokenize("x /' 5/ y"), "x /'[0-9]/ y");
  EXPECT_EQ(wikitext_detokenize(""), "");
}

// ---- WikiText-2 documents and word counts ------------------------------------------------------------

TEST(WikitextDocuments, SplitsTheTestSetInto62Pages) {
  const std::string raw = read_text(data_file("wikitext-2/wiki.test.raw"));
  const auto& pages = wikitext_pages();
  ASSERT_EQ(pages.size(), 62u);
  EXPECT_TRUE(pages.front().starts_with(" = Robert Boulter = \n \n Robert Boulter is"));
  for (const std::string& page : pages) {
    EXPECT_TRUE(page.starts_with(" = ") && !page.starts_with(" = = ")) << page.substr(0, 60);
  }
  // Pages are the lines between level-1 headings: joined again with "\n" they give back the file except
  // its first line, a blank " " before the first heading, which forms an all-whitespace page and is
  // dropped.
  std::string joined;
  for (std::size_t i = 0; i < pages.size(); ++i) joined += (i ? "\n" : "") + pages[i];
  EXPECT_EQ(" \n" + joined, raw);
}

TEST(WikitextDocuments, WordCountsMatchLmEval) {
  std::size_t words = 0;
  for (const std::string& page : wikitext_pages()) words += word_count(page);
  EXPECT_EQ(words, 241335u);  // method.md §8.1 and lm-eval's re.split(r"\s+", page) on the same pages
  EXPECT_EQ(word_count(wikitext_pages()[0]), 1093u);
  EXPECT_EQ(word_count(wikitext_pages()[1]), 4751u);
}

TEST(WikitextDocuments, DetokenizedPagesMatchLmEval) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  std::size_t bytes = 0;
  for (const std::string& page : wikitext_pages()) {
    const std::string text = wikitext_detokenize(page);
    bytes += text.size();
    for (const char c : text) {
      h ^= static_cast<unsigned char>(c);
      h *= 0x100000001b3ull;
    }
  }
  EXPECT_EQ(bytes, 1240466u);
  EXPECT_EQ(h, 0xb499847fbd591c63ull);
  EXPECT_TRUE(wikitext_detokenize(wikitext_pages()[0]).starts_with(" = Robert Boulter =\n\nRobert Boulter is an"));
}

TEST(WikitextDocuments, SplitRulesOnSmallInputs) {
  // Level-2 headings stay inside the page; whitespace-only pages vanish except the last; CRLF is read as
  // Python's text mode reads it.
  const auto pages = split_wikitext_documents(" \n = A = \n x \n = = B = = \n y \n = C = \n");
  ASSERT_EQ(pages.size(), 2u);
  EXPECT_EQ(pages[0], " = A = \n x \n = = B = = \n y ");
  EXPECT_EQ(pages[1], " = C = \n");
  EXPECT_EQ(split_wikitext_documents(" = A = \r\n x \r\n"), (std::vector<std::string>{" = A = \n x \n"}));
  EXPECT_EQ(split_wikitext_documents(""), (std::vector<std::string>{""}));
}

TEST(WordCount, IsPythonReSplitOnWhitespace) {
  EXPECT_EQ(word_count(""), 1u);            // [""]
  EXPECT_EQ(word_count("a"), 1u);
  EXPECT_EQ(word_count(" a b "), 4u);       // ["", "a", "b", ""]
  EXPECT_EQ(word_count("a \n\t b"), 2u);
  EXPECT_EQ(word_count("a\xC2\xA0" "b"), 2u);  // U+00A0 is \s in Python 3
  EXPECT_EQ(word_count("a\xE2\x80\x83" "b"), 2u);  // U+2003 EM SPACE
  EXPECT_EQ(word_count("a\xC3\xA9" "b"), 1u);      // é is not
  EXPECT_EQ(word_count("a\xA0" "b"), 1u);          // a stray byte is not a space
}
