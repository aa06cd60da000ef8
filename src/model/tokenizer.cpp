// SPDX-License-Identifier: MIT
#include "model/tokenizer.hpp"

#include <fstream>
#include <iterator>

#include "base/error.hpp"
#include "model/tokenizer_hf.hpp"
#include "model/tokenizer_llama2c.hpp"

namespace srr::model {

std::string Tokenizer::decode(std::span<const int> ids) const {
  std::string text;
  int previous = -1;
  for (const int id : ids) {
    text += piece(id, previous);
    previous = id;
  }
  return text;
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path) {
  const std::string ext = path.extension().string();
  if (ext == ".json") return std::make_unique<HfBpeTokenizer>(HfBpeTokenizer::load(path));
  if (ext == ".bin") return std::make_unique<Llama2cTokenizer>(Llama2cTokenizer::load(path));
  throw InputError(detail::concat("tokenizer ", path, ": unknown format (expected an HF tokenizer.json or a ",
                                  "llama2.c tokenizer *.bin)"));
}

std::optional<unsigned char> byte_token_value(std::string_view token) {
  if (token.size() != 6 || token.substr(0, 3) != "<0x" || token[5] != '>') return std::nullopt;
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(token[3]), lo = hex(token[4]);
  if (hi < 0 || lo < 0) return std::nullopt;
  return static_cast<unsigned char>(hi * 16 + lo);
}

std::string byte_token_text(unsigned char b) {
  static constexpr char digits[] = "0123456789ABCDEF";
  return std::string{'<', '0', 'x', digits[b >> 4], digits[b & 15], '>'};
}

std::string read_small_file(const std::filesystem::path& path, std::size_t max_bytes) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  require(!ec, "cannot read ", path, ": ", ec.message());
  require(size <= max_bytes, path, " has ", size, " bytes, more than the ", max_bytes,
          " accepted for this kind of file");
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "cannot open ", path);
  std::string bytes(static_cast<std::size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  require(in.gcount() == static_cast<std::streamsize>(size), "cannot read ", path, " (short read)");
  return bytes;
}

}  // namespace srr::model
