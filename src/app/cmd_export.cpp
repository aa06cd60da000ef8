// SPDX-License-Identifier: MIT
// `srr export`: a finished store as a Hugging Face Llama checkpoint (the dequantized Q in every linear layer,
// everything else copied) plus a PEFT LoRA adapter (L and R), so that base + adapter computes
// x·Q + (x·L)·R exactly as `srr eval --store` does. Format and guarantees in docs/store.md, "Export".
//
// Everything streams: one tensor of the source and one layer of the store at a time, written straight into
// the two safetensors files (whose tensor orders are fixed up front), so a 70B export needs the memory of
// one layer, not of the model. The output directory appears under its name only when complete.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "app/logging.hpp"
#include "base/error.hpp"
#include "base/timer.hpp"
#include "model/checkpoint.hpp"
#include "model/json_input.hpp"
#include "model/safetensors.hpp"
#include "base/files.hpp"
#include "export/export.hpp"
#include "pipeline/layer_quantizer.hpp"
#include "store/store.hpp"

namespace srr::app {

namespace {

namespace fs = std::filesystem;
using la::index_t;
using model::DType;

constexpr const char* kUsage =
    "usage: srr export --store STORE.h5 --model PATH --out DIR [--dtype fp32|bf16] [--adapter-only]\n"
    "                  [--peft-convention srr|release] [--json]\n"
    "Writes DIR/model.safetensors + config.json (+ the tokenizer files beside PATH): the checkpoint with every\n"
    "linear layer's weight replaced by the store's dequantized Q; and DIR/adapter_model.safetensors +\n"
    "adapter_config.json: a PEFT LoRA adapter (scaling·lora_B·lora_A = L·R; scaling 1, or 2 with the SRR\n"
    "release's convention), and DIR/qpeft.json + freeze_rank_dict.json: per layer k* and the spectrum of L·R\n"
    "for QPEFT fine-tuning (docs/qpeft.md). Base + adapter = the store's Q + L·R. PATH must be the\n"
    "checkpoint the store was quantized from; every layer must be done.";

/// Tokenizer and generation files a Hugging Face directory may carry, plus llama2.c's tok*.bin (which our
/// own reader finds beside a model, pipeline/text_input.hpp).
bool is_tokenizer_file(const std::string& name) {
  for (const char* n : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                        "added_tokens.json", "generation_config.json"})
    if (name == n) return true;
  return name.starts_with("tok") && name.ends_with(".bin");
}

std::uint64_t element_count(const std::vector<std::int64_t>& shape) {
  std::uint64_t n = 1;
  for (auto d : shape) n *= static_cast<std::uint64_t>(d);
  return n;
}

/// The HF config.json of the export. A HF source keeps its own (bos/eos ids and other fields our reader
/// ignores survive); a llama2.c source gets one written from its header, in rotate_half layout since its
/// q/k rows are permuted.
nlohmann::json export_config(const model::Checkpoint& ckpt, const fs::path& source_dir, DType dtype) {
  nlohmann::json j;
  if (ckpt.config().rope_interleaved) {
    model::LlamaConfig c = ckpt.config();
    c.rope_interleaved = false;
    j = model::hf_config_json(c);
  } else {
    j = model::read_json_file((source_dir / "config.json").string());
  }
  j["torch_dtype"] = dtype == DType::BF16 ? "bfloat16" : "float32";
  return j;
}

/// A quantized layer in the orientation of the exported checkpoint: Q (in×out) and R (r×out) with their
/// output columns in HF's RoPE order when the source is llama2.c, and its k*. Q must survive the export
/// dtype exactly.
struct ExportedLayer {
  model::LinearOverride o;
  index_t k_star = 0;
};
ExportedLayer exported_layer(const store::Store& st, std::size_t index, DType dtype,
                             const std::vector<index_t>* rope_order) {
  const std::string& name = st.layout().layers[index].name;
  const store::LayerRecord record = st.read_layer(index);
  ExportedLayer e{pipeline::to_override(record), record.k_star};
  model::LinearOverride& o = e.o;
  if (rope_order) {
    o.Q = store::permute_columns(o.Q, *rope_order);
    if (o.R.rows() > 0) o.R = store::permute_columns(o.R, *rope_order);
  }
  if (dtype == DType::BF16)
    for (float v : o.Q.values())
      if (model::bf16_to_f32(model::f32_to_bf16(v)) != v && !std::isnan(v))
        throw Error(detail::concat("layer ", name, ": dequantized value ", v, " is not exact in bf16"));
  return e;
}

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
      ("json", "print a one-line JSON summary on stdout");
  po::variables_map vm;
  if (!parse_command(argc, argv, desc, vm, kUsage)) return 0;
  init_logging({.level = vm["log-level"].as<std::string>(), .file = vm["log-file"].as<std::string>(), .rank = 0});
  for (const char* o : {"store", "model", "out"}) require(vm.count(o) > 0, "--", o, " is required");
  const std::string dtype_name = vm["dtype"].as<std::string>();
  require(dtype_name == "fp32" || dtype_name == "bf16", "--dtype must be fp32 or bf16, got '", dtype_name, "'");
  const DType dtype = dtype_name == "bf16" ? DType::BF16 : DType::F32;
  const bool adapter_only = vm.count("adapter-only") > 0;
  const store::PeftConvention convention = store::peft_convention_from_string(vm["peft-convention"].as<std::string>());
  const fs::path model_path = vm["model"].as<std::string>(), out_path = vm["out"].as<std::string>();
  Stopwatch clock;

