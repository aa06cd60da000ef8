// SPDX-License-Identifier: MIT
// `srr synthetic`: a random checkpoint with the shapes of a public Llama-family model, laid out as Hugging
// Face saves it (shards + index, config.json, tokenizer), to rehearse calibrate → quantize → eval → export
// on a cluster before downloading a model (model/synthetic_checkpoint.hpp).
#include <iostream>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "app/logging.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/timer.hpp"
#include "model/synthetic_checkpoint.hpp"
#include "export/export.hpp"

namespace srr::app {

namespace {

namespace fs = std::filesystem;

constexpr const char* kUsage =
    "usage: srr synthetic --shape NAME --out DIR [--layers N] [--vocab V] [--dtype bf16|fp16|fp32]\n"
    "                     [--max-shard-size 5GB] [--seed S] [--no-tokenizer]\n"
    "                     [--hidden H --heads A --kv-heads K --intermediate F]   (narrower rehearsals)\n"
    "Writes a random Llama checkpoint with the shapes of NAME (llama2-7b, llama2-13b, llama2-70b, llama3-8b,\n"
    "tinyllama-1.1b) into the new directory DIR: config.json, model-0000i-of-0000n.safetensors listed by\n"
    "model.safetensors.index.json, tokenizer.json. The values are random; the shapes, dtype, sizes and layout\n"
    "are the model's. DIR appears only when complete.";

model::DType dtype_from_option(const std::string& name) {
  if (name == "bf16") return model::DType::BF16;
  if (name == "fp16") return model::DType::F16;
  if (name == "fp32") return model::DType::F32;
  throw InputError("--dtype must be bf16, fp16 or fp32, got '" + name + "'");
}

}  // namespace

int run_synthetic(int argc, char** argv) {
  po::options_description desc("srr synthetic options");
  add_common_options(desc);
  desc.add_options()
      ("shape", po::value<std::string>(), "llama2-7b | llama2-13b | llama2-70b | llama3-8b | tinyllama-1.1b")
      ("out", po::value<std::string>(), "directory to create (it must not exist, or be empty)")
      ("layers", po::value<int>(), "decoder layers (default: the shape's)")
      ("hidden", po::value<int>(), "override the hidden size (a narrower rehearsal of the same layout)")
      ("heads", po::value<int>(), "override the attention heads (head_dim = hidden / heads)")
      ("kv-heads", po::value<int>(), "override the key/value heads")
      ("intermediate", po::value<int>(), "override the MLP width")
      ("vocab", po::value<int>(), "vocabulary size (default: the shape's; at least 354 with the tokenizer)")
      ("dtype", po::value<std::string>()->default_value("bf16"), "bf16 | fp16 | fp32")
      ("max-shard-size", po::value<std::string>()->default_value("5GB"),
       "largest shard, as save_pretrained's max_shard_size; 0 = one model.safetensors without an index")
      ("seed", po::value<std::uint64_t>()->default_value(1), "seed of the random weights")
      ("no-tokenizer", "do not write tokenizer.json / tokenizer_config.json")
      ("json", "print a one-line JSON summary on stdout");
  po::variables_map vm;
  if (!parse_command(argc, argv, desc, vm, kUsage)) return 0;
  init_logging({.level = vm["log-level"].as<std::string>(), .file = vm["log-file"].as<std::string>(), .rank = 0});
  for (const char* o : {"shape", "out"}) require(vm.count(o) > 0, "--", o, " is required");

  model::SyntheticCheckpointSettings s;
  s.config = model::named_shape(vm["shape"].as<std::string>());
  if (vm.count("layers")) s.config.layers = vm["layers"].as<int>();
  if (vm.count("vocab")) s.config.vocab = vm["vocab"].as<int>();
  if (vm.count("hidden")) s.config.hidden = vm["hidden"].as<int>();
  if (vm.count("heads")) s.config.heads = vm["heads"].as<int>();
  if (vm.count("kv-heads")) s.config.kv_heads = vm["kv-heads"].as<int>();
  if (vm.count("intermediate")) s.config.intermediate = vm["intermediate"].as<int>();
  require(s.config.heads > 0 && s.config.hidden % s.config.heads == 0, "--hidden ", s.config.hidden,
          " must be a multiple of --heads ", s.config.heads);
  s.config.head_dim = s.config.hidden / s.config.heads;
  require(s.config.layers >= 1 && s.config.layers <= 1000, "--layers must be in 1..1000, got ", s.config.layers);
  require(s.config.vocab >= 1, "--vocab must be positive, got ", s.config.vocab);
  s.dtype = dtype_from_option(vm["dtype"].as<std::string>());
  s.max_shard_bytes = parse_size(vm["max-shard-size"].as<std::string>(), "--max-shard-size");
  s.seed = vm["seed"].as<std::uint64_t>();
  s.tokenizer = vm.count("no-tokenizer") == 0;
  model::validate_config(s.config, "--shape " + vm["shape"].as<std::string>());
  if (s.tokenizer)
    require(s.config.vocab >= 354, "--vocab ", s.config.vocab,
            ": the synthetic tokenizer needs at least 354 entries (or --no-tokenizer)");

  const fs::path out = vm["out"].as<std::string>();
  require(!out.empty(), "--out must name a directory");
  const std::uint64_t bytes = model::synthetic_tensor_bytes(s);
  require_free_space(out, bytes + (1 << 20), "the checkpoint '" + out.string() + "'");
  Stopwatch clock;
  store::StagingDirectory dir(out);
  const auto result = model::write_synthetic_checkpoint(dir.path(), s);
  dir.commit();
  const double seconds = clock.seconds();
  SRR_LOG(info) << "wrote " << out.string() << ": " << result.files.size() << " files, " << bytes / 1e9
                << " GB of tensors in " << seconds << " s";
  if (vm.count("json")) {
    nlohmann::json j = {{"out", out.string()},           {"files", result.files},
                        {"tensor_bytes", result.tensor_bytes}, {"layers", s.config.layers},
                        {"hidden", s.config.hidden},     {"intermediate", s.config.intermediate},
                        {"vocab", s.config.vocab},       {"seconds", seconds}};
    std::cout << j.dump() << "\n";
  }
  return 0;
}

}  // namespace srr::app
