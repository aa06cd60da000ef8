// SPDX-License-Identifier: MIT
#include "app/quantized_model.hpp"

#include "base/error.hpp"
#include "model/linear_inputs.hpp"
#include "qer/layer.hpp"
#include "store/calibration.hpp"
#include "store/store.hpp"

namespace srr::app {

using la::index_t;

LayerQuantizer::LayerQuantizer(const model::Checkpoint& ckpt, MethodConfig config,
                               std::optional<std::filesystem::path> calib)
    : ckpt_(ckpt), config_(std::move(config)), calib_(std::move(calib)) {
  const bool needs_stats = config_.scale.kind != qer::ScaleKind::Identity && config_.layer.method != qer::Method::Loftq &&
                           config_.layer.method != qer::Method::WeightOnly;
  require(!needs_stats || calib_.has_value(), "--scale ", qer::to_string(config_.scale.kind),
          " needs calibration statistics: give --calib FILE (from srr calibrate)");
}

const qer::Scale& LayerQuantizer::scale_for(const std::string& key, la::index_t dim) {
  if (auto it = scales_.find(key); it != scales_.end()) return it->second;
  if (!calib_) return scales_.emplace(key, qer::Scale::identity(dim)).first->second;
  const auto stats = store::read_statistics(*calib_, key);
  require(stats.dim == dim, calib_->string(), ": statistics ", key, " have dimension ", stats.dim, " but the layer has ",
          dim, " inputs");
  if (stats.has_xtx()) rxx_.emplace(key, stats.rxx());
  return scales_.emplace(key, qer::build_scale(stats, config_.scale, key)).first->second;
}

store::LayerRecord LayerQuantizer::run(const std::string& name) {
  const auto W = ckpt_.linear_weight(name);
  const auto key = model::statistics_key(name);
  const qer::Scale& S = scale_for(key, W.rows());
  const auto rxx = rxx_.find(key);
  const la::Matrix<double>* R = rxx == rxx_.end() ? nullptr : &rxx->second;
  const qer::LocalSvdEngine engine(config_.svd);
  if (config_.float64)
    return store::make_record(qer::decompose_layer(W.cast<double>(), S, config_.layer, name, engine, R), S.report());
  return store::make_record(qer::decompose_layer(W, S, config_.layer, name, engine, R), S.report());
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

std::map<std::string, model::LinearOverride> quantize_all(const model::Checkpoint& ckpt, LayerQuantizer& q,
                                                          const dist::Communicator& comm) {
  const auto names = ckpt.linear_layer_names();
  std::map<std::string, model::LinearOverride> out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const int owner = static_cast<int>(i % static_cast<std::size_t>(comm.size()));
    std::vector<std::byte> bytes;
    if (comm.rank() == owner) bytes = store::serialize(q.run(names[i]));
    auto size = comm.bcast_value(static_cast<std::int64_t>(bytes.size()), owner, dist::Wait::Poll);
    bytes.resize(static_cast<std::size_t>(size));
    comm.bcast(std::span<std::byte>(bytes), owner, dist::Wait::Poll);
    out.emplace(names[i], to_override(store::deserialize(bytes)));
  }
  return out;
}

std::map<std::string, model::LinearOverride> load_store(const std::filesystem::path& path) {
  const auto st = store::Store::open_read_only(path);
  const auto done = st.done();
  std::map<std::string, model::LinearOverride> out;
  for (std::size_t i = 0; i < st.layout().layers.size(); ++i) {
    const auto& name = st.layout().layers[i].name;
    require(done[i], path.string(), ": layer ", name, " is not finished; rerun srr quantize to complete the store");
    out.emplace(name, to_override(st.read_layer(i)));
  }
  return out;
}

}  // namespace srr::app
