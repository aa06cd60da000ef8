// SPDX-License-Identifier: MIT
#include "pipeline/text_input.hpp"

#include <algorithm>

#include "base/error.hpp"
#include "model/text.hpp"

namespace srr::pipeline {

namespace fs = std::filesystem;

fs::path find_tokenizer(const fs::path& model) {
  fs::path dir = fs::is_directory(model) ? model : model.parent_path();
  if (dir.empty()) dir = ".";  // a bare file name: the model lies in the working directory
  if (fs::exists(dir / "tokenizer.json")) return dir / "tokenizer.json";
  std::vector<fs::path> candidates;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir)) {
      const auto name = e.path().filename().string();
      if (name.starts_with("tok") && name.ends_with(".bin")) candidates.push_back(e.path());
    }
  std::sort(candidates.begin(), candidates.end());
  require(!candidates.empty(), "no tokenizer found beside ", model.string(), " (looked for tokenizer.json and tok*.bin in ",
          dir.string(), "); give --tokenizer");
  return candidates.front();
}

std::vector<std::vector<int>> stream_windows(const TextInput& in, int model_max_pos) {
  const int ctx = in.ctx == 0 ? model_max_pos : in.ctx;
  require(ctx <= model_max_pos, "--ctx ", ctx, " exceeds the model's maximum of ", model_max_pos, " positions");
  const auto stream = in.tokenizer->encode(model::read_text(in.text, in.max_chars));
  return model::stream_windows(stream, ctx, in.tokenizer->bos(), in.skip_windows, in.windows);
}

}  // namespace srr::pipeline
