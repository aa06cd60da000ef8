// SPDX-License-Identifier: MIT
#include "export/export_store.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "base/error.hpp"
#include "base/files.hpp"
#include "base/timer.hpp"
#include "model/checkpoint.hpp"
#include "model/json_input.hpp"
#include "model/safetensors.hpp"
#include "store/store.hpp"

namespace srr::store {

namespace {

namespace fs = std::filesystem;
using la::index_t;
using model::DType;

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
ExportedLayer exported_layer(const Store& st, std::size_t index, DType dtype, const std::vector<index_t>* rope_order) {
  const std::string& name = st.layout().layers[index].name;
  const LayerRecord record = st.read_layer(index);
  ExportedLayer e{to_override(record), record.k_star};
  model::LinearOverride& o = e.o;
  if (rope_order) {
    o.Q = permute_columns(o.Q, *rope_order);
    if (o.R.rows() > 0) o.R = permute_columns(o.R, *rope_order);
  }
  if (dtype == DType::BF16)
    for (float v : o.Q.values())
      if (model::bf16_to_f32(model::f32_to_bf16(v)) != v && !std::isnan(v))
        throw Error(detail::concat("layer ", name, ": dequantized value ", v, " is not exact in bf16"));
  return e;
}

/// The tensors of the two safetensors files, in the order they are written: the source's (sorted) names,
/// with a tied lm_head left to the embedding as HF writes it; the adapter follows the quantized layers in
/// the same order. Also PEFT's target_modules (q_proj, k_proj, … in plan order) and the bytes to be written.
struct ExportPlan {
  std::map<std::string, std::size_t> layer_index;  ///< "<layer>.weight" → index in the store
  std::vector<model::TensorSpec> model_specs, adapter_specs;
  std::vector<std::string> targets;
  std::map<std::string, index_t> rank_pattern;  ///< layers whose rank is not the layout's (a plan's store)
  std::uint64_t bytes = 0;
};

/// The last component of a directory's path ("out" for "runs/out/").
std::string directory_name(const fs::path& dir) {
  fs::path p = fs::absolute(dir).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();
  return p.filename().string();
}

ExportPlan plan_export(const Store& st, const model::Checkpoint& ckpt, DType dtype, bool adapter_only) {
  const auto& layout = st.layout();
  ExportPlan p;
  for (std::size_t i = 0; i < layout.layers.size(); ++i) p.layer_index.emplace(layout.layers[i].name + ".weight", i);
  for (const auto& name : ckpt.tensor_names()) {
    if (ckpt.config().tied_embeddings && name == "lm_head.weight") continue;
    const auto it = p.layer_index.find(name);
    const DType t = it != p.layer_index.end() ? dtype : ckpt.dtype(name);
    p.model_specs.push_back({name, t, ckpt.shape(name)});
    if (!adapter_only) p.bytes += element_count(ckpt.shape(name)) * model::dtype_size(t);
    if (it == p.layer_index.end()) continue;
    const auto& l = layout.layers[it->second];
    const index_t rank = layout.rank_of(l);
    if (rank == 0) continue;  // no adapter module: PEFT has no rank-0 LoRA
    const std::string module = kPeftPrefix + l.name;
    p.adapter_specs.push_back({module + ".lora_A.weight", DType::F32, {rank, l.in}});
    p.adapter_specs.push_back({module + ".lora_B.weight", DType::F32, {l.out, rank}});
    p.bytes += static_cast<std::uint64_t>(rank * (l.in + l.out)) * 4;
  }
  // PEFT's target_modules: the projections (q_proj, k_proj, ... in plan order) when every layer has factors,
  // else the names of the layers that have them.
  const bool all_factored = std::all_of(layout.layers.begin(), layout.layers.end(),
                                        [&](const StoreLayer& l) { return layout.rank_of(l) > 0; });
  for (const auto& l : layout.layers) {
    if (layout.rank_of(l) == 0) continue;
    const std::string target = all_factored ? l.name.substr(l.name.rfind('.') + 1) : l.name;
    if (std::find(p.targets.begin(), p.targets.end(), target) == p.targets.end()) p.targets.push_back(target);
    if (layout.rank_of(l) != layout.rank) p.rank_pattern.emplace(l.name, layout.rank_of(l));
  }
  return p;
}

}  // namespace

ExportSummary export_store(const ExportSettings& s) {
  Stopwatch clock;
  const auto st = Store::open_read_only(s.store);
  const auto ckpt = model::Checkpoint::open(s.model);
  require_exportable(st, ckpt);
  const auto& layout = st.layout();
  const index_t rank = layout.rank;
  // MXINT values are an integer of ≤ 7 bits in magnitude times a power of two, exact in bf16 (method.md
  // §3); INT-g's (q − zero)·scale with a float32 scale is not, and a rounded Q would no longer be the store's.
  require(s.dtype != DType::BF16 || layout.quant.scheme == quant::Scheme::Mxint, "--dtype bf16: the store's ",
          quant::to_string(layout.quant.scheme), " values (q − zero)·scale are not exact in bf16; use --dtype fp32");
  require(!s.adapter_only || rank > 0,
          "--adapter-only: the store has rank 0 in every layer (--method w-only), so there is no adapter");

  const auto& cfg = ckpt.config();
  const std::vector<index_t> q_order = hf_rope_row_order(cfg.heads, cfg.head_dim);
  const std::vector<index_t> k_order = hf_rope_row_order(cfg.kv_heads, cfg.head_dim);
  const auto rope_order = [&](const std::string& name) -> const std::vector<index_t>* {
    if (!cfg.rope_interleaved || !is_rope_projection(name)) return nullptr;
    return name.find(".q_proj") != std::string::npos ? &q_order : &k_order;
  };

  const ExportPlan plan = plan_export(st, ckpt, s.dtype, s.adapter_only);
  require_free_space(s.out, plan.bytes + (1 << 20), "the export '" + s.out.string() + "'");

  StagingDirectory dir(s.out);
  const fs::path source_dir = fs::is_directory(s.model) ? s.model : s.model.parent_path();
  std::optional<model::SafetensorsWriter> model_writer, adapter_writer;
  const std::map<std::string, std::string> metadata = {{"format", "pt"}};  // transformers refuses files without it
  if (!s.adapter_only) model_writer.emplace(dir.path() / kExportModelFile, plan.model_specs, metadata);
  if (rank > 0) adapter_writer.emplace(dir.path() / kAdapterModelFile, plan.adapter_specs, metadata);
  // LoftQ stores √Σ on both factors; every other method keeps Σ on R (qer/layer.cpp, low_rank_factors).
  const bool sqrt_balanced = st.header().config.value("method", std::string()) == "loftq";
  std::vector<QpeftLayer> qpeft_layers;
  for (const auto& spec : plan.model_specs) {
    const auto it = plan.layer_index.find(spec.name);
    const auto* order = rope_order(spec.name);
    if (it == plan.layer_index.end()) {
      SRR_ASSERT(order == nullptr);  // require_exportable: every q/k projection is in the store
      // Exact: read_f32 widens, and the writer narrows back to the source's own dtype.
      if (model_writer) model_writer->append(ckpt.read_f32(spec.name));
      continue;
    }
    auto [o, k_star] = exported_layer(st, it->second, s.dtype, order);
    if (model_writer) model_writer->append(o.Q.values());
    qpeft_layers.push_back({layout.layers[it->second].name, k_star, product_singular_values(o.L, o.R), o.L.cols()});
    if (adapter_writer) {
      apply_peft_convention(s.convention, sqrt_balanced, o.L, o.R);
      adapter_writer->append(o.L.values());  // L (in×r) column-major = lora_A [r][in]
      adapter_writer->append(o.R.values());  // R (r×out) column-major = lora_B [out][r]
    }
    if (s.on_layer) s.on_layer(layout.layers[it->second].name);
  }
  if (model_writer) model_writer->commit();
  if (adapter_writer) adapter_writer->commit();

  if (!s.adapter_only) {
    dir.write_file(kExportConfigFile, export_config(ckpt, source_dir, s.dtype).dump(2) + "\n");
    for (const auto& e : fs::directory_iterator(source_dir.empty() ? fs::path(".") : source_dir))
      if (e.is_regular_file() && is_tokenizer_file(e.path().filename().string()))
        dir.write_file(e.path().filename().string(), read_file(e.path()));
  }
  if (rank > 0) {
    // PEFT loads the base from base_model_name_or_path: the exported directory itself, or (adapter only)
    // the source, to which the adapter applies only after its linear weights are replaced by Q. Names, not
    // paths: the file is read on other machines (a hub, a cluster), where this machine's paths mean nothing.
    const std::string base = !s.base_model_name.empty() ? s.base_model_name
                             : s.adapter_only           ? portable_model_name(s.model)
                                                        : directory_name(dir.final_path());
    nlohmann::json config = peft_lora_config(rank, plan.targets, base, peft_lora_alpha(s.convention, rank));
    set_rank_pattern(config, plan.rank_pattern, s.convention);
    dir.write_file(kAdapterConfigFile, config.dump(2) + "\n");
  }
  // Written for rank 0 as well: a QLoRA-style run starts from the weight-only base and needs to know it is one.
  std::sort(qpeft_layers.begin(), qpeft_layers.end(), [&](const auto& a, const auto& b) {
    return plan.layer_index.at(a.name + ".weight") < plan.layer_index.at(b.name + ".weight");
  });
  dir.write_file(kQpeftFile, qpeft_metadata(s.convention, rank, st.header().config, qpeft_layers).dump(2) + "\n");
  dir.write_file(kFreezeRankFile, freeze_rank_dict(qpeft_layers).dump(2) + "\n");
  ExportSummary summary;
  summary.out = dir.final_path();
  summary.layers = layout.layers.size();
  summary.rank = rank;
  summary.scheme = layout.quant.scheme;
  summary.rope_permuted = cfg.rope_interleaved;
  for (const auto& e : fs::directory_iterator(dir.path()))
    summary.files.emplace_back(e.path().filename().string(), e.file_size());
  dir.commit();
  std::sort(summary.files.begin(), summary.files.end());
  summary.seconds = clock.seconds();
  return summary;
}

nlohmann::json to_json(const ExportSettings& s, const ExportSummary& summary) {
  nlohmann::json j = {
      {"command", "export"}, {"store", s.store.string()}, {"model", s.model.string()},
      {"out", summary.out.string()}, {"dtype", s.dtype == DType::BF16 ? "bf16" : "fp32"},
      {"adapter_only", s.adapter_only}, {"peft_convention", to_string(s.convention)},
      {"layers", summary.layers}, {"rank", summary.rank}, {"quant_scheme", quant::to_string(summary.scheme)},
      {"rope", summary.rope_permuted ? "q_proj/k_proj rows permuted from llama2.c interleaved to HF rotate_half"
                                     : "rotate_half (unchanged)"},
      {"files", nlohmann::json::object()}, {"seconds", summary.seconds}};
  for (const auto& [name, size] : summary.files) j["files"][name] = size;
  return j;
}

}  // namespace srr::store
