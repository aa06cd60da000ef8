// SPDX-License-Identifier: MIT
#include "pipeline/memory_plan.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "base/error.hpp"
#include "pipeline/calibration.hpp"
#include "pipeline/log.hpp"

namespace srr::pipeline {

namespace {

using u64 = std::uint64_t;

u64 u(int v) { return static_cast<u64>(v); }

/// The seven (in, out) shapes of a decoder layer's linear layers.
std::vector<std::pair<u64, u64>> linear_shapes(const model::LlamaConfig& c) {
  const u64 d = u(c.hidden), q = u(c.q_dim()), kv = u(c.kv_dim()), f = u(c.intermediate);
  return {{d, q}, {d, kv}, {d, kv}, {q, d}, {d, f}, {d, f}, {f, d}};
}

/// The largest linear layer's in·out and the widest input: what one layer at a time must hold.
struct LargestLinear {
  u64 in_out = 0, in = 0;
};
LargestLinear largest_linear(const model::LlamaConfig& c) {
  LargestLinear l;
  for (const auto& [in, out] : linear_shapes(c)) {
    l.in_out = std::max(l.in_out, in * out);
    l.in = std::max(l.in, in);
  }
  return l;
}

}  // namespace

u64 MemoryPlan::total() const {
  u64 t = 0;
  for (const auto& i : items) t += i.bytes;
  return t;
}

std::string format_bytes(u64 bytes) {
  char buf[32];
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  else if (b >= 1024.0 * 1024) std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
  else std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  return buf;
}

std::string MemoryPlan::describe() const {
  std::string s = role + ": " + format_bytes(total()) + " =";
  for (std::size_t i = 0; i < items.size(); ++i)
    s += (i ? " + " : " ") + items[i].what + " " + format_bytes(items[i].bytes);
  return s;
}

nlohmann::json MemoryPlan::to_json() const {
  nlohmann::json j = {{"role", role}, {"bytes", total()}};
  for (const auto& i : items) j["items"][i.what] = i.bytes;
  return j;
}

u64 layer_f32_bytes(const model::LlamaConfig& c) {
  u64 n = 2 * u(c.hidden);
  for (const auto& [in, out] : linear_shapes(c)) n += in * out;
  return 4 * n;
}

u64 largest_layer_tensor_bytes(const model::LlamaConfig& c, std::size_t dtype_bytes) {
  return largest_linear(c).in_out * dtype_bytes;
}

u64 layer_temporaries_bytes(const model::LlamaConfig& c, u64 T) {
  const u64 d = u(c.hidden), q = u(c.q_dim()), kv = u(c.kv_dim()), f = u(c.intermediate);
  // Attention half: xn, q, k, v, scores P (T×T), attention output, o's output. MLP half: xf, gate, up,
  // down's output. The larger half is live at once (plus the hidden state, counted by the caller).
  const u64 attention = T * (d + q + 2 * kv + q + d) + T * T;
  const u64 mlp = T * (d + 2 * f + d);
  return 4 * std::max(attention, mlp);
}

MemoryPlan calibrate_plan(const model::LlamaConfig& c, std::size_t dtype_bytes, u64 tokens, u64 window, bool with_xtx,
                          u64 panel_bytes) {
  const u64 d = u(c.hidden), q = u(c.q_dim()), f = u(c.intermediate);
  const u64 m = std::max({d, q, f});
  MemoryPlan p{"calibrate rank", {}};
  p.items.push_back({"runtime", kRuntimeBytes});
  p.items.push_back({"layer weights (float32)", layer_f32_bytes(c)});
  p.items.push_back({"mapped tensor", largest_layer_tensor_bytes(c, dtype_bytes)});
  p.items.push_back({"hidden states", 4 * tokens * d});
  p.items.push_back({"captured inputs (float64)", 8 * tokens * (d + q + d + f)});
  p.items.push_back({"window temporaries", layer_temporaries_bytes(c, window)});
  if (with_xtx) {
    const auto width = static_cast<u64>(xtx_panel_width(static_cast<la::index_t>(m), panel_bytes));
    p.items.push_back({"XᵀX panel", 8 * m * width});
  }
  return p;
}

MemoryPlan eval_plan(const model::LlamaConfig& c, std::size_t dtype_bytes, u64 tokens, u64 window, int rank) {
  const u64 d = u(c.hidden);
  MemoryPlan p{"eval rank", {}};
  p.items.push_back({"runtime", kRuntimeBytes});
  u64 lr = 0;
  for (const auto& [in, out] : linear_shapes(c)) lr += u(rank) * (in + out);
  p.items.push_back({"layer weights (float32)", layer_f32_bytes(c) + 4 * lr});
  p.items.push_back({"mapped tensor", largest_layer_tensor_bytes(c, dtype_bytes)});
  p.items.push_back({"hidden states", 4 * tokens * d});
  p.items.push_back({"window temporaries", layer_temporaries_bytes(c, window)});
  // The head is read in 64 MiB float32 slices; the logits of one window are vocab × T.
  p.items.push_back({"head slice and logits", (u64{64} << 20) * (1 + dtype_bytes) / 4 + 4 * u(c.vocab) * window});
  return p;
}

MemoryPlan quantize_worker_plan(const model::LlamaConfig& c, int rank, bool float64, bool dense_scale) {
  const auto [in_out, in_max] = largest_linear(c);
  const u64 word = float64 ? 8 : 4;
  MemoryPlan p{"quantize worker", {}};
  p.items.push_back({"runtime", kRuntimeBytes});
  p.items.push_back({"layer weight (float32)", 4 * in_out});
  // W, S·W, Q, the residual and the SVD's factors and workspace: about six working copies of the layer.
  p.items.push_back({"decomposition working copies", 6 * word * in_out});
  // QERA-exact: two cached scales (S and S⁻¹ each) of the largest input and its R_xx, all m×m float64.
  // Diagonal scales are vectors and the identity is nothing: no item.
  if (dense_scale) p.items.push_back({"scales and R_xx", (2 * 2 + 1) * 8 * in_max * in_max});
  p.items.push_back({"L, R", 4 * u(rank) * 2 * in_max});
  return p;
}

MemoryItem layer_record_item(const model::LlamaConfig& c, int rank) {
  const auto [in_out, in_max] = largest_linear(c);
  // Held twice: the bytes read (or received) and the decoded record. Measured peaks: the quantize master
  // 156 MiB at 7B and 511 MiB at 70B; eval --store at 70B 0.44 GiB above its layer and activations.
  return {"one layer record, read and decoded", 2 * (in_out + 4 * u(rank) * 2 * in_max)};
}

MemoryPlan quantize_master_plan(const model::LlamaConfig& c, int rank) {
  MemoryPlan p{"quantize master", {}};
  p.items.push_back({"runtime", kRuntimeBytes});
  p.items.push_back(layer_record_item(c, rank));
  return p;
}

std::uint64_t default_memory_per_rank(const parallel::Communicator& comm) {
  u64 total = 0;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  u64 value = 0;
  while (meminfo >> key >> value) {
    if (key == "MemTotal:") {
      total = value * 1024;
      break;
    }
    meminfo.ignore(256, '\n');
  }
  const parallel::Communicator node = comm.split_shared();
  const u64 ranks = static_cast<u64>(std::max(1, node.size()));
  return total == 0 ? ~u64{0} : total / ranks;
}

void check_memory_plans(const std::vector<MemoryPlan>& plans, u64 limit, const parallel::Communicator& comm) {
  if (comm.rank() == 0)
    for (const auto& p : plans) SRR_LOG(info) << "memory plan: " << p.describe() << " (limit " << format_bytes(limit) << " per rank)";
  for (const auto& p : plans)
    require(p.total() <= limit, "the memory plan needs ", format_bytes(p.total()), " per ", p.role.substr(0, p.role.find(' ')),
            " ", p.role.substr(p.role.find(' ') + 1), " (", p.describe().substr(p.role.size() + 2),
            "), more than --memory-per-rank ", format_bytes(limit), "; use more ranks or nodes, fewer tokens per rank, or "
            "raise --memory-per-rank");
}

std::vector<std::uint64_t> peak_rss_per_rank(const parallel::Communicator& comm) {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  std::vector<std::uint64_t> peaks(static_cast<std::size_t>(comm.size()), 0);
  peaks[static_cast<std::size_t>(comm.rank())] = static_cast<u64>(ru.ru_maxrss) * 1024;  // kilobytes on Linux
  comm.allreduce(std::span<std::uint64_t>(peaks), parallel::ReduceOp::Sum);
  return peaks;
}

}  // namespace srr::pipeline
