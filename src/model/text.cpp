// SPDX-License-Identifier: MIT
#include "model/text.hpp"

#include <algorithm>
#include <fstream>
#include <utility>

#include "base/error.hpp"
#include "model/text_utf8.hpp"

namespace srr::model {

namespace {

/// Python's str.strip() without arguments.
std::string_view strip_python_space(std::string_view s) {
  std::size_t begin = 0;
  while (begin < s.size())
    if (const std::size_t len = utf8::space_length(s, begin)) begin += len;
    else break;
  std::size_t end = s.size();
  while (end > begin) {
    std::size_t start = end - 1;
    while (start > begin && utf8::is_continuation(static_cast<unsigned char>(s[start]))) --start;
    if (utf8::space_length(s, start) != end - start) break;
    end = start;
  }
  return s.substr(begin, end - begin);
}

/// re.sub(r"O\s*([^C]*?)\s*C", r"O\1C", s) for single-byte delimiters O and C: every O that has a C after
/// it, up to the first such C, loses the whitespace just inside the pair.
std::string tighten_pairs(std::string_view s, char open, char close) {
  std::string out;
  out.reserve(s.size());
  std::size_t pos = 0;
  for (;;) {
    const std::size_t o = s.find(open, pos);
    const std::size_t c = o == std::string_view::npos ? o : s.find(close, o + 1);
    if (c == std::string_view::npos) break;  // no later O can have a C after it either
    out.append(s, pos, o - pos);
    out += open;
    out.append(strip_python_space(s.substr(o + 1, c - o - 1)));
    out += close;
    pos = c + 1;
  }
  out.append(s, pos);
  return out;
}

/// re.sub(r"/' [0-9]/", r"/'[0-9]/", s): the pattern's slashes are literal characters (a JavaScript-style
/// regex pasted into Python), so it replaces "/' 7/" by the literal text "/'[0-9]/". Kept for fidelity.
std::string literal_slash_quote_digit(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    if (i + 5 <= s.size() && s[i] == '/' && s[i + 1] == '\'' && s[i + 2] == ' ' && s[i + 3] >= '0' &&
        s[i + 3] <= '9' && s[i + 4] == '/') {
      out += "/'[0-9]/";
      i += 5;
    } else {
      out += s[i++];
    }
  }
  return out;
}

}  // namespace

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  std::size_t pos = 0;
  for (std::size_t at; (at = s.find(from, pos)) != std::string_view::npos; pos = at + from.size()) {
    out.append(s, pos, at - pos);
    out.append(to);
  }
  out.append(s, pos);
  return out;
}

std::string read_text(const std::filesystem::path& path, std::size_t max_chars) {
  std::error_code ec;
  const bool regular = std::filesystem::is_regular_file(path, ec);
  require(regular, "cannot read text file ", path, ec ? ": " + ec.message() : ": not a regular file");
  const auto size = static_cast<std::size_t>(std::filesystem::file_size(path, ec));
  require(!ec, "cannot read text file ", path, ": ", ec.message());
  // One byte past the limit shows whether the cut falls inside a character.
  const std::size_t want = max_chars < size ? max_chars + 1 : size;
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "cannot open text file ", path);
  std::string text(want, '\0');
  in.read(text.data(), static_cast<std::streamsize>(want));
  require(in.gcount() == static_cast<std::streamsize>(want), "cannot read text file ", path, " (short read)");
  text.resize(utf8::boundary_at_or_before(text, max_chars));
  if (const std::size_t bad = utf8::first_non_text(text); bad != std::string_view::npos)
    throw InputError(detail::concat("text file ", path, " is not UTF-8 text: byte ", bad, " is 0x", std::hex,
                                    static_cast<int>(static_cast<unsigned char>(text[bad])),
                                    " (a binary file, or another encoding?)"));
  return text;
}

std::size_t stream_window_count(std::size_t tokens, int ctx) {
  require(ctx >= 2, "context length ", ctx, " is too small: a window needs BOS and at least one token");
  const auto chunk = static_cast<std::size_t>(ctx - 1);
  return (tokens + chunk - 1) / chunk;
}

std::vector<std::vector<int>> stream_windows(const std::vector<int>& stream, int ctx, int bos, int skip,
                                             int count) {
  const std::size_t total = stream_window_count(stream.size(), ctx);
  require(skip >= 0, "--skip-windows ", skip, " is negative");
  require(count == -1 || count >= 1, "--windows ", count, " must be positive (or -1 for all)");
  const auto first = static_cast<std::size_t>(skip);
  const std::size_t last = count == -1 ? total : first + static_cast<std::size_t>(count);
  require(first < total && last <= total, "the text gives ", stream.size(), " tokens = ", total,
          " windows of ctx-1 = ", ctx - 1, " tokens; --skip-windows ", skip, " --windows ", count,
          " asks for windows beyond that");
  const auto chunk = static_cast<std::size_t>(ctx - 1);
  std::vector<std::vector<int>> windows;
  windows.reserve(last - first);
  for (std::size_t w = first; w < last; ++w) {
    const auto begin = stream.begin() + static_cast<std::ptrdiff_t>(w * chunk);
    const auto end = stream.begin() + static_cast<std::ptrdiff_t>(std::min(stream.size(), (w + 1) * chunk));
    std::vector<int>& window = windows.emplace_back();
    window.reserve(static_cast<std::size_t>(end - begin) + 1);
    window.push_back(bos);
    window.insert(window.end(), begin, end);
  }
  return windows;
}

