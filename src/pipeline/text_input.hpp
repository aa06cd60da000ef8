// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// What calibration and evaluation read: the model, its tokenizer, the text and the windowing settings.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "model/tokenizer.hpp"

namespace srr::pipeline {

/// The tokenizer beside a model: <dir>/tokenizer.json for a directory or a .safetensors file, else the
/// first tok*.bin in the model file's directory. InputError naming the place searched when there is none.
std::filesystem::path find_tokenizer(const std::filesystem::path& model);

struct TextInput {
  std::filesystem::path model, tokenizer_path, text;
  std::unique_ptr<model::Tokenizer> tokenizer;
  std::size_t max_chars = 0;  ///< the first max_chars bytes of `text` (never cutting a character)
  int ctx = 0;                ///< window length in tokens including BOS (0 = the model's maximum)
  int windows = -1, skip_windows = 0;
};

/// The stream protocol's windows: the first max_chars bytes as one BOS-free token stream, cut into
/// [BOS] + (ctx − 1)-token windows, then the skip_windows/windows slice. InputError when ctx exceeds
/// `model_max_pos`.
std::vector<std::vector<int>> stream_windows(const TextInput& in, int model_max_pos);

}  // namespace srr::pipeline
