// SPDX-License-Identifier: MIT
// `srr export`: the command line of store::export_store (export/export_store.hpp): a finished store as a
// Hugging Face Llama checkpoint plus a PEFT LoRA adapter. Format and guarantees in docs/store.md, "Export".
#include <iostream>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "app/logging.hpp"
#include "base/error.hpp"
#include "export/export_store.hpp"

namespace srr::app {

namespace {

constexpr const char* kUsage =
    "usage: srr export --store STORE.h5 --model PATH --out DIR [--dtype fp32|bf16] [--adapter-only]\n"
    "                  [--peft-convention srr|release] [--json]\n"
    "Writes DIR/model.safetensors + config.json (+ the tokenizer files beside PATH): the checkpoint with every\n"
    "linear layer's weight replaced by the store's dequantized Q; and DIR/adapter_model.safetensors +\n"
    "adapter_config.json: a PEFT LoRA adapter (scaling·lora_B·lora_A = L·R; scaling 1, or 2 with the SRR\n"
    "release's convention), and DIR/qpeft.json + freeze_rank_dict.json: per layer k* and the spectrum of L·R\n"
    "for QPEFT fine-tuning (docs/qpeft.md). Base + adapter = the store's Q + L·R. PATH must be the\n"
    "checkpoint the store was quantized from; every layer must be done.";

}  // namespace

int run_export(int argc, char** argv) {
  po::options_description desc("srr export options");
  add_common_options(desc);
  desc.add_options()
      ("store", po::value<std::string>(), "the store to export (from srr quantize; every layer done)")
      ("model", po::value<std::string>(), "the checkpoint the store was quantized from")
      ("out", po::value<std::string>(), "directory to create (it must not exist, or be empty)")
      ("dtype", po::value<std::string>()->default_value("fp32"),
       "fp32 | bf16: dtype of the dequantized linear weights (other tensors keep the source's dtype; the "
       "adapter is always fp32)")
      ("adapter-only", "write only the PEFT adapter (adapter_model.safetensors, adapter_config.json, qpeft.json)")
      ("peft-convention", po::value<std::string>()->default_value("srr"),
       "srr: lora_alpha = r, factors as stored | release: the SRR release's QPEFT convention, lora_alpha = 2r "
       "with B stored as its share of L·R over 2, singular values on lora_A (docs/qpeft.md)")
      ("base-model-name", po::value<std::string>()->default_value(""),
       "base_model_name_or_path of adapter_config.json (default: the export directory's name, or with "
       "--adapter-only the model's _name_or_path or directory name; never a path of this machine)")
      ("json", "print a one-line JSON summary on stdout");
  po::variables_map vm;
  if (!parse_command(argc, argv, desc, vm, kUsage)) return 0;
  init_logging({.level = vm["log-level"].as<std::string>(), .file = vm["log-file"].as<std::string>(), .rank = 0});
  for (const char* o : {"store", "model", "out"}) require(vm.count(o) > 0, "--", o, " is required");
  const std::string dtype_name = vm["dtype"].as<std::string>();
  require(dtype_name == "fp32" || dtype_name == "bf16", "--dtype must be fp32 or bf16, got '", dtype_name, "'");
  store::ExportSettings settings{
      .store = vm["store"].as<std::string>(),
      .model = vm["model"].as<std::string>(),
      .out = vm["out"].as<std::string>(),
      .dtype = dtype_name == "bf16" ? model::DType::BF16 : model::DType::F32,
      .adapter_only = vm.count("adapter-only") > 0,
      .convention = store::peft_convention_from_string(vm["peft-convention"].as<std::string>()),
      .base_model_name = vm["base-model-name"].as<std::string>(),
      .on_layer = [](const std::string& layer) { SRR_LOG(debug) << "exported " << layer; }};
  const auto summary = store::export_store(settings);
  SRR_LOG(info) << "exported " << summary.layers << " layers to " << summary.out.string() << " in " << summary.seconds
                << " s";
  const auto report = store::to_json(settings, summary);
  std::cout << (vm.count("json") ? report.dump() : report.dump(2)) << std::endl;
  return 0;
}

}  // namespace srr::app
