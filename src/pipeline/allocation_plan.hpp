// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Per-layer settings under a memory budget (`srr allocate`) and the plan file that carries them to
/// `quantize --plan`, `eval --plan`, `export` and `sweep`: the one reader and writer of that file.
///
/// Memory accounting, per linear layer of in×out weights, in bits:
///   Q        in·out·w, plus MXINT's 8-bit shared exponent per block of B inputs (out·⌈in/B⌉·8, i.e. 8/B
///            bits per weight), or INT-g's float16 scale and w-bit zero point per group (out·⌈in/g⌉·(16 + w));
///   L·R      16·r·(in + out): the factors deployed in bf16.
/// The budget is the average over every linear weight of the model (embeddings and norms are not counted).
///
/// Objective: Σ over layers of s_i · tr(ΔᵀR_xxΔ), where tr(ΔᵀR_xxΔ) = rel_error_act · tr(WᵀR_xxW) is the
/// expected squared output error of layer i on the calibration distribution and s_i its sensitivity:
///   * Weighting::none: s_i = 1, the summed absolute activation-aware error;
///   * Weighting::loss: s_i = ΔNLL_i / tr(Δ_refᵀR_xxΔ_ref), measured: the increase of the mean token NLL on
///     the sensitivity text when layer i alone is replaced by its cheapest option (the largest error), per
///     unit of that option's error. Why: to second order the loss grows by ½·δyᵀH_yδy for an output error δy;
///     taking each layer's output Hessian as isotropic (H_y ≈ 2s_i·I) gives ΔNLL ≈ s_i·tr(ΔᵀR_xxΔ), so the
///     weighted sum predicts the loss increase in nats per token, additively over layers. The unweighted sum
///     treats an error in q/k (which feeds a softmax through a dot product) like one of the same size in
///     v/o/down (which is added to the residual stream) — measured in docs/allocation.md, it spends the
///     budget on the wrong layers.
/// Every option's error is measured with a real decomposition (the method, scale and k rule of the settings,
/// at that bit width and rank), not extrapolated from a curve: no approximation of SRR's error enters.
///
/// Plan file (TSV, UTF-8): comment lines start with '#'; the first other line is the header, naming the
/// columns; then one line per linear layer. Columns `layer`, `bits` and `rank` are required, `k_rule` is
/// optional (default: the run's --k-rule); the others (`k_star`, `predicted_error`, `rel_error_act`,
/// `bits_per_weight`) are what allocate predicted and are not read back as settings.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "la/matrix.hpp"
#include "model/checkpoint.hpp"
#include "parallel/mpi.hpp"
#include "qer/allocation.hpp"
#include "qer/method.hpp"

