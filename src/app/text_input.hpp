// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// What `calibrate` and `eval` share: the model, its tokenizer, the text and the windowing options.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "app/cli.hpp"
#include "model/tokenizer.hpp"

namespace srr::app {

/// --model, --tokenizer, --text, --max-chars, --ctx, --windows, --skip-windows.
void add_text_options(po::options_description& desc, const char* default_max_chars);

/// The tokenizer beside a model: <dir>/tokenizer.json for a directory or a .safetensors file, else the
/// first tok*.bin in the model file's directory. InputError naming the place searched when there is none.
std::filesystem::path find_tokenizer(const std::filesystem::path& model);

struct TextInput {
  std::filesystem::path model, tokenizer_path, text;
  std::unique_ptr<model::Tokenizer> tokenizer;
  std::size_t max_chars = 0;
  int ctx = 0;
  int windows = -1, skip_windows = 0;
};

/// Reads the options; `model_max_pos` bounds --ctx (0 = the model's maximum).
TextInput text_input(const po::variables_map& vm);
/// The stream protocol's windows: the first max_chars bytes as one BOS-free token stream, cut into
/// [BOS] + (ctx − 1)-token windows, then the --skip-windows/--windows slice.
std::vector<std::vector<int>> stream_windows(const TextInput& in, int model_max_pos);

}  // namespace srr::app
