// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Tokenizers of the supported checkpoints behind one interface: HF tokenizer.json BPE (tokenizer_hf.hpp)
/// and the llama2.c tok*.bin format (tokenizer_llama2c.hpp). Calibration and evaluation only see token ids,
/// so everything above this layer is independent of the tokenizer family. docs/tokenizers.md has the details.

#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace srr::model {

class Tokenizer {
public:
  virtual ~Tokenizer() = default;

  /// Token ids of `text`, with no BOS or EOS added: the protocols decide where BOS goes.
  virtual std::vector<int> encode(std::string_view text) const = 0;

  /// Concatenation of piece(ids[i], ids[i-1]), with previous id -1 for the first token.
  virtual std::string decode(std::span<const int> ids) const;

  /// Text of token `id` as printed right after `previous_id` (-1: nothing before it). Both families strip a
  /// leading space in some positions (llama2.c after BOS; HF at the start and after BOS), so a generation
  /// loop prints piece(next, current) and gets the upstream output. Special tokens give their own text.
  /// An id outside [0, vocab_size()) is an InputError.
  virtual std::string piece(int id, int previous_id) const = 0;

  /// Ids of the begin/end-of-sequence tokens, -1 when the tokenizer has none.
  virtual int bos() const = 0;
  virtual int eos() const = 0;
  virtual int vocab_size() const = 0;
};

/// Picks the format by file name: `*.json` is an HF tokenizer.json, `*.bin` a llama2.c tokenizer whose
/// vocabulary size follows from the file length. An unknown name or a corrupt file is an InputError naming
/// the file.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path);

/// The byte of a byte-fallback token: "<0x41>" → 0x41 (exactly "<0x", two hex digits, ">"); nullopt else.
std::optional<unsigned char> byte_token_value(std::string_view token);

/// The byte-fallback token text of byte b: 0x41 → "<0x41>" (upper-case hex, as sentencepiece writes it).
std::string byte_token_text(unsigned char b);

/// Reads a whole small file (a tokenizer), refusing more than max_bytes so that a wrong path cannot make
/// the loader swallow a checkpoint. InputError naming the file when it is missing, unreadable or too big.
std::string read_small_file(const std::filesystem::path& path, std::size_t max_bytes);

}  // namespace srr::model