namespace srr::pipeline {

using la::index_t;

class LayerQuantizer;

using qer::factor_bits;
using qer::quantized_bits;

/// One (bits, rank) choice of a layer with its memory and its measured error.
struct AllocationOption {
  int bits = 0;
  index_t rank = 0;
  double cost = 0;           ///< bits (qer::layer_bits)
  double act_error = 0;      ///< tr(ΔᵀR_xxΔ)
  double rel_error_act = 0;  ///< act_error / tr(WᵀR_xxW)
  double k_star = 0;
  double error = 0;          ///< what the knapsack minimises: sensitivity · act_error
};

struct AllocationLayer {
  std::string name;
  index_t in = 0, out = 0;
  std::vector<AllocationOption> options;  ///< bits-major, in the order of the sets
  double sensitivity = 1;                 ///< s_i of the objective (1 without weighting)
  double weights() const { return static_cast<double>(in) * static_cast<double>(out); }
};

enum class Weighting { none, loss };
std::string to_string(Weighting w);
Weighting weighting_from_string(const std::string& s);  ///< none|loss; InputError otherwise

struct AllocateSettings {
  double budget = 0;             ///< average bits per linear weight
  std::vector<int> bits{2, 3, 4};
  std::vector<index_t> ranks{0, 4, 8, 16, 32};
  std::int64_t grid = 1 << 15;  ///< qer::AllocationSettings::grid
  Weighting weighting = Weighting::loss;
};

struct Allocation {
  std::vector<AllocationLayer> layers;
  qer::AllocationResult plan;     ///< never worse than `uniform`
  qer::AllocationResult uniform;  ///< the best same-(bits, rank)-everywhere plan within the budget; choice empty if none
  double weights = 0;             ///< linear weights of the model
  Weighting weighting = Weighting::none;
  double fp32_nll = 0;            ///< mean token NLL of the FP32 model on the sensitivity text (loss weighting)
  double bits_per_weight(const qer::AllocationResult& r) const { return r.cost / weights; }
};

/// InputError naming the option for a budget that is not a positive number, an empty set, bits outside
/// 2..8 or a negative rank. Local.
void validate(const AllocateSettings& settings);

/// Every layer's options that its shape admits (rank < min(in, out)), costed but not measured. InputError
/// for bits outside 2..8, a negative rank, or a layer that admits no rank of the set.
std::vector<AllocationLayer> layer_options(const model::Checkpoint& ckpt, const qer::MethodSettings& method,
                                           const AllocateSettings& settings);

/// Measures every option with a real decomposition (method settings of `q`, bits and rank of the option;
/// rank 0 is weight-only). Collective over `comm`: layer i is measured on rank i mod np, then every rank
/// has every error.
void measure_options(std::vector<AllocationLayer>& layers, LayerQuantizer& q, const parallel::Communicator& comm);

/// Sets each layer's sensitivity s_i (Weighting::loss above) from the stream windows `windows` (in
/// tokens) and returns the FP32 model's mean token NLL on them. Needs measured options. Collective over
/// `comm` (the windows are spread over the ranks, as in srr eval).
double measure_sensitivity(std::vector<AllocationLayer>& layers, const model::Checkpoint& ckpt, LayerQuantizer& q,
                           const std::vector<std::vector<int>>& windows, const parallel::Communicator& comm);

/// The whole of `srr allocate` but writing: options, measurement, sensitivities (`windows`: the
/// sensitivity text, needed for Weighting::loss), knapsack, best uniform. Collective over `comm`. InputError
/// naming the cheapest achievable figure when no plan meets the budget.
Allocation allocate(const model::Checkpoint& ckpt, const qer::MethodSettings& method,
                    const std::filesystem::path& calib, const AllocateSettings& settings,
                    const std::vector<std::vector<int>>& windows, const parallel::Communicator& comm);

/// One layer's line of a plan file.
struct PlanEntry {
  std::string layer;
  int bits = 0;
  index_t rank = 0;
  std::optional<qer::KRule> k_rule;  ///< absent: the run's own rule
  std::size_t line = 0;              ///< in the file, for messages
};

/// A plan file as read: its entries, and its exact bytes and their SHA-256 (what a store records).
struct AllocationPlan {
  std::filesystem::path path;
  std::vector<PlanEntry> entries;  ///< in file order
  std::string text;
  std::string sha256;  ///< hex
};

/// The plan file's text for an allocation (k rule and the other columns from `method`; `model` as given on
/// the command line, written in a comment only).
std::string plan_text(const Allocation& a, const qer::MethodSettings& method, double budget, const std::string& model);

/// Parses a plan. InputError "FILE:LINE: …" for a malformed line: a missing header or required column, a
/// wrong number of fields, a bits, rank or k rule that does not parse, bits outside 2..8, a negative rank, a
/// layer listed twice.
AllocationPlan parse_plan(const std::string& text, const std::filesystem::path& path);
/// Reads `path` and parses it (InputError naming the file when it cannot be read).
AllocationPlan read_plan(const std::filesystem::path& path);
/// The largest rank of the plan's layers: what one layer's decomposition must hold in memory.
index_t largest_rank(const AllocationPlan& plan);

/// The settings of every linear layer of `ckpt` under `plan`, in checkpoint order: `base` with the plan's
/// bits, rank and k rule (rank 0: weight-only). InputError naming the file and layer for a layer the
/// checkpoint does not have, a layer the plan misses, or a rank ≥ min(in, out) (and any other setting the
/// layer's shape refuses, qer::validate).
std::vector<std::pair<std::string, qer::LayerSettings>> plan_settings(const AllocationPlan& plan,
                                                                      const model::Checkpoint& ckpt,
                                                                      const qer::LayerSettings& base);

}  // namespace srr::pipeline
