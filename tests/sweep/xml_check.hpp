// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// A strict little XML well-formedness check for the tests of generated SVG (no XML library is a
/// dependency): one root element, balanced and properly nested tags, quoted attributes, no bare '<' or
/// '&' in text or attribute values (only the five predefined entities and numeric references).

#include <algorithm>
#include <cctype>
#include <regex>
#include <string>
#include <utility>
#include <vector>

inline bool xml_entity_ok(const std::string& s, std::size_t amp) {
  const auto semi = s.find(';', amp);
  if (semi == std::string::npos) return false;
  const std::string e = s.substr(amp + 1, semi - amp - 1);
  if (e == "amp" || e == "lt" || e == "gt" || e == "quot" || e == "apos") return true;
  return e.size() > 1 && e[0] == '#' && std::all_of(e.begin() + 1, e.end(), [](char c) { return std::isalnum(c); });
}

inline bool xml_text_ok(const std::string& s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<') return false;
    if (s[i] == '&' && !xml_entity_ok(s, i)) return false;
  }
  return true;
}

inline bool xml_well_formed(const std::string& doc, std::string* why) {
  std::vector<std::string> stack;
  std::size_t i = 0, roots = 0;
  const auto fail = [&](const std::string& m) {
    *why = m + " at byte " + std::to_string(i);
    return false;
  };
  if (doc.rfind("<?xml", 0) == 0) i = doc.find("?>") + 2;
  while (i < doc.size()) {
    const auto lt = doc.find('<', i);
    const std::string text = doc.substr(i, lt == std::string::npos ? std::string::npos : lt - i);
    if (!xml_text_ok(text)) return fail("bad character data");
    if (stack.empty() && text.find_first_not_of(" \t\r\n") != std::string::npos) return fail("text outside the root");
    if (lt == std::string::npos) break;
    i = lt;
    const auto gt = doc.find('>', i);
    if (gt == std::string::npos) return fail("unterminated tag");
    std::string tag = doc.substr(i + 1, gt - i - 1);
    i = gt + 1;
    if (!tag.empty() && tag[0] == '/') {
      if (stack.empty() || stack.back() != tag.substr(1)) return fail("mismatched </" + tag.substr(1) + ">");
      stack.pop_back();
      continue;
    }
    const bool self_closing = !tag.empty() && tag.back() == '/';
    if (self_closing) tag.pop_back();
    static const std::regex element(R"re(^([A-Za-z_][\w.:-]*)((\s+[A-Za-z_][\w.:-]*\s*=\s*("[^"]*"|'[^']*'))*)\s*$)re");
    std::smatch m;
    if (!std::regex_match(tag, m, element)) return fail("malformed tag <" + tag + ">");
    static const std::regex attr(R"re(=\s*("([^"]*)"|'([^']*)'))re");
    const std::string attrs = m[2];
    for (auto it = std::sregex_iterator(attrs.begin(), attrs.end(), attr); it != std::sregex_iterator(); ++it)
      if (!xml_text_ok((*it)[2].matched ? (*it)[2].str() : (*it)[3].str())) return fail("bad attribute value");
    if (stack.empty() && ++roots > 1) return fail("second root element");
    if (!self_closing) stack.push_back(m[1]);
  }
  if (!stack.empty()) return fail("unclosed <" + stack.back() + ">");
  if (roots != 1) return fail("no root element");
  return true;
}

inline std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size())) ++n;
  return n;
}

/// (data-name, data-points) of every series group, checked against the circles actually inside it.
inline std::vector<std::pair<std::string, int>> series_points(const std::string& svg) {
  std::vector<std::pair<std::string, int>> out;
  static const std::regex group(R"re(<g class="series" data-name="([^"]*)" data-points="(\d+)"[^>]*>([\s\S]*?)</g>)re");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), group); it != std::sregex_iterator(); ++it) {
    const int declared = std::stoi((*it)[2]);
    const int circles = static_cast<int>(count((*it)[3], "<circle"));
    out.emplace_back((*it)[1], declared == circles ? declared : -1);
  }
  return out;
}
