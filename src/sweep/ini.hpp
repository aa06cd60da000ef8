// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// A small INI reader for grid files. Boost.Program_options' reader needs every key registered up front
/// and forgets the order of entries; a grid's axes are expanded in the order they are written (the first
/// axis varies slowest), so the order is part of the meaning and this reader keeps it.
///
/// Syntax: `[section]` headers, `key = value` lines, comments from `#` or `;` at the start of a line or
/// after whitespace, blank lines ignored, surrounding whitespace trimmed. Every error names the file and
/// the line.

#include <istream>
#include <string>
#include <utility>
#include <vector>

namespace srr::sweep {

struct IniEntry {
  std::string key, value;
  int line = 0;
};

struct IniSection {
  std::string name;
  int line = 0;
  std::vector<IniEntry> entries;  ///< in file order; a key appears at most once per section
};

/// Parses the whole stream. InputError "<file>:<line>: ..." for a line that is neither a header, an entry
/// nor a comment, for an entry before the first header, for a repeated section and for a repeated key.
std::vector<IniSection> parse_ini(std::istream& in, const std::string& file);

/// `s` without leading and trailing spaces and tabs.
std::string trim(const std::string& s);
/// Splits on commas and trims each piece; empty pieces are kept (callers reject them with context).
std::vector<std::string> split_list(const std::string& s);

}  // namespace srr::sweep
