// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The text options `calibrate` and `eval` share, read into a pipeline::TextInput.

#include "app/cli.hpp"
#include "pipeline/text_input.hpp"

namespace srr::app {

/// --model, --tokenizer, --text, --max-chars, --ctx, --windows, --skip-windows.
void add_text_options(po::options_description& desc, const char* default_max_chars);

/// Reads them (the tokenizer is loaded; --ctx is bounded by the model later, in stream_windows).
pipeline::TextInput text_input(const po::variables_map& vm);

}  // namespace srr::app
