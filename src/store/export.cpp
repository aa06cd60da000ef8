// SPDX-License-Identifier: MIT
#include "store/export.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>

#include "base/error.hpp"
#include "model/json_input.hpp"
#include "model/safetensors.hpp"
#include "base/files.hpp"

namespace srr::store {

namespace fs = std::filesystem;
using json = nlohmann::json;
using la::index_t;

namespace {

std::string dims(const std::vector<std::int64_t>& s) {
  std::string t = "[";
  for (std::size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + "]";
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void require_exportable(const Store& store, const model::Checkpoint& ckpt) {
  const std::string name = store.path().string();
  // The checkpoint first: a store of another model would otherwise fail on the layer check below with a
  // message about shapes rather than about the mix-up.
  StoreHeader wanted = store.header();
  wanted.checkpoint = ckpt.identity();
  if (const auto diffs = header_differences(store.header(), wanted); !diffs.empty())
    throw InputError("the store '" + name + "' was made from a different checkpoint; export it with the --model it "
                     "was quantized from. " + diffs.front());

  const auto& layers = store.layout().layers;
  const auto done = store.done();
  const auto first_open = std::find(done.begin(), done.end(), false);
  if (first_open != done.end()) {
    const auto open_count = std::count(done.begin(), done.end(), false);
    throw InputError(detail::concat("the store '", name, "' is not complete: layer ",
                                    layers[static_cast<std::size_t>(first_open - done.begin())].name,
                                    " is not finished (", open_count, " of ", layers.size(),
                                    " layers are not done); rerun srr quantize to complete it"));
  }

  const auto expected = ckpt.linear_layer_names();
  std::vector<std::string> stored;
  for (const auto& l : layers) stored.push_back(l.name);
  require(stored == expected, "the store '", name, "' does not hold exactly the linear layers of ",
          ckpt.config().layers, " decoder layers (", layers.size(), " layers stored, ", expected.size(), " expected)");
  for (const auto& l : layers) {
    const auto shape = ckpt.shape(l.name + ".weight");
    require(shape == std::vector<std::int64_t>{l.out, l.in}, "the store '", name, "' has layer ", l.name, " as ",
            l.out, "×", l.in, " but the checkpoint's weight is ", dims(shape));
  }
}

bool is_rope_projection(const std::string& name) {
  return name.find(".q_proj") != std::string::npos || name.find(".k_proj") != std::string::npos;
}

std::vector<index_t> hf_rope_row_order(int heads, int head_dim) {
  SRR_ASSERT(head_dim % 2 == 0);
  const index_t d = head_dim, half = head_dim / 2;
  std::vector<index_t> order(static_cast<std::size_t>(heads) * static_cast<std::size_t>(head_dim));
  for (index_t h = 0; h < heads; ++h)
    for (index_t p = 0; p < 2; ++p)
      for (index_t i = 0; i < half; ++i) order[static_cast<std::size_t>(h * d + p * half + i)] = h * d + 2 * i + p;
  return order;
}

la::Matrix<float> permute_columns(const la::Matrix<float>& m, const std::vector<index_t>& order) {
  SRR_ASSERT(static_cast<index_t>(order.size()) == m.cols());
  la::Matrix<float> out(m.rows(), m.cols());
  for (index_t j = 0; j < m.cols(); ++j) std::copy_n(m.col(order[static_cast<std::size_t>(j)]), m.rows(), out.col(j));
  return out;
}

json peft_lora_config(index_t rank, const std::vector<std::string>& target_modules, const std::string& base_model) {
  // The keys PEFT's LoraConfig writes itself (peft ≥ 0.10); readers fill in defaults for any they lack.
  return json{{"peft_type", "LORA"},
              {"task_type", "CAUSAL_LM"},
              {"base_model_name_or_path", base_model},
              {"r", rank},
              {"lora_alpha", rank},
              {"lora_dropout", 0.0},
              {"target_modules", target_modules},
              {"bias", "none"},
              {"fan_in_fan_out", false},
              {"use_rslora", false},
              {"use_dora", false},
              {"init_lora_weights", true},
              {"inference_mode", true},
              {"modules_to_save", nullptr},
              {"layers_to_transform", nullptr},
              {"layers_pattern", nullptr},
              {"rank_pattern", json::object()},
              {"alpha_pattern", json::object()},
              {"revision", nullptr}};
}

PeftAdapter read_peft_adapter(const fs::path& dir) {
  const fs::path config_path = dir / kAdapterConfigFile, weights_path = dir / kAdapterModelFile;
  const std::string cfg_name = config_path.string();
  require(fs::exists(config_path), "no PEFT adapter in '", dir.string(), "': ", kAdapterConfigFile, " is missing");
  const json cfg = model::read_json_file(cfg_name);
  require(cfg.is_object(), cfg_name, ": expected a JSON object");
  require(cfg.value("peft_type", std::string()) == "LORA", cfg_name, ": peft_type must be \"LORA\", got ",
          cfg.contains("peft_type") ? cfg["peft_type"].dump() : std::string("nothing"));
  const std::int64_t r = model::json_field::integer(cfg, "r", cfg_name, 1, std::int64_t{1} << 30);
  const double alpha = model::json_field::number(cfg, "lora_alpha", cfg_name);
  const bool rslora = model::json_field::boolean(cfg, "use_rslora", cfg_name, false);
  // Variants that change what the factors mean are refused rather than silently applied as plain LoRA.
  require(!model::json_field::boolean(cfg, "use_dora", cfg_name, false), cfg_name, ": DoRA adapters are not supported");
  require(!model::json_field::boolean(cfg, "fan_in_fan_out", cfg_name, false), cfg_name,
          ": fan_in_fan_out adapters (GPT-2 Conv1D layers) are not supported");
  const json bias = cfg.contains("bias") ? cfg["bias"] : json("none");
  require(bias == "none", cfg_name, ": bias must be \"none\", got ", bias.dump());
  for (const char* key : {"rank_pattern", "alpha_pattern"})
    require(!cfg.contains(key) || cfg[key].is_null() || cfg[key].empty(), cfg_name, ": ", key,
            " (per-module ranks or alphas) is not supported");

  PeftAdapter adapter;
  adapter.scaling = alpha / (rslora ? std::sqrt(static_cast<double>(r)) : static_cast<double>(r));
  const model::SafetensorsFile file(weights_path);
  const std::string file_name = weights_path.string();
  const std::string prefix = kPeftPrefix, suffix_a = ".lora_A.weight", suffix_b = ".lora_B.weight";
  for (const auto& [name, t] : file.header().tensors) {
    const bool is_a = ends_with(name, suffix_a), is_b = ends_with(name, suffix_b);
    require(name.starts_with(prefix) && (is_a || is_b), file_name, ": tensor \"", name, "\" is not a LoRA factor (",
            prefix, "<module>", suffix_a, " or ", suffix_b, ")");
    const std::string module = name.substr(prefix.size(), name.size() - prefix.size() - suffix_a.size());
    require(t.shape.size() == 2, file_name, ": tensor \"", name, "\" has shape ", dims(t.shape), ", expected a matrix");
    LoraFactors& f = adapter.layers[module];
    f.rank = r;
    if (is_a) {
      require(t.shape[0] == r, file_name, ": \"", name, "\" has shape ", dims(t.shape), " but r = ", r);
      f.in = t.shape[1];
      f.lora_A = file.read_f32(name);
    } else {
      require(t.shape[1] == r, file_name, ": \"", name, "\" has shape ", dims(t.shape), " but r = ", r);
      f.out = t.shape[0];
      f.lora_B = file.read_f32(name);
    }
  }
  require(!adapter.layers.empty(), file_name, ": the adapter has no LoRA factors");
  for (const auto& [module, f] : adapter.layers)
    require(!f.lora_A.empty() && !f.lora_B.empty(), file_name, ": module ", module,
            " has only one of lora_A and lora_B");
  return adapter;
}

std::map<std::string, model::LinearOverride> adapter_overrides(const PeftAdapter& adapter,
                                                               const model::Checkpoint& base) {
  const auto names = base.linear_layer_names();
  const std::set<std::string> linear(names.begin(), names.end());
  std::map<std::string, model::LinearOverride> out;
  for (const auto& [module, f] : adapter.layers) {
    require(linear.count(module) > 0, "the adapter targets \"", module,
            "\", which is not a linear layer of the model (expected e.g. ", names.front(), ")");
    model::LinearOverride o;
    o.Q = base.linear_weight(module);
    require(o.Q.rows() == f.in && o.Q.cols() == f.out, "the adapter's ", module, " maps ", f.in, " to ", f.out,
            " features but the model's layer is ", o.Q.rows(), "×", o.Q.cols());
    // lora_A [r][in] row-major is L (in×r) column-major, lora_B [out][r] row-major is R (r×out): no transposes.
    o.L = la::Matrix<float>(f.in, f.rank);
    o.R = la::Matrix<float>(f.rank, f.out);
    std::copy(f.lora_A.begin(), f.lora_A.end(), o.L.data());
    std::copy(f.lora_B.begin(), f.lora_B.end(), o.R.data());
    // Scaling 1 (what srr export writes) leaves R bit for bit as stored.
    if (adapter.scaling != 1.0)
      for (float& v : o.R.values()) v = static_cast<float>(v * adapter.scaling);
    out.emplace(module, std::move(o));
  }
  return out;
}

// ---- StagingDirectory --------------------------------------------------------------------------------------

StagingDirectory::StagingDirectory(fs::path final_path) : final_(std::move(final_path)) {
  while (!final_.empty() && !final_.has_filename()) final_ = final_.parent_path();  // "out/" → "out"
  require(!final_.empty(), "--out must name a directory");
  std::error_code ec;
  const auto status = fs::symlink_status(final_, ec);
  if (fs::exists(status))
    require(fs::is_directory(status) && fs::is_empty(final_), "'", final_.string(),
            "' already exists and is not an empty directory; remove it or choose another --out (an export never "
            "overwrites)");
  staging_ = make_unpredictable_directory(final_, "partial");
}

StagingDirectory::~StagingDirectory() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

void StagingDirectory::write_file(const std::string& name, const std::string& content) const {
  write_file_atomic(staging_ / name, content, Replace::never);
}

void StagingDirectory::commit() {
  SRR_ASSERT(!committed_);
  // Every file in it was fsynced when it was written (write_file, SafetensorsWriter::commit).
  sync_directory(staging_ / ".");  // the staging directory's own entries
  std::error_code ec;
  fs::rename(staging_, final_, ec);  // replaces an empty directory; fails on a non-empty one
  if (ec)
    throw InputError("cannot move the export into place ('" + staging_.string() + "' → '" + final_.string() +
                     "'): " + ec.message());
  committed_ = true;
  sync_directory(final_);
}

}  // namespace srr::store
