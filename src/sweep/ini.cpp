// SPDX-License-Identifier: MIT
#include "sweep/ini.hpp"

#include <set>

#include "base/error.hpp"

namespace srr::sweep {

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto comma = s.find(',', start);
    out.push_back(trim(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

namespace {

/// The line without its comment: `#` or `;` at the start or after a space or tab. A `#` inside a value
/// (as in a URL fragment) survives as long as it is not preceded by whitespace.
std::string strip_comment(const std::string& line) {
  for (std::size_t i = 0; i < line.size(); ++i)
    if ((line[i] == '#' || line[i] == ';') && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t'))
      return line.substr(0, i);
  return line;
}

}  // namespace

std::vector<IniSection> parse_ini(std::istream& in, const std::string& file) {
  std::vector<IniSection> sections;
  std::set<std::string> section_names;
  std::set<std::string> keys;  // of the current section
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    const std::string line = trim(strip_comment(raw));
    if (line.empty()) continue;
    const auto where = [&] { return file + ":" + std::to_string(line_no) + ": "; };
    if (line.front() == '[') {
      require(line.back() == ']' && line.size() > 2, where(), "a section header looks like [name], got '", line, "'");
      const std::string name = trim(line.substr(1, line.size() - 2));
      require(!name.empty(), where(), "empty section name");
      require(section_names.insert(name).second, where(), "section [", name, "] appears twice");
      sections.push_back({name, line_no, {}});
      keys.clear();
      continue;
    }
    const auto eq = line.find('=');
    require(eq != std::string::npos, where(), "expected 'key = value' or '[section]', got '", line, "'");
    require(!sections.empty(), where(), "'", line, "' comes before the first [section]");
    const std::string key = trim(line.substr(0, eq));
    const std::string value = trim(line.substr(eq + 1));
    require(!key.empty(), where(), "missing key before '='");
    require(keys.insert(key).second, where(), "key '", key, "' appears twice in [", sections.back().name, "]");
    sections.back().entries.push_back({key, value, line_no});
  }
  return sections;
}

}  // namespace srr::sweep
