// SPDX-License-Identifier: MIT
#include "model/checkpoint.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>

#include "base/error.hpp"
#include "model/json_input.hpp"
#include "model/llama2c.hpp"
#include "base/mapped_file.hpp"
#include "model/safetensors.hpp"
#include "base/sha256.hpp"

namespace srr::model {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* k_linear_kinds[7][2] = {{"self_attn", "q_proj"}, {"self_attn", "k_proj"},
                                               {"self_attn", "v_proj"}, {"self_attn", "o_proj"},
                                               {"mlp", "gate_proj"},    {"mlp", "up_proj"},
                                               {"mlp", "down_proj"}};

std::string absolute_text(const fs::path& p) {
  std::error_code ec;
  const fs::path a = fs::weakly_canonical(fs::absolute(p), ec);
  return (ec ? fs::absolute(p) : a).string();
}

/// A shard name from an index file must name a file in the same directory, never a path out of it.
void check_shard_name(const std::string& name, const std::string& source) {
  require(!name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
              name.find('\\') == std::string::npos,
          source, ": shard name \"", name, "\" must be a plain file name in the same directory");
}

}  // namespace

// ---- names and shapes ----

std::vector<std::string> linear_layer_names(const LlamaConfig& c) {
  std::vector<std::string> out;
  for (int i = 0; i < c.layers; ++i)
    for (const auto& [block, proj] : k_linear_kinds)
      out.push_back("model.layers." + std::to_string(i) + "." + block + "." + proj);
  return out;
}

std::vector<std::int64_t> expected_shape(const LlamaConfig& c, const std::string& name) {
  const std::int64_t h = c.hidden, q = c.q_dim(), kv = c.kv_dim(), f = c.intermediate, v = c.vocab;
  if (name == k_embed || name == k_lm_head) return {v, h};
  if (name == "model.norm.weight") return {h};
  constexpr std::string_view prefix = "model.layers.";
  if (!name.starts_with(prefix)) return {};
  std::size_t pos = prefix.size(), end = pos;
  while (end < name.size() && name[end] >= '0' && name[end] <= '9') ++end;
  if (end == pos || end - pos > 9 || end >= name.size() || name[end] != '.') return {};
  if (name[pos] == '0' && end - pos > 1) return {};  // no leading zeros: one spelling per layer
  if (std::stoll(name.substr(pos, end - pos)) >= c.layers) return {};
  const std::string rest = name.substr(end + 1);
  if (rest == "input_layernorm.weight" || rest == "post_attention_layernorm.weight") return {h};
  if (rest == "self_attn.q_proj.weight") return {q, h};
  if (rest == "self_attn.k_proj.weight" || rest == "self_attn.v_proj.weight") return {kv, h};
  if (rest == "self_attn.o_proj.weight") return {h, q};
  if (rest == "mlp.gate_proj.weight" || rest == "mlp.up_proj.weight") return {f, h};
  if (rest == "mlp.down_proj.weight") return {h, f};
  return {};
}

// ---- opening ----

Checkpoint Checkpoint::open(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path index = path / "model.safetensors.index.json";
    if (fs::exists(index)) return open_safetensors(index, index);
    const fs::path single = path / "model.safetensors";
    require(fs::exists(single), path.string(),
            " holds neither model.safetensors nor model.safetensors.index.json");
    return open_safetensors(single, {});
  }
  require(fs::exists(path, ec), "checkpoint ", path.string(), " does not exist");
  const std::string file = path.filename().string();
  if (file.ends_with(".safetensors")) return open_safetensors(path, {});
  if (file.ends_with(".index.json")) return open_safetensors(path, path);
  if (file.ends_with(".bin")) return open_llama2c(path);
  throw InputError("cannot tell the format of " + path.string() +
                   ": expected a llama2.c .bin file, a .safetensors file, a model.safetensors.index.json "
                   "or a HF model directory");
}

Checkpoint Checkpoint::open_llama2c(const fs::path& file) {
  auto map = std::make_shared<const MappedFile>(file);
  const Llama2cLayout layout = parse_llama2c(map->bytes(), file.string());
  Checkpoint ck;
  ck.source_ = file.string();
  ck.config_ = layout.config;
  for (const auto& t : layout.tensors) {
    std::uint64_t count = 1;
    for (auto d : t.shape) count *= static_cast<std::uint64_t>(d);  // bounded by the validated file size
    ck.tensors_[t.name] = TensorRef{map->bytes().data() + t.offset, DType::F32, t.shape, count};
  }
  ck.resolve_tied_embeddings({});
  ck.check_tensors();

  // The format has no descriptive header, so the hash covers the first and last MiB: bounded cost, and
  // it sees the header, the embedding and the classifier end.
  constexpr std::size_t mib = 1 << 20;
  const auto bytes = map->bytes();
  Sha256 h;
  if (bytes.size() <= 2 * mib) {
    h.update(bytes);
  } else {
    h.update(bytes.first(mib));
    h.update(bytes.last(mib));
  }
  ck.identity_ = json{{"path", absolute_text(file)},
                      {"files", json::array({{{"name", file.filename().string()}, {"bytes", bytes.size()}}})},
                      {"header_sha256", h.hex_digest()}}
                     .dump();
  ck.owners_.push_back(std::move(map));
  return ck;
}

