// SPDX-License-Identifier: MIT
#include "app/text_options.hpp"

#include "base/error.hpp"

namespace srr::app {

namespace fs = std::filesystem;

void add_text_options(po::options_description& desc, const char* default_max_chars) {
  desc.add_options()
      ("model", po::value<std::string>(), "checkpoint: llama2.c .bin, .safetensors, or a Hugging Face model directory")
      ("tokenizer", po::value<std::string>(), "tokenizer.json or llama2.c tok*.bin (default: found beside --model)")
      ("text", po::value<std::string>(), "UTF-8 text file")
      ("max-chars", po::value<long long>()->default_value(std::stoll(default_max_chars)),
       "use the first N bytes of --text (never cutting a character)")
      ("ctx", po::value<int>()->default_value(0), "window length in tokens including BOS (0 = the model's maximum)")
      ("windows", po::value<int>()->default_value(-1), "number of windows to use (-1 = all after --skip-windows)")
      ("skip-windows", po::value<int>()->default_value(0), "windows to skip first (keeps calibration and evaluation text disjoint)");
}

pipeline::TextInput text_input(const po::variables_map& vm) {
  require(vm.count("model") > 0, "--model is required");
  require(vm.count("text") > 0, "--text is required");
  pipeline::TextInput in;
  in.model = vm["model"].as<std::string>();
  in.text = vm["text"].as<std::string>();
  in.tokenizer_path =
      vm.count("tokenizer") ? fs::path(vm["tokenizer"].as<std::string>()) : pipeline::find_tokenizer(in.model);
  in.tokenizer = model::load_tokenizer(in.tokenizer_path);
  const long long max_chars = vm["max-chars"].as<long long>();
  require(max_chars > 0, "--max-chars must be positive, got ", max_chars);
  in.max_chars = static_cast<std::size_t>(max_chars);
  in.ctx = vm["ctx"].as<int>();
  in.windows = vm["windows"].as<int>();
  in.skip_windows = vm["skip-windows"].as<int>();
  require(in.ctx == 0 || in.ctx >= 2, "--ctx must be at least 2 (or 0 for the model's maximum), got ", in.ctx);
  return in;
}

}  // namespace srr::app