  const auto st = store::Store::open_read_only(vm["store"].as<std::string>());
  const auto ckpt = model::Checkpoint::open(model_path);
  store::require_exportable(st, ckpt);
  const auto& layout = st.layout();
  const index_t rank = layout.rank;
  // MXINT values are an integer of ≤ 7 bits in magnitude times a power of two, exact in bf16 (method.md
  // §3); INT-g's (q − zero)·scale with a float32 scale is not, and a rounded Q would no longer be the store's.
  require(dtype != DType::BF16 || layout.quant.scheme == quant::Scheme::Mxint, "--dtype bf16: the store's ",
          quant::to_string(layout.quant.scheme), " values (q − zero)·scale are not exact in bf16; use --dtype fp32");
  require(!adapter_only || rank > 0, "--adapter-only: the store has rank 0 (--method w-only), so there is no adapter");

  const auto& cfg = ckpt.config();
  const std::vector<index_t> q_order = store::hf_rope_row_order(cfg.heads, cfg.head_dim);
  const std::vector<index_t> k_order = store::hf_rope_row_order(cfg.kv_heads, cfg.head_dim);
  const auto rope_order = [&](const std::string& name) -> const std::vector<index_t>* {
    if (!cfg.rope_interleaved || !store::is_rope_projection(name)) return nullptr;
    return name.find(".q_proj") != std::string::npos ? &q_order : &k_order;
  };

  // Tensor orders, fixed before anything is written: the source's (sorted) names, with a tied lm_head left
  // to the embedding as HF writes it; the adapter follows the quantized layers in the same order.
  std::map<std::string, std::size_t> layer_index;
  for (std::size_t i = 0; i < layout.layers.size(); ++i) layer_index.emplace(layout.layers[i].name + ".weight", i);
  std::vector<model::TensorSpec> model_specs, adapter_specs;
  std::vector<std::string> targets;
  std::uint64_t bytes = 0;
  for (const auto& name : ckpt.tensor_names()) {
    if (cfg.tied_embeddings && name == "lm_head.weight") continue;
    const auto it = layer_index.find(name);
    const DType t = it != layer_index.end() ? dtype : ckpt.dtype(name);
    model_specs.push_back({name, t, ckpt.shape(name)});
    if (!adapter_only) bytes += element_count(ckpt.shape(name)) * model::dtype_size(t);
    if (it == layer_index.end() || rank == 0) continue;
    const auto& l = layout.layers[it->second];
    const std::string module = store::kPeftPrefix + l.name;
    adapter_specs.push_back({module + ".lora_A.weight", DType::F32, {rank, l.in}});
    adapter_specs.push_back({module + ".lora_B.weight", DType::F32, {l.out, rank}});
    bytes += static_cast<std::uint64_t>(rank * (l.in + l.out)) * 4;
  }
  for (const auto& l : layout.layers) {  // PEFT's target_modules: q_proj, k_proj, ... in plan order
    const std::string proj = l.name.substr(l.name.rfind('.') + 1);
    if (std::find(targets.begin(), targets.end(), proj) == targets.end()) targets.push_back(proj);
  }
  require_free_space(out_path, bytes + (1 << 20), "the export '" + out_path.string() + "'");

