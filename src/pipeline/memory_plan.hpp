// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The memory plan that `srr calibrate`, `srr eval` and `srr quantize` print before any work: the predicted
/// peak per rank, item by item, from the model's shapes and the run's settings, checked against
/// `--memory-per-rank` (default: the node's MemTotal shared by the ranks on that node). And the measured peak
/// RSS per rank (getrusage) that their summaries print, so plan and measurement can be compared.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/config.hpp"
#include "parallel/mpi.hpp"

namespace srr::pipeline {

struct MemoryItem {
  std::string what;
  std::uint64_t bytes = 0;
};

/// The predicted peak of one kind of rank (e.g. "calibrate rank", "quantize worker").
struct MemoryPlan {
  std::string role;
  std::vector<MemoryItem> items;
  std::uint64_t total() const;
  /// "calibrate rank: 1.23 GiB = layer weights (float32) 0.77 GiB + …".
  std::string describe() const;
  nlohmann::json to_json() const;
};

/// What the process holds before any model data: the executable, its libraries, MPI and HDF5. Measured on
/// this project's build (an `srr calibrate` of stories260K peaks at ~40 MB); a bound, not a prediction.
inline constexpr std::uint64_t kRuntimeBytes = std::uint64_t{64} << 20;

/// Bytes of one decoder layer's weights in float32 (seven linear layers and two norms).
std::uint64_t layer_f32_bytes(const model::LlamaConfig& c);
/// Bytes of the largest single tensor of a decoder layer as stored (mapped pages touched while converting it).
std::uint64_t largest_layer_tensor_bytes(const model::LlamaConfig& c, std::size_t dtype_bytes);
/// Forward temporaries of one decoder layer over a window of `T` tokens (float32): normed input, q/k/v,
/// attention scores, output, gate/up.
std::uint64_t layer_temporaries_bytes(const model::LlamaConfig& c, std::uint64_t T);

/// `srr calibrate`, per rank: one layer, the rank's hidden states (`tokens` = the most any rank holds), the
/// captured float64 inputs of one layer, one XᵀX panel.
MemoryPlan calibrate_plan(const model::LlamaConfig& c, std::size_t dtype_bytes, std::uint64_t tokens,
                          std::uint64_t window, bool with_xtx, std::uint64_t panel_bytes);
/// `srr eval`, per rank: one layer (plus L, R of rank `rank` in every linear layer when quantized), the
/// rank's hidden states, one window's temporaries and logits, the head slices.
MemoryPlan eval_plan(const model::LlamaConfig& c, std::size_t dtype_bytes, std::uint64_t tokens,
                     std::uint64_t window, int rank);
/// `srr quantize`: a worker decomposing the largest linear layer (weights, the working copies of the
/// decomposition and, with `dense_scale` (QERA-exact), its input's cached scales and R_xx), and the master
/// (the plan and one record at a time).
MemoryPlan quantize_worker_plan(const model::LlamaConfig& c, int rank, bool float64, bool dense_scale);
MemoryPlan quantize_master_plan(const model::LlamaConfig& c, int rank);
/// The largest linear layer's store record twice, as read and as decoded (codes ≤ 1 byte per weight, block
/// exponents, L and R of rank `rank` in float32): what the quantize master and `eval --store` add.
MemoryItem layer_record_item(const model::LlamaConfig& c, int rank);

/// Collective: the default --memory-per-rank, MemTotal of this node divided by the ranks on it
/// (MPI_Comm_split_type SHARED).
std::uint64_t default_memory_per_rank(const parallel::Communicator& comm);
/// Logs every plan (rank 0) and throws InputError (one line, exit code 2) when one exceeds `limit`.
void check_memory_plans(const std::vector<MemoryPlan>& plans, std::uint64_t limit, const parallel::Communicator& comm);

/// Collective: every rank's peak resident set so far (getrusage ru_maxrss), in rank order, on every rank.
std::vector<std::uint64_t> peak_rss_per_rank(const parallel::Communicator& comm);

/// "1.23 GiB".
std::string format_bytes(std::uint64_t bytes);

}  // namespace srr::pipeline