Checkpoint Checkpoint::open_safetensors(const fs::path& source, const fs::path& index) {
  Checkpoint ck;
  ck.source_ = source.string();
  const fs::path dir = source.parent_path().empty() ? fs::path(".") : source.parent_path();
  const fs::path config = dir / "config.json";
  require(fs::exists(config), source.string(), ": no config.json beside it");
  ck.config_ = read_hf_config(config.string());

  Sha256 h;
  json files = json::array();
  std::vector<std::string> shards;
  json weight_map = json::object();
  if (index.empty()) {
    shards.push_back(source.filename().string());
  } else {
    const MappedFile index_map(index);
    const auto bytes = index_map.bytes();
    h.update(bytes);
    files.push_back({{"name", index.filename().string()}, {"bytes", bytes.size()}});
    const json j = parse_json_input({reinterpret_cast<const char*>(bytes.data()), bytes.size()}, index.string());
    require(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(), index.string(),
            ": no \"weight_map\" object");
    weight_map = j["weight_map"];
    std::set<std::string> names;
    for (const auto& [tensor, shard] : weight_map.items()) {
      require(shard.is_string(), index.string(), ": weight_map entry \"", tensor, "\" is not a file name");
      check_shard_name(shard.get<std::string>(), index.string());
      names.insert(shard.get<std::string>());
    }
    require(!names.empty(), index.string(), ": empty weight_map");
    shards.assign(names.begin(), names.end());
  }

  std::map<std::string, std::string> aliases;
  std::map<std::string, std::string> tensor_shard;
  for (const auto& shard : shards) {
    if (!fs::exists(dir / shard)) {
      // Name what is lost with it: the first tensor the index places there, and how many more.
      std::string first;
      std::size_t count = 0;
      for (const auto& [tensor, file] : weight_map.items())
        if (file == shard && count++ == 0) first = tensor;
      throw InputError(detail::concat(source.string(), ": shard ", shard, " does not exist (it should hold tensor \"",
                                      first, "\"", count > 1 ? detail::concat(" and ", count - 1, " more") : "", ")"));
    }
    auto file = std::make_shared<const SafetensorsFile>(dir / shard);
    h.update(file->header_bytes());
    files.push_back({{"name", shard}, {"bytes", file->file_size()}});
    for (const auto& [name, t] : file->header().tensors) {
      const auto [it, fresh] = tensor_shard.emplace(name, shard);
      require(fresh, source.string(), ": tensor \"", name, "\" is stored in both ", it->second, " and ", shard);
      ck.tensors_[name] = TensorRef{file->tensor_bytes(t).data(), t.dtype, t.shape, t.count};
    }
    // safetensors' torch writer drops shared tensors and records them as metadata "<dropped>": "<kept>".
    for (const auto& [k, v] : file->header().metadata) aliases.emplace(k, v);
    ck.owners_.push_back(std::move(file));
  }
  for (const auto& [tensor, shard] : weight_map.items()) {
    const auto it = tensor_shard.find(tensor);
    require(it != tensor_shard.end() && it->second == shard.get<std::string>(), index.string(),
            ": weight_map puts \"", tensor, "\" in ", shard.get<std::string>(), ", which does not hold it");
  }
  ck.resolve_tied_embeddings(aliases);
  ck.check_tensors();
  ck.identity_ =
      json{{"path", absolute_text(source)}, {"files", files}, {"header_sha256", h.hex_digest()}}.dump();
  return ck;
}

void Checkpoint::resolve_tied_embeddings(const std::map<std::string, std::string>& aliases) {
  for (const auto& [dropped, kept] : aliases) {
    if (tensors_.count(dropped) == 0 && tensors_.count(kept) == 1 && !expected_shape(config_, dropped).empty()) {
      const TensorRef ref = tensors_.at(kept);
      tensors_[dropped] = ref;
    }
  }
  const bool has_embed = tensors_.count(k_embed) == 1, has_head = tensors_.count(k_lm_head) == 1;
  if (has_embed && !has_head) {
    const TensorRef ref = tensors_.at(k_embed);
    tensors_[k_lm_head] = ref;
  } else if (has_head && !has_embed) {
    const TensorRef ref = tensors_.at(k_lm_head);
    tensors_[k_embed] = ref;
  }
  if (has_embed != has_head) config_.tied_embeddings = true;
}