  store::StagingDirectory dir(out_path);
  const fs::path source_dir = fs::is_directory(model_path) ? model_path : model_path.parent_path();
  std::optional<model::SafetensorsWriter> model_writer, adapter_writer;
  const std::map<std::string, std::string> metadata = {{"format", "pt"}};  // transformers refuses files without it
  if (!adapter_only) model_writer.emplace(dir.path() / store::kExportModelFile, model_specs, metadata);
  if (rank > 0) adapter_writer.emplace(dir.path() / store::kAdapterModelFile, adapter_specs, metadata);
  // LoftQ stores √Σ on both factors; every other method keeps Σ on R (qer/layer.cpp, low_rank_factors).
  const bool sqrt_balanced = st.header().config.value("method", std::string()) == "loftq";
  std::vector<store::QpeftLayer> qpeft_layers;
  for (const auto& spec : model_specs) {
    const auto it = layer_index.find(spec.name);
    const auto* order = rope_order(spec.name);
    if (it == layer_index.end()) {
      SRR_ASSERT(order == nullptr);  // require_exportable: every q/k projection is in the store
      // Exact: read_f32 widens, and the writer narrows back to the source's own dtype.
      if (model_writer) model_writer->append(ckpt.read_f32(spec.name));
      continue;
    }
    auto [o, k_star] = exported_layer(st, it->second, dtype, order);
    if (model_writer) model_writer->append(o.Q.values());
    qpeft_layers.push_back({layout.layers[it->second].name, k_star, store::product_singular_values(o.L, o.R)});
    if (adapter_writer) {
      store::apply_peft_convention(convention, sqrt_balanced, o.L, o.R);
      adapter_writer->append(o.L.values());  // L (in×r) column-major = lora_A [r][in]
      adapter_writer->append(o.R.values());  // R (r×out) column-major = lora_B [out][r]
    }
    SRR_LOG(debug) << "exported " << layout.layers[it->second].name;
  }
  if (model_writer) model_writer->commit();
  if (adapter_writer) adapter_writer->commit();

  if (!adapter_only) {
    dir.write_file(store::kExportConfigFile, export_config(ckpt, source_dir, dtype).dump(2) + "\n");
    for (const auto& e : fs::directory_iterator(source_dir.empty() ? fs::path(".") : source_dir))
      if (e.is_regular_file() && is_tokenizer_file(e.path().filename().string()))
        dir.write_file(e.path().filename().string(), read_file(e.path()));
  }
  if (rank > 0) {
    // PEFT loads the base from base_model_name_or_path: the exported directory itself, or (adapter only)
    // the source, to which the adapter applies only after its linear weights are replaced by Q.
    const std::string base = adapter_only ? model_path.string() : fs::absolute(dir.final_path()).string();
    dir.write_file(store::kAdapterConfigFile,
                   store::peft_lora_config(rank, targets, base, store::peft_lora_alpha(convention, rank)).dump(2) +
                       "\n");
  }
  // Written for rank 0 as well: a QLoRA-style run starts from the weight-only base and needs to know it is one.
  std::sort(qpeft_layers.begin(), qpeft_layers.end(), [&](const auto& a, const auto& b) {
    return layer_index.at(a.name + ".weight") < layer_index.at(b.name + ".weight");
  });
  dir.write_file(store::kQpeftFile,
                 store::qpeft_metadata(convention, rank, st.header().config, qpeft_layers).dump(2) + "\n");
  dir.write_file(store::kFreezeRankFile, store::freeze_rank_dict(qpeft_layers).dump(2) + "\n");
  std::vector<std::pair<std::string, std::uintmax_t>> files;
  for (const auto& e : fs::directory_iterator(dir.path()))
    files.emplace_back(e.path().filename().string(), e.file_size());
  dir.commit();

  std::sort(files.begin(), files.end());
  nlohmann::json report = {
      {"command", "export"}, {"store", st.path().string()}, {"model", model_path.string()},
      {"out", dir.final_path().string()}, {"dtype", dtype_name}, {"adapter_only", adapter_only},
      {"peft_convention", store::to_string(convention)},
      {"layers", layout.layers.size()}, {"rank", rank}, {"quant_scheme", quant::to_string(layout.quant.scheme)},
      {"rope", cfg.rope_interleaved ? "q_proj/k_proj rows permuted from llama2.c interleaved to HF rotate_half"
                                    : "rotate_half (unchanged)"},
      {"files", nlohmann::json::object()}, {"seconds", clock.seconds()}};
  for (const auto& [name, size] : files) report["files"][name] = size;
  SRR_LOG(info) << "exported " << layout.layers.size() << " layers to " << dir.final_path().string() << " in "
                << clock.seconds() << " s";
  std::cout << (vm.count("json") ? report.dump() : report.dump(2)) << std::endl;
  return 0;
}

}  // namespace srr::app
