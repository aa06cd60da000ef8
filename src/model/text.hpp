// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Text and token-window protocols of calibration and evaluation, as pure functions over strings and token
/// ids (the tokenizer is applied by the caller). Two evaluation protocols exist and must not be mixed:
/// - stream windows: one token stream cut into non-overlapping BOS-prefixed windows (our token-level PPL on
///   TinyStories and WikiText, like QERA's evaluator);
/// - lm-eval's WikiText-2 word perplexity (method.md §8.1): 62 documents, each detokenized, tokenized on its
///   own and scored with rolling windows; words are counted on the original document text.
/// docs/tokenizers.md describes both.

#include <cstddef>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace srr::model {

/// The first max_chars bytes of a file, shortened so that no UTF-8 character is cut in half.
/// InputError naming the file when it cannot be read.
std::string read_text(const std::filesystem::path& path,
                      std::size_t max_chars = std::numeric_limits<std::size_t>::max());

/// Python's str.replace(from, to) (also HF's literal Replace): left to right, non-overlapping; `from` must
/// not be empty.
std::string replace_all(std::string_view s, std::string_view from, std::string_view to);

// ---- stream windows -------------------------------------------------------------------------------------

/// Number of windows of ctx-1 tokens (the last may be shorter) in a stream of `tokens` tokens.
std::size_t stream_window_count(std::size_t tokens, int ctx);

/// Cuts a BOS-free token stream into windows [BOS] + chunk with chunks of ctx-1 tokens (the last, shorter
/// chunk included) and returns windows skip .. skip+count-1 (count -1: all remaining). The model predicts
/// positions 1..end of each window. InputError for ctx < 2, skip < 0, count < -1 or 0, or a slice beyond
/// the stream (the message says how many windows there are).
std::vector<std::vector<int>> stream_windows(const std::vector<int>& stream, int ctx, int bos, int skip = 0,
                                             int count = -1);

/// Tokens the windows predict: window size minus the BOS, summed.
std::size_t predicted_tokens(const std::vector<std::vector<int>>& windows);

// ---- lm-eval WikiText-2 word perplexity -------------------------------------------------------------------

/// lm-eval's wikitext_detokenizer (lm_eval/tasks/wikitext/preprocess_wikitext.py), the same replacements in
/// the same order, with Python's semantics (str.replace, re.sub, `\s` = str.isspace()).
std::string wikitext_detokenize(std::string text);

/// The documents of EleutherAI/wikitext_document_level built from a wiki.*.raw file: the text is split into
/// lines at "\n" (after Python's universal-newline translation); a line whose text, with "= = =" → "===",
/// "= =" → "==" and surrounding whitespace stripped, starts with "= " and ends with " =" (a level-1
/// heading) starts a new document. A document ("page") is its lines joined with "\n", so it begins with the
/// heading line and ends with the blank " " lines before the next heading; the last one ends with the empty
/// piece after the final newline. A page that is only whitespace is dropped, except the last one.
std::vector<std::string> split_wikitext_documents(std::string_view raw);

/// len(re.split(r"\s+", page)): the number of whitespace runs plus one (so empty leading and trailing
/// pieces count). lm-eval counts words on the original page, not on the detokenized text.
std::size_t word_count(std::string_view page);

/// One window of lm-eval's get_rolling_token_windows(tokens, prefix_token=BOS, max_seq_len, context_len=1):
/// run the model on `input`; the logits at input positions first_scored .. input.size()-1 predict
/// tokens[target_begin ..] in order.
struct RollingWindow {
  std::vector<int> input;
  std::size_t first_scored = 0;
  std::size_t target_begin = 0;
  std::size_t target_count() const { return input.size() - first_scored; }
};

/// Rolling windows that predict every token exactly once: the first input is [BOS] + tokens[0, max_len-1)
/// and predicts tokens[0, min(max_len, n)); each later one predicts the next <= max_len tokens with as much
/// preceding context as fills max_len inputs. No windows for no tokens. InputError for max_len < 1.
std::vector<RollingWindow> rolling_windows(std::span<const int> tokens, int max_len, int bos);

}  // namespace srr::model
