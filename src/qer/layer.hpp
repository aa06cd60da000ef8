// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// One linear layer, one method: W ≈ Q + L·R (method.md §2, §5, §6). Pure functions of (W, S, statistics,
/// settings, seed, layer name) — the result never depends on which rank runs it or in which order.
///
/// Orientation: W is the paper's in×out matrix (y = xW), L is in×r and R is r×out; S acts on the input
/// dimension. In PEFT orientation (W_t ≈ Q_t + lora_B·lora_A) lora_A = Lᵀ [r][in] and lora_B = Rᵀ [out][r];
/// read row-major, those are exactly the column-major bytes of L and R, so the store copies them as they are.

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "la/matrix.hpp"
#include "quant/quantizer.hpp"
#include "qer/scale.hpp"
#include "qer/svd.hpp"
#include "qer/timings.hpp"

namespace srr::qer {

enum class Method { Qer, Srr, Loftq, WeightOnly };
enum class KRule { Criterion, Fixed, Oracle, Naive, Adaptive, Energy };
enum class Recon { Joint, Split };
enum class ProbeShape { Square, Full };
/// What a layer reports beyond what it must compute. Basic (the default): k*, the preserved set, every
/// error, and the spectra SRR computes anyway (σ(S·W), the probe's, the criterion's objective); the
/// activation-aware error comes from the identity tr(ΔᵀR_xxΔ) = ‖S·Δ‖_F² when the scale is an exact root
/// of R_xx (Scale::exact_root), else from R_xx. Full: also σ(S·W) for QER, LoftQ and weight-only (one more
/// truncated SVD), and the activation-aware error from R_xx even where the identity holds (two m×m×n
/// products), as a check of it.
enum class Diagnostics { Basic, Full };

std::string to_string(Method m);
std::string to_string(KRule k);
std::string to_string(Recon r);
std::string to_string(ProbeShape p);
Method method_from_string(const std::string& s);          ///< qer|srr|loftq|w-only
KRule k_rule_from_string(const std::string& s);           ///< criterion|fixed|oracle|naive|adaptive|energy
Recon recon_from_string(const std::string& s);            ///< joint|split
ProbeShape probe_shape_from_string(const std::string& s); ///< square|full
std::string to_string(Diagnostics d);
Diagnostics diagnostics_from_string(const std::string& s); ///< basic|full

/// Every knob of one layer's decomposition (a grid point of a sweep is one of these plus the scale).
struct LayerSettings {
  Method method = Method::Srr;
  quant::QuantSettings quant;
  index_t rank = 32;
  KRule k_rule = KRule::Criterion;
  index_t k = 0;            ///< the k of KRule::Fixed
  Recon recon = Recon::Joint;
  int iters = 1;            ///< alternations Q ← 𝒬(W − LR), LR ← S⁻¹SVD_r(S(W − Q)) (§5.4); LoftQ uses 5
  ProbeShape probe = ProbeShape::Square;
  int mc_samples = 1;       ///< probes averaged by the criterion
  std::uint64_t seed = 42;
  Diagnostics diagnostics = Diagnostics::Basic;
};

/// What a layer's decomposition reports besides its matrices: k*, the errors, spectra, curves and timings.
/// The store keeps all of it (store::LayerRecord derives from it; store/record.hpp's field table gives each
/// member its dataset, shape and JSON name), so a new metric is a member here plus one line there.
struct LayerSummary {
  index_t k_star = 0;  ///< directions of SW kept out of the quantizer
  std::vector<index_t> preserved;  ///< their indices among SW's singular directions (adaptive: any subset of [r])

  double rel_error = 0;         ///< ‖W−Q−LR‖_F / ‖W‖_F
  double rel_error_scaled = 0;  ///< ‖S(W−Q−LR)‖_F / ‖SW‖_F
  double rel_error_act = std::numeric_limits<double>::quiet_NaN();  ///< tr(ΔᵀR_xxΔ)/tr(WᵀR_xxW), if R_xx known
  double sw_frobenius2 = 0;     ///< ‖SW‖_F²

  std::vector<double> sw_singular_values;     ///< top singular values of SW (r of them; QER: Diagnostics::Full)
  std::vector<double> probe_singular_values;  ///< top r singular values of the first probe S·G (criterion)
  std::vector<double> objective;              ///< criterion objective α²(k)·ρ̂(r−k) for k = 0..r
  std::vector<double> oracle_errors;          ///< oracle rule: scaled error for every k = 0..r
  index_t scored_directions = 0;              ///< adaptive rule: directions of SW scored (0 for other rules)
  StageTimes seconds;                         ///< wall time per stage
};

/// Everything a layer's decomposition produced, with its diagnostics.
template <class T>
struct LayerResult : LayerSummary {
  quant::Encoded codes;  ///< Q as stored: codes + shared exponents (or INT-g scales/zeros)
  Matrix<T> Q;           ///< dequantized codes, in×out
  Matrix<T> L;           ///< in×r
  Matrix<T> R;           ///< r×out
};

/// Decomposes one layer. `rxx` (may be null) enables the activation-aware error; it must be the R_xx the
/// scale was built from (the identity of Diagnostics::Basic relies on it).
/// Throws InputError naming `layer_name` for NaN/Inf in W, rank ≥ min(m, n), k out of range, a scale of
/// the wrong size, and other bad settings.
template <class T>
LayerResult<T> decompose_layer(const Matrix<T>& W, const Scale& S, const LayerSettings& settings,
                               std::string_view layer_name, const SvdEngine& engine,
                               const Matrix<double>* rxx = nullptr);

/// Throws InputError when the settings are inconsistent for an in×out layer.
void validate(const LayerSettings& s, index_t in, index_t out, std::string_view layer_name);

/// The criterion of method.md §5.3: k* = first argmin over k of α²(k)·ρ̂(r − k).
index_t criterion_argmin(const std::vector<double>& sw_sigma, double sw_frobenius2,
                         const std::vector<double>& rho_hat, index_t r, std::vector<double>* objective = nullptr);

}  // namespace srr::qer
