// SPDX-License-Identifier: MIT
#include "export/export.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>

#include "base/error.hpp"
#include "la/lapack.hpp"
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
    throw InputError("the store '" + name + "' was made from a different checkpoint; give the --model it was "
                     "quantized from. " + diffs.front());

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

model::LinearOverride to_override(const store::LayerRecord& record) {
  model::LinearOverride o;
  o.Q = quant::decode(record.codes);
  const index_t in = record.codes.in, out = record.codes.out;
  const index_t r = in > 0 ? static_cast<index_t>(record.lora_A.size()) / in : 0;
  o.L = la::Matrix<float>(in, r);
  o.R = la::Matrix<float>(r, out);
  std::copy(record.lora_A.begin(), record.lora_A.end(), o.L.data());  // lora_A [r][in] = L column-major
  std::copy(record.lora_B.begin(), record.lora_B.end(), o.R.data());  // lora_B [out][r] = R column-major
  return o;
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

PeftConvention peft_convention_from_string(const std::string& s) {
  if (s == "srr") return PeftConvention::Srr;
  if (s == "release") return PeftConvention::Release;
  throw InputError("--peft-convention must be srr or release, got '" + s + "'");
}

std::string to_string(PeftConvention c) { return c == PeftConvention::Srr ? "srr" : "release"; }

index_t peft_lora_alpha(PeftConvention c, index_t rank) { return c == PeftConvention::Srr ? rank : 2 * rank; }

void apply_peft_convention(PeftConvention c, bool sqrt_balanced, la::Matrix<float>& L, la::Matrix<float>& R) {
  if (c == PeftConvention::Srr) return;
  SRR_ASSERT(L.cols() == R.rows());
  const double scaling = static_cast<double>(peft_lora_alpha(c, R.rows())) / static_cast<double>(R.rows());
  for (index_t i = 0; i < R.rows(); ++i) {
    double norm2 = 0;
    for (index_t j = 0; j < R.cols(); ++j) norm2 += static_cast<double>(R(i, j)) * R(i, j);
    // QER/SRR: R's row i is σ_i·v_iᵀ; moving σ_i onto L's column leaves lora_B = v_i (unit), as the release.
    const double sigma = sqrt_balanced || norm2 == 0 ? 1.0 : std::sqrt(norm2);
    for (index_t k = 0; k < L.rows(); ++k) L(k, i) = static_cast<float>(L(k, i) * sigma);
    for (index_t j = 0; j < R.cols(); ++j) R(i, j) = static_cast<float>(R(i, j) / (sigma * scaling));
  }
}

std::vector<double> product_singular_values(const la::Matrix<float>& L32, const la::Matrix<float>& R32) {
  SRR_ASSERT(L32.cols() == R32.rows());
  const index_t r = L32.cols();
  if (r == 0) return {};
  const la::Matrix<double> L = L32.cast<double>();
  la::Matrix<double> Rt(R32.cols(), r);  // Rᵀ, out×r
  for (index_t i = 0; i < r; ++i)
    for (index_t j = 0; j < R32.cols(); ++j) Rt(j, i) = R32(i, j);
  const auto QL = la::orthonormalize(L), QR = la::orthonormalize(Rt);
  const auto core_L = la::matmul(QL, L, la::Op::T);   // r×r, Q_Lᵀ·L
  const auto core_R = la::matmul(Rt, QR, la::Op::T);  // r×r, R·Q_R
  return la::gesdd(la::matmul(core_L, core_R), false).s;
}

json qpeft_metadata(PeftConvention c, index_t rank, const json& store_config, const std::vector<QpeftLayer>& layers) {
  const std::string method = store_config.value("method", std::string());
  const std::string recon = store_config.value("recon", std::string("joint"));
  const std::string order =
      method == "loftq"  ? "descending singular value of W - Q (LoftQ is unscaled)"
      : method == "srr" && recon == "split"
          ? "the freeze_rank preserved directions of S*W first (descending singular value), then the rank - "
            "freeze_rank reconstruction components (descending singular value of the scaled residual)"
          : "descending singular value of S*(W - Q) (the joint refit; for SRR its first freeze_rank components "
            "are the preserved ones, as in the release)";
  json per_layer = json::object();
  for (const auto& l : layers) per_layer[l.name] = {{"freeze_rank", l.freeze_rank}, {"r", l.rank}, {"s_vals", l.s_vals}};
  const index_t alpha = peft_lora_alpha(c, rank);
  return {{"format", "srr-qpeft"},
          {"version", kQpeftFormatVersion},
          {"convention", to_string(c)},
          {"r", rank},
          {"lora_alpha", alpha},
          {"scaling", rank > 0 ? static_cast<double>(alpha) / static_cast<double>(rank) : 1.0},
          {"method", method},
          {"component_order", "rows of lora_A / columns of lora_B: " + order +
                                  "; components 0 .. freeze_rank-1 are the preserved (gradient-scaled) ones"},
          {"s_vals", "singular values of the initial product lora_B*lora_A*scaling = L*R, descending (float64)"},
          {"store_config", store_config},
          {"layers", per_layer}};
}

json freeze_rank_dict(const std::vector<QpeftLayer>& layers) {
  json d = json::object();
  for (const auto& l : layers) d[l.name] = l.freeze_rank;
  return d;
}

std::string portable_model_name(const fs::path& model) {
  const fs::path dir = fs::is_directory(model) ? model : model.parent_path();
  const bool hf = fs::is_directory(model) || model.extension() == ".safetensors";
  if (hf && fs::exists(dir / "config.json")) {
    const json cfg = model::read_json_file((dir / "config.json").string());
    if (cfg.is_object() && cfg.contains("_name_or_path") && cfg["_name_or_path"].is_string()) {
      const std::string name = cfg["_name_or_path"].get<std::string>();
      if (!name.empty() && !fs::path(name).is_absolute()) return name;
    }
  }
  const fs::path named = hf ? fs::absolute(dir).lexically_normal() : model;
  std::string name = (named.has_filename() ? named : named.parent_path()).filename().string();
  return name.empty() ? std::string("model") : name;
}

json peft_lora_config(index_t rank, const std::vector<std::string>& target_modules, const std::string& base_model,
                      index_t lora_alpha) {
  // The keys PEFT's LoraConfig writes itself (peft ≥ 0.10); readers fill in defaults for any they lack.
  return json{{"peft_type", "LORA"},
              {"task_type", "CAUSAL_LM"},
              {"base_model_name_or_path", base_model},
              {"r", rank},
              {"lora_alpha", lora_alpha > 0 ? lora_alpha : rank},
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

std::string peft_pattern_key(const std::string& layer) {
  const auto dot = layer.find('.');
  return dot == std::string::npos ? layer : layer.substr(dot + 1);
}

void set_rank_pattern(json& config, const std::map<std::string, index_t>& ranks, PeftConvention c) {
  const index_t r = config.at("r").get<index_t>();
  json rank_pattern = json::object(), alpha_pattern = json::object();
  for (const auto& [layer, rank] : ranks) {
    const std::string key = peft_pattern_key(layer);
    rank_pattern[key] = rank;
    if (peft_lora_alpha(c, rank) != peft_lora_alpha(c, r)) alpha_pattern[key] = peft_lora_alpha(c, rank);
  }
  config["rank_pattern"] = rank_pattern;
  config["alpha_pattern"] = alpha_pattern;
}

namespace {
/// A rank_pattern or alpha_pattern of an adapter config: key → value, each key to be matched by a module.
struct ModulePattern {
  std::map<std::string, double> values;
  std::set<std::string> used;
  /// The value of the key naming `module` (the module itself, or its trailing components), if any.
  std::optional<double> find(const std::string& module) {
    for (const auto& [key, v] : values)
      if (module == key || (module.size() > key.size() && module.ends_with("." + key))) {
        used.insert(key);
        return v;
      }
    return std::nullopt;
  }
};

ModulePattern read_pattern(const json& cfg, const char* key, const std::string& cfg_name) {
  ModulePattern p;
  if (!cfg.contains(key) || cfg[key].is_null()) return p;
  require(cfg[key].is_object(), cfg_name, ": ", key, " must be an object {module: value}");
  for (const auto& [k, v] : cfg[key].items()) {
    require(v.is_number() && v.get<double>() > 0, cfg_name, ": ", key, "[\"", k, "\"] must be a positive number");
    p.values.emplace(k, v.get<double>());
  }
  return p;
}
}  // namespace

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
  ModulePattern rank_pattern = read_pattern(cfg, "rank_pattern", cfg_name);
  ModulePattern alpha_pattern = read_pattern(cfg, "alpha_pattern", cfg_name);

  PeftAdapter adapter;
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
    const double rank = rank_pattern.find(module).value_or(static_cast<double>(r));
    require(rank == std::floor(rank), cfg_name, ": rank_pattern gives ", module, " the rank ", rank);
    f.rank = static_cast<index_t>(rank);
    const double a = alpha_pattern.find(module).value_or(alpha);
    f.scaling = a / (rslora ? std::sqrt(rank) : rank);
    if (is_a) {
      require(t.shape[0] == f.rank, file_name, ": \"", name, "\" has shape ", dims(t.shape), " but r = ", f.rank);
      f.in = t.shape[1];
      f.lora_A = file.read_f32(name);
    } else {
      require(t.shape[1] == f.rank, file_name, ": \"", name, "\" has shape ", dims(t.shape), " but r = ", f.rank);
      f.out = t.shape[0];
      f.lora_B = file.read_f32(name);
    }
  }
  require(!adapter.layers.empty(), file_name, ": the adapter has no LoRA factors");
  for (const auto* p : {&rank_pattern, &alpha_pattern})
    for (const auto& [key, v] : p->values)
      require(p->used.count(key) > 0, cfg_name, ": ", p == &rank_pattern ? "rank_pattern" : "alpha_pattern", " key \"",
              key, "\" names no module of the adapter");
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
    if (f.scaling != 1.0)
      for (float& v : o.R.values()) v = static_cast<float>(v * f.scaling);
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