void Checkpoint::check_tensors() const {
  // The config is bounded by the tensors present before any per-layer list is built: a config.json claiming
  // a billion layers is refused here, not by running out of memory.
  constexpr std::uint64_t tensors_per_layer = 9;  // two norms and seven linear layers
  require(static_cast<std::uint64_t>(config_.layers) * tensors_per_layer + 1 <= tensors_.size(), source_,
          ": the config says ", config_.layers, " layers (num_hidden_layers), but the checkpoint holds only ",
          tensors_.size(), " tensors, enough for at most ", tensors_.size() / tensors_per_layer,
          "; config.json does not describe these weights");
  std::vector<std::string> needed = {k_embed, k_lm_head, "model.norm.weight"};
  for (int i = 0; i < config_.layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    needed.push_back(p + "input_layernorm.weight");
    needed.push_back(p + "post_attention_layernorm.weight");
  }
  for (const auto& n : model::linear_layer_names(config_)) needed.push_back(n + ".weight");
  for (const auto& n : needed) {
    const auto it = tensors_.find(n);
    require(it != tensors_.end(), source_, ": missing tensor \"", n, "\"");
    const auto want = expected_shape(config_, n);
    if (it->second.shape != want) {
      auto dims = [](const std::vector<std::int64_t>& s) {
        std::string t = "[";
        for (std::size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
        return t + "]";
      };
      throw InputError(source_ + ": tensor \"" + n + "\" has shape " + dims(it->second.shape) +
                       " but the config implies " + dims(want));
    }
  }
}

// ---- access ----

const Checkpoint::TensorRef& Checkpoint::find(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) throw InputError(source_ + " has no tensor \"" + name + "\"");
  return it->second;
}

std::vector<std::string> Checkpoint::tensor_names() const {
  std::vector<std::string> out;
  for (const auto& [name, t] : tensors_) out.push_back(name);
  return out;
}

bool Checkpoint::has(const std::string& name) const { return tensors_.count(name) == 1; }
std::vector<std::int64_t> Checkpoint::shape(const std::string& name) const { return find(name).shape; }
DType Checkpoint::dtype(const std::string& name) const { return find(name).dtype; }

std::vector<float> Checkpoint::read_f32(const std::string& name) const {
  const TensorRef& t = find(name);
  std::vector<float> out(t.count);
  convert_to_f32(t.data, t.dtype, out);
  return out;
}

std::vector<float> Checkpoint::read_rows_f32(const std::string& name, std::int64_t first, std::int64_t count) const {
  const TensorRef& t = find(name);
  require(t.shape.size() == 2, "read_rows_f32: \"", name, "\" is not a matrix");
  require(first >= 0 && count >= 0 && first + count <= t.shape[0], "read_rows_f32: rows [", first, ", ", first + count,
          ") of \"", name, "\" with ", t.shape[0], " rows");
  const auto cols = static_cast<std::size_t>(t.shape[1]);
  std::vector<float> out(static_cast<std::size_t>(count) * cols);
  convert_to_f32(t.data + static_cast<std::size_t>(first) * cols * dtype_size(t.dtype), t.dtype, out);
  return out;
}

void Checkpoint::release_pages(const std::string& name) const {
  const TensorRef& t = find(name);
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(t.data);
  const std::uintptr_t end = begin + t.count * dtype_size(t.dtype);
  // Whole pages inside the tensor only: a page shared with a neighbour stays (at most two per tensor).
  const std::uintptr_t first = (begin + page - 1) / page * page, last = end / page * page;
  if (last > first) (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

std::vector<std::string> Checkpoint::linear_layer_names() const { return model::linear_layer_names(config_); }

la::Matrix<float> Checkpoint::linear_weight(const std::string& name) const {
  std::string base = name;
  if (base.ends_with(".weight")) base.resize(base.size() - 7);
  const auto names = linear_layer_names();
  if (std::find(names.begin(), names.end(), base) == names.end()) {
    std::string list;
    for (std::size_t i = 0; i < std::min<std::size_t>(names.size(), 7); ++i) list += "\n  " + names[i];
    throw InputError(source_ + ": \"" + name + "\" is not a linear layer; the " + std::to_string(names.size()) +
                     " linear layers are named like:" + list + "\n  ... up to model.layers." +
                     std::to_string(config_.layers - 1) + ".mlp.down_proj");
  }
  const TensorRef& t = find(base + ".weight");
  la::Matrix<float> w(t.shape[1], t.shape[0]);  // [out][in] row-major == in×out column-major
  convert_to_f32(t.data, t.dtype, w.values());
  // The float32 copy is what the caller holds: without this, a worker that reads layer after layer keeps
  // every mapped page it has read resident (6.6 GB per worker after 224 layers of the 7B shape).
  release_pages(base + ".weight");
  return w;
}

}  // namespace srr::model
