// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The few UTF-8 facts the tokenizers and text protocols need. Text stays a byte string everywhere: these
/// helpers only find character boundaries and whitespace, and they never throw on invalid UTF-8, because
/// corpora and user prompts may contain stray bytes that the tokenizers must still encode (byte fallback).

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace srr::model::utf8 {

/// True for 10xxxxxx, a byte that never starts a character.
constexpr bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

/// Length a lead byte announces: 2..4 for 110xxxxx, 1110xxxx, 11110xxx; 1 for anything else.
constexpr std::size_t announced_length(unsigned char lead) {
  return lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : lead < 0xF8 ? 4 : 1;
}

/// Byte length of the character that starts at s[pos] (pos < s.size()). A well-formed lead byte gives 2..4
/// when enough continuation bytes follow; anything malformed counts as a one-byte character, so every byte
/// of the input belongs to exactly one character.
constexpr std::size_t char_length(std::string_view s, std::size_t pos) {
  const std::size_t want = announced_length(static_cast<unsigned char>(s[pos]));
  if (want == 1 || pos + want > s.size()) return 1;
  for (std::size_t k = 1; k < want; ++k)
    if (!is_continuation(static_cast<unsigned char>(s[pos + k]))) return 1;
  return want;
}

/// Code point of the character at s[pos] with byte length len (from char_length); a malformed one-byte
/// character yields its byte value, which is never a whitespace code point above 0x7F.
constexpr std::uint32_t code_point(std::string_view s, std::size_t pos, std::size_t len) {
  const auto b = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(s[pos + k])); };
  switch (len) {
    case 2: return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3: return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    case 4: return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
    default: return b(0);
  }
}

/// Python's str.isspace(), which is what `\s` matches in a `re` pattern over str: the lm-eval WikiText
/// protocol splits words and trims brackets with `\s`, so ASCII-only whitespace would miscount U+00A0 & co.
constexpr bool is_python_space(std::uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

/// Byte length of the whitespace character at s[pos], or 0 when s[pos] does not start one.
constexpr std::size_t space_length(std::string_view s, std::size_t pos) {
  const std::size_t len = char_length(s, pos);
  if (len == 1 && static_cast<unsigned char>(s[pos]) >= 0x80) return 0;  // stray byte, or U+0085 needs 2
  return is_python_space(code_point(s, pos, len)) ? len : 0;
}

/// The largest n <= limit such that s[0, n) does not end inside a character: a cut before a continuation
/// byte moves back to the lead byte when that lead announces a character reaching past the cut. Only
/// s[0, min(limit + 1, size)) is looked at, so a reader can fetch one byte past its limit and cut there.
constexpr std::size_t boundary_at_or_before(std::string_view s, std::size_t limit) {
  if (limit >= s.size()) return s.size();
  std::size_t n = limit;
  while (n > 0 && limit - n < 3 && is_continuation(static_cast<unsigned char>(s[n]))) --n;
  if (n == limit || is_continuation(static_cast<unsigned char>(s[n]))) return limit;  // no lead byte: stray bytes
  return announced_length(static_cast<unsigned char>(s[n])) > limit - n ? n : limit;
}

/// Offset of the first byte that keeps `s` from being UTF-8 text: a malformed or truncated UTF-8 sequence,
/// or a control byte other than tab, newline, vertical tab, form feed and carriage return (NUL bytes mark
/// binary files). std::string_view::npos when there is none.
constexpr std::size_t first_non_text(std::string_view s) {
  for (std::size_t pos = 0; pos < s.size();) {
    const auto c = static_cast<unsigned char>(s[pos]);
    const std::size_t len = char_length(s, pos);
    if (len == 1 && (c >= 0x80 || (c < 0x20 && (c < 0x09 || c > 0x0D)) || c == 0x7F)) return pos;
    pos += len;
  }
  return std::string_view::npos;
}

}  // namespace srr::model::utf8