std::size_t predicted_tokens(const std::vector<std::vector<int>>& windows) {
  std::size_t n = 0;
  for (const auto& w : windows) n += w.empty() ? 0 : w.size() - 1;
  return n;
}

std::string wikitext_detokenize(std::string s) {
  // contractions
  s = replace_all(s, "s '", "s'");
  s = literal_slash_quote_digit(s);
  // number separators, then punctuation
  static constexpr std::pair<std::string_view, std::string_view> separators[] = {
      {" @-@ ", "-"}, {" @,@ ", ","}, {" @.@ ", "."}, {" : ", ": "}, {" ; ", "; "},
      {" . ", ". "},  {" ! ", "! "},  {" ? ", "? "},  {" , ", ", "}};
  for (const auto& [from, to] : separators) s = replace_all(s, from, to);
  // double brackets and quotes
  static constexpr std::pair<char, char> pairs[] = {{'(', ')'}, {'[', ']'}, {'{', '}'}, {'"', '"'}, {'\'', '\''}};
  for (const auto& [open, close] : pairs) s = tighten_pairs(s, open, close);
  // miscellaneous; chr(176) is the degree sign, U+00B0
  static constexpr std::pair<std::string_view, std::string_view> misc[] = {
      {"= = = =", "===="}, {"= = =", "==="}, {"= =", "=="}, {" \xC2\xB0 ", "\xC2\xB0"},
      {" \n", "\n"},       {"\n ", "\n"},    {" N ", " 1 "}, {" 's", "'s"}};
  for (const auto& [from, to] : misc) s = replace_all(s, from, to);
  return s;
}

std::vector<std::string> split_wikitext_documents(std::string_view raw) {
  // Python's text-mode read turns "\r\n" and "\r" into "\n" before the dataset script splits lines.
  const std::string text = replace_all(replace_all(raw, "\r\n", "\n"), "\r", "\n");
  std::vector<std::string> pages;
  std::string page;
  bool page_has_lines = false;
  const auto is_title = [](std::string_view line) {
    const std::string r = replace_all(replace_all(line, "= = =", "==="), "= =", "==");
    const std::string_view t = strip_python_space(r);
    return t.starts_with("= ") && t.ends_with(" =");
  };
  std::size_t pos = 0;
  for (;;) {
    const std::size_t nl = text.find('\n', pos);
    const std::string_view line =
        std::string_view(text).substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (is_title(line)) {
      if (!strip_python_space(page).empty()) pages.push_back(std::move(page));
      page.clear();
      page_has_lines = false;
    }
    if (page_has_lines) page += '\n';
    page.append(line);
    page_has_lines = true;
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  pages.push_back(std::move(page));
  return pages;
}

std::size_t word_count(std::string_view page) {
  std::size_t pieces = 1;
  bool in_space = false;
  for (std::size_t pos = 0; pos < page.size();) {
    const std::size_t len = utf8::space_length(page, pos);
    if (len > 0 && !in_space) ++pieces;
    in_space = len > 0;
    pos += len > 0 ? len : utf8::char_length(page, pos);
  }
  return pieces;
}

std::vector<RollingWindow> rolling_windows(std::span<const int> tokens, int max_len, int bos) {
  require(max_len >= 1, "rolling windows need max_len >= 1, got ", max_len);
  const auto n = tokens.size(), len = static_cast<std::size_t>(max_len);
  std::vector<RollingWindow> windows;
  if (n == 0) return windows;
  const std::size_t first = std::min(len, n);
  RollingWindow& w0 = windows.emplace_back();
  w0.input.reserve(first);
  w0.input.push_back(bos);
  w0.input.insert(w0.input.end(), tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(first - 1));
  for (std::size_t predicted = first; predicted < n;) {
    const std::size_t count = std::min(n - predicted, len), end = predicted + count;
    // input = tokens[end - len - 1, end - 1): its last `count` positions predict tokens[end - count, end).
    RollingWindow& w = windows.emplace_back();
    w.input.assign(tokens.begin() + static_cast<std::ptrdiff_t>(end - len - 1),
                   tokens.begin() + static_cast<std::ptrdiff_t>(end - 1));
    w.first_scored = len - count;
    w.target_begin = end - count;
    predicted = end;
  }
  return windows;
}

}  // namespace srr::model
