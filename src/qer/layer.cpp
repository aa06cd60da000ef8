// SPDX-License-Identifier: MIT
#include "qer/layer.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "base/error.hpp"
#include "base/timer.hpp"
#include "la/lapack.hpp"

namespace srr::qer {

using la::Op;

// ---- names ---------------------------------------------------------------------------------------------

namespace {
template <class E, std::size_t N>
E parse(const std::string& s, const std::pair<E, const char*> (&table)[N], const char* option) {
  std::string valid;
  for (const auto& [e, name] : table) {
    if (s == name) return e;
    valid += (valid.empty() ? "" : ", ") + std::string(name);
  }
  throw InputError(std::string(option) + " must be one of " + valid + "; got '" + s + "'");
}
template <class E, std::size_t N>
std::string name_of(E e, const std::pair<E, const char*> (&table)[N]) {
  for (const auto& [v, name] : table)
    if (v == e) return name;
  return "?";
}
constexpr std::pair<Method, const char*> kMethods[] = {
    {Method::Qer, "qer"}, {Method::Srr, "srr"}, {Method::Loftq, "loftq"}, {Method::WeightOnly, "w-only"}};
constexpr std::pair<KRule, const char*> kRules[] = {{KRule::Criterion, "criterion"}, {KRule::Fixed, "fixed"},
                                                    {KRule::Oracle, "oracle"},       {KRule::Naive, "naive"},
                                                    {KRule::Adaptive, "adaptive"},   {KRule::Energy, "energy"}};
constexpr std::pair<Recon, const char*> kRecons[] = {{Recon::Joint, "joint"}, {Recon::Split, "split"}};
constexpr std::pair<ProbeShape, const char*> kProbes[] = {{ProbeShape::Square, "square"},
                                                          {ProbeShape::Full, "full"}};
constexpr std::pair<Diagnostics, const char*> kDiagnostics[] = {{Diagnostics::Basic, "basic"},
                                                                {Diagnostics::Full, "full"}};
}  // namespace

std::string to_string(Method m) { return name_of(m, kMethods); }
std::string to_string(KRule k) { return name_of(k, kRules); }
std::string to_string(Recon r) { return name_of(r, kRecons); }
std::string to_string(ProbeShape p) { return name_of(p, kProbes); }
Method method_from_string(const std::string& s) { return parse(s, kMethods, "--method"); }
KRule k_rule_from_string(const std::string& s) { return parse(s, kRules, "--k-rule"); }
Recon recon_from_string(const std::string& s) { return parse(s, kRecons, "--recon"); }
ProbeShape probe_shape_from_string(const std::string& s) { return parse(s, kProbes, "--probe"); }
std::string to_string(Diagnostics d) { return name_of(d, kDiagnostics); }
Diagnostics diagnostics_from_string(const std::string& s) { return parse(s, kDiagnostics, "--diagnostics"); }

// ---- validation ------------------------------------------------------------------------------------------

void validate(const LayerSettings& s, index_t in, index_t out, std::string_view layer_name) {
  const std::string where(layer_name);
  quant::validate(s.quant);
  require(in > 0 && out > 0, where, ": empty weight (", in, "×", out, ")");
  if (s.method == Method::WeightOnly) return;
  require(s.rank >= 1, "--rank must be at least 1 for method ", to_string(s.method), ", got ", s.rank);
  require(s.rank < std::min(in, out), "--rank ", s.rank, " must be smaller than min(in, out) = ", std::min(in, out),
          " of layer ", where, " (", in, "×", out, ")");
  require(s.iters >= 1, "--iters must be at least 1, got ", s.iters);
  require(s.mc_samples >= 1, "--mc-samples must be at least 1, got ", s.mc_samples);
  if (s.method == Method::Srr && s.k_rule == KRule::Fixed)
    require(s.k >= 0 && s.k <= s.rank, "--k must be in 0..rank (", s.rank, "), got ", s.k);
}

namespace {

template <class T>
void require_finite(const Matrix<T>& W, const std::string& where) {
  for (index_t j = 0; j < W.cols(); ++j)
    for (index_t i = 0; i < W.rows(); ++i)
      if (!std::isfinite(static_cast<double>(W(i, j))))
        throw InputError(where + ": weight has a non-finite value (" + std::to_string(static_cast<double>(W(i, j))) +
                         ") at input " + std::to_string(i) + ", output " + std::to_string(j));
}

/// A − B, elementwise.
template <class T>
Matrix<T> minus(const Matrix<T>& A, const Matrix<T>& B) {
  Matrix<T> C = A;
  for (index_t i = 0; i < C.size(); ++i) C.data()[i] -= B.data()[i];
  return C;
}

/// A − L·R (L: m×k, R: k×n); A itself when k = 0.
template <class T>
Matrix<T> minus_product(const Matrix<T>& A, const Matrix<T>& L, const Matrix<T>& R) {
  Matrix<T> C = A;
  if (L.cols() > 0) la::gemm(Op::N, Op::N, T(-1), L, R, T(1), C);
  return C;
}

/// Factors of S⁻¹·SVD(part): L = S⁻¹U (in float64, method.md §4.5c) and R = Σ·Vᵀ, for the chosen
/// columns. With `sqrt_split` (LoftQ) Σ is split as √Σ on both sides instead.
template <class T>
void low_rank_factors(const Scale& S, const TruncatedSvd<T>& svd, const std::vector<index_t>& cols,
                      bool sqrt_split, Matrix<T>& L, Matrix<T>& R) {
  const index_t m = svd.U.rows(), n = svd.Vt.cols(), k = static_cast<index_t>(cols.size());
  Matrix<double> U(m, k);
  R = Matrix<T>(k, n);
  for (index_t c = 0; c < k; ++c) {
    const index_t src = cols[static_cast<std::size_t>(c)];
    const double sigma = svd.s[static_cast<std::size_t>(src)];
    const double left = sqrt_split ? std::sqrt(sigma) : 1.0, right = sqrt_split ? std::sqrt(sigma) : sigma;
    for (index_t i = 0; i < m; ++i) U(i, c) = static_cast<double>(svd.U(i, src)) * left;
    for (index_t j = 0; j < n; ++j) R(c, j) = static_cast<T>(right * static_cast<double>(svd.Vt(src, j)));
  }
  S.apply_inverse(U);
  L = U.cast<T>();
}

std::vector<index_t> first_indices(index_t k) {
  std::vector<index_t> v(static_cast<std::size_t>(k));
  std::iota(v.begin(), v.end(), index_t{0});
  return v;
}

/// Σ_ij R_ij (XXᵀ)_ij = tr(XᵀRX), via one syrk (half the flops of forming R·X).
template <class T>
double quadratic_trace(const Matrix<double>& Rxx, const Matrix<T>& X) {
  const index_t m = X.rows();
  Matrix<T> G(m, m);
  la::syrk(la::Uplo::Lower, Op::N, T(1), X, T(0), G);
  double sum = 0;
  for (index_t j = 0; j < m; ++j) {
    sum += Rxx(j, j) * static_cast<double>(G(j, j));
    for (index_t i = j + 1; i < m; ++i) sum += 2.0 * Rxx(i, j) * static_cast<double>(G(i, j));
  }
  return sum;
}

/// Uniform i.i.d. probe G (m×N) with variance 1/N, as the released code draws it (method.md §5.3).
template <class T>
Matrix<T> uniform_probe(index_t m, index_t N, Rng& rng) {
  const double a = std::sqrt(12.0 / static_cast<double>(N));
  Matrix<T> G(m, N);
  for (auto& v : G.values()) v = static_cast<T>(a * (rng.uniform() - 0.5));
  return G;
}

/// State shared by every candidate k of one layer.
template <class T>
struct Context {
  const Matrix<T>& W;
  const Scale& S;
  const LayerSettings& settings;
  const SvdEngine& engine;
  std::string name;
  Matrix<T> SW;
  double sw2 = 0;
  TruncatedSvd<T> sw_svd;
};

/// Quantize-and-reconstruct for one preserved set H (§5.2–§5.4). Fills codes, Q, L, R, and SE = S·(W − Q)
/// of the final Q, from which the metrics get S·Δ without another dense product by S.
template <class T>
void reconstruct(const Context<T>& ctx, const std::vector<index_t>& H, LayerResult<T>& out, Matrix<T>& SE) {
  const auto& s = ctx.settings;
  const bool sqrt_split = s.method == Method::Loftq;
  Matrix<T> L, R;  // current low-rank term; starts as the preserved part (empty for QER/LoftQ)
  if (!H.empty()) low_rank_factors(ctx.S, ctx.sw_svd, H, false, L, R);
  for (int it = 0; it < s.iters; ++it) {
    Stopwatch q_time;
    const Matrix<float> target = minus_product(ctx.W, L, R).template cast<float>();
    out.codes = quant::encode(target, s.quant);
    out.Q = quant::decode(out.codes).template cast<T>();
    out.seconds.add(Stage::Quantize, q_time.seconds());

    Stopwatch se_time;
    SE = ctx.S.times(minus(ctx.W, out.Q));
    out.seconds.add(Stage::ScaleResidual, se_time.seconds());

    Stopwatch r_time;
    const bool split = s.recon == Recon::Split && it == 0 && !H.empty();
    // Split (§5.2): keep the preserved factors and fit the remaining r − k ranks to S·E − (S·L)·R.
    const index_t fit_rank = split ? s.rank - static_cast<index_t>(H.size()) : s.rank;
    Rng rng(s.seed, ctx.name, "recon-sketch-" + std::to_string(it));
    const auto svd = split ? ctx.engine.top(minus_product(SE, ctx.S.times(L), R), fit_rank, true, Spectrum::Flat, rng)
                           : ctx.engine.top(SE, fit_rank, true, Spectrum::Flat, rng);
    Matrix<T> L2, R2;
    low_rank_factors(ctx.S, svd, first_indices(fit_rank), sqrt_split, L2, R2);
    if (split) {
      Matrix<T> Lc(L.rows(), L.cols() + L2.cols()), Rc(R.rows() + R2.rows(), R2.cols());
      std::copy(L.data(), L.data() + L.size(), Lc.data());
      std::copy(L2.data(), L2.data() + L2.size(), Lc.data() + L.size());
      for (index_t j = 0; j < Rc.cols(); ++j) {
        for (index_t i = 0; i < R.rows(); ++i) Rc(i, j) = R(i, j);
        for (index_t i = 0; i < R2.rows(); ++i) Rc(R.rows() + i, j) = R2(i, j);
      }
      L = std::move(Lc);
      R = std::move(Rc);
    } else {
      L = std::move(L2);
      R = std::move(R2);
    }
    out.seconds.add(Stage::ReconSvd, r_time.seconds());
  }
  out.L = std::move(L);
  out.R = std::move(R);
}

/// ‖S(W − Q − LR)‖_F / ‖SW‖_F from SE = S(W − Q): S·Δ = SE − (S·L)·R costs an m×m×r product, not m×m×n.
template <class T>
double scaled_error(const Context<T>& ctx, const LayerResult<T>& res, const Matrix<T>& SE) {
  if (res.L.cols() == 0) return std::sqrt(la::frobenius2(SE) / ctx.sw2);
  return std::sqrt(la::frobenius2(minus_product(SE, ctx.S.times(res.L), res.R)) / ctx.sw2);
}

/// ρ̂(q), q = 0..r, averaged over probes; also returns the first probe's top singular values.
template <class T>
std::vector<double> probe_tail_ratios(const Context<T>& ctx, std::vector<double>& first_sigma) {
  const auto& s = ctx.settings;
  const index_t m = ctx.W.rows(), r = s.rank;
  const index_t N = s.probe == ProbeShape::Square ? m : ctx.W.cols();
  std::vector<double> rho(static_cast<std::size_t>(r + 1), 0.0);
  for (int sample = 0; sample < s.mc_samples; ++sample) {
    Rng probe_rng(s.seed, ctx.name, "probe-" + std::to_string(sample));
    Matrix<T> Y = uniform_probe<T>(m, N, probe_rng);
    ctx.S.apply(Y);
    const double y2 = la::frobenius2(Y);
    Rng sketch_rng(s.seed, ctx.name, "probe-sketch-" + std::to_string(sample));
    const auto tau = ctx.engine.top(Y, r, false, Spectrum::Flat, sketch_rng).s;
    if (sample == 0) first_sigma = tau;
    double captured = 0;
    rho[0] += 1.0;
    for (index_t q = 1; q <= r; ++q) {
      captured += tau[static_cast<std::size_t>(q - 1)] * tau[static_cast<std::size_t>(q - 1)];
      rho[static_cast<std::size_t>(q)] += std::clamp(1.0 - captured / y2, 0.0, 1.0);
    }
  }
  for (double& v : rho) v /= s.mc_samples;
  return rho;
}

/// Poster "adaptive" rule (method.md §5.5b): H = [r] ∩ Top-r(σ_i·‖S⁻¹u_i‖) over the computed directions of SW
/// (all of them with the full SVD).
template <class T>
std::vector<index_t> adaptive_set(const Context<T>& ctx) {
  const index_t r = ctx.settings.rank, avail = static_cast<index_t>(ctx.sw_svd.s.size());
  Matrix<double> U = ctx.sw_svd.U.template cast<double>();
  ctx.S.apply_inverse(U);
  std::vector<std::pair<double, index_t>> score(static_cast<std::size_t>(avail));
  for (index_t i = 0; i < avail; ++i)
    score[static_cast<std::size_t>(i)] = {
        -ctx.sw_svd.s[static_cast<std::size_t>(i)] * std::sqrt(la::frobenius2(U.col(i), U.rows())), i};
  std::stable_sort(score.begin(), score.end());  // descending score, ties by index
  std::vector<index_t> H;
  for (index_t t = 0; t < std::min(r, avail); ++t)
    if (score[static_cast<std::size_t>(t)].second < r) H.push_back(score[static_cast<std::size_t>(t)].second);
  std::sort(H.begin(), H.end());
  return H;
}

/// Chooses the preserved set H (and k* = |H|) by the settings' rule. Oracle is handled by the caller.
template <class T>
std::vector<index_t> choose_preserved(const Context<T>& ctx, LayerResult<T>& out) {
  const auto& s = ctx.settings;
  const index_t r = s.rank;
  switch (s.k_rule) {
    case KRule::Fixed: return first_indices(s.k);
    case KRule::Naive: return first_indices(r);
    case KRule::Energy: {
      double top = 0;
      for (index_t i = 0; i < r; ++i) top += ctx.sw_svd.s[static_cast<std::size_t>(i)] * ctx.sw_svd.s[static_cast<std::size_t>(i)];
      const auto k = static_cast<index_t>(std::floor(static_cast<double>(r) * top / ctx.sw2));
      return first_indices(std::min(r, k));
    }
    case KRule::Adaptive: return adaptive_set(ctx);
    case KRule::Criterion: {
      const auto rho = probe_tail_ratios(ctx, out.probe_singular_values);
      return first_indices(criterion_argmin(ctx.sw_svd.s, ctx.sw2, rho, r, &out.objective));
    }
    case KRule::Oracle: break;
  }
  SRR_ASSERT(false);
  return {};
}

}  // namespace

index_t criterion_argmin(const std::vector<double>& sw_sigma, double sw_frobenius2, const std::vector<double>& rho_hat,
                         index_t r, std::vector<double>* objective) {
  SRR_ASSERT(static_cast<index_t>(sw_sigma.size()) >= r && static_cast<index_t>(rho_hat.size()) == r + 1);
  std::vector<double> obj(static_cast<std::size_t>(r + 1));
  double preserved = 0;
  index_t best = 0;
  for (index_t k = 0; k <= r; ++k) {
    if (k > 0) preserved += sw_sigma[static_cast<std::size_t>(k - 1)] * sw_sigma[static_cast<std::size_t>(k - 1)];
    const double alpha2 = std::max(sw_frobenius2 - preserved, 0.0);
    obj[static_cast<std::size_t>(k)] = alpha2 * rho_hat[static_cast<std::size_t>(r - k)];
    if (obj[static_cast<std::size_t>(k)] < obj[static_cast<std::size_t>(best)]) best = k;  // ties keep the smallest k
  }
  if (objective) *objective = std::move(obj);
  return best;
}

template <class T>
LayerResult<T> decompose_layer(const Matrix<T>& W, const Scale& S, const LayerSettings& settings_in,
                               std::string_view layer_name, const SvdEngine& engine, const Matrix<double>* rxx) {
  Stopwatch total;
  const std::string name(layer_name);
  validate(settings_in, W.rows(), W.cols(), name);
  require(S.dim() == W.rows(), name, ": the scale has dimension ", S.dim(), " but the layer has ", W.rows(),
          " inputs");
  if (rxx) require(rxx->rows() == W.rows() && rxx->cols() == W.rows(), name, ": R_xx is ", rxx->rows(), "×",
                   rxx->cols(), ", expected ", W.rows(), "×", W.rows());
  require_finite(W, name);

  LayerSettings settings = settings_in;
  const Scale identity = Scale::identity(W.rows());
  const Scale& scale = settings.method == Method::Loftq ? identity : S;  // LoftQ is unscaled by definition
  if (settings.method != Method::Srr) settings.k_rule = KRule::Fixed, settings.k = 0;

  Context<T> ctx{W, scale, settings, engine, name, scale.times(W), 0.0, {}};
  ctx.sw2 = la::frobenius2(ctx.SW);
  require(ctx.sw2 > 0, name, ": the scaled weight S·W is zero");

  LayerResult<T> out;
  out.sw_frobenius2 = ctx.sw2;
  Matrix<T> SE;  // S·(W − Q) of the result's Q
  if (settings.method == Method::WeightOnly) {
    out.codes = quant::encode(W.template cast<float>(), settings.quant);
    out.Q = quant::decode(out.codes).template cast<T>();
    out.L = Matrix<T>(W.rows(), 0);
    out.R = Matrix<T>(0, W.cols());
    SE = scale.times(minus(W, out.Q));
  } else {
    // SRR needs SW's top spectrum; QER and LoftQ only report it, so they compute it on request
    // (--diagnostics full). The adaptive rule ranks directions beyond the first r as well (method.md §5.5b
    // scores all of them): with the full SVD every direction is scored; a direction further down can matter
    // under QERA-exact, where S⁻¹ amplifies exactly the low-activation directions, whose σ is small. The
    // truncated SVD scores the top 2r it computes, and the result records how many were scored.
    if (settings.method == Method::Srr || settings.diagnostics == Diagnostics::Full) {
      Stopwatch svd_time;
      const index_t want = settings.k_rule != KRule::Adaptive      ? settings.rank
                           : engine.settings().method == SvdMethod::Full ? std::min(W.rows(), W.cols())
                                                                         : std::min(std::min(W.rows(), W.cols()),
                                                                                    2 * settings.rank);
      Rng rng(settings.seed, name, "sw-sketch");
      // Trained weights carry most of their energy in a slowly decaying bulk, so S·W is treated as flat
      // too: plain power iterations left a 1.5e-3 relative error there, block Krylov 2e-5 (docs/svd.md).
      ctx.sw_svd = engine.top(ctx.SW, want, settings.method == Method::Srr, Spectrum::Flat, rng);
      out.sw_singular_values.assign(ctx.sw_svd.s.begin(), ctx.sw_svd.s.begin() + settings.rank);
      if (settings.k_rule == KRule::Adaptive) out.scored_directions = static_cast<index_t>(ctx.sw_svd.s.size());
      out.seconds.set(Stage::SwSvd, svd_time.seconds());
    }

    Stopwatch k_time;
    if (settings.k_rule == KRule::Oracle) {
      double best = std::numeric_limits<double>::infinity();
      for (index_t k = 0; k <= settings.rank; ++k) {
        LayerResult<T> trial;
        Matrix<T> trial_SE;
        reconstruct(ctx, first_indices(k), trial, trial_SE);
        const double e = scaled_error(ctx, trial, trial_SE);
        out.oracle_errors.push_back(e);
        if (e < best) {  // ties keep the smallest k
          best = e;
          SE = std::move(trial_SE);
          out.codes = std::move(trial.codes);
          out.Q = std::move(trial.Q);
          out.L = std::move(trial.L);
          out.R = std::move(trial.R);
          out.preserved = first_indices(k);
        }
      }
    } else {
      out.preserved = choose_preserved(ctx, out);
    }
    out.seconds.set(Stage::KSelect, k_time.seconds());
    if (settings.k_rule != KRule::Oracle) reconstruct(ctx, out.preserved, out, SE);
  }
  out.k_star = static_cast<index_t>(out.preserved.size());

  Stopwatch metric_time;
  out.rel_error_scaled = scaled_error(ctx, out, SE);
  std::optional<Matrix<T>> delta;  // W − Q − L·R, formed only when a metric needs it
  const auto residual = [&]() -> const Matrix<T>& {
    if (!delta) delta = minus_product(minus(W, out.Q), out.L, out.R);
    return *delta;
  };
  // With S = I the scaled error is the plain one, computed by the same operations: the same bits.
  out.rel_error = scale.form() == Scale::Form::Identity ? out.rel_error_scaled
                                                         : std::sqrt(la::frobenius2(residual()) / la::frobenius2(W));
  // With SᵀS = R_xx + δI, tr(ΔᵀR_xxΔ) = ‖SΔ‖² − δ‖Δ‖² and tr(WᵀR_xxW) = ‖SW‖² − δ‖W‖²: all known already.
  if (rxx && scale.exact_root() && &scale == &S && settings.diagnostics == Diagnostics::Basic) {
    const double d = scale.root_shift(), es2 = out.rel_error_scaled * out.rel_error_scaled;
    if (d == 0) {
      out.rel_error_act = es2;
    } else {
      const double w2 = la::frobenius2(W);
      out.rel_error_act = (es2 * ctx.sw2 - d * out.rel_error * out.rel_error * w2) / (ctx.sw2 - d * w2);
    }
  } else if (rxx) {
    out.rel_error_act = quadratic_trace(*rxx, residual()) / quadratic_trace(*rxx, W);
  }
  out.seconds.set(Stage::Metrics, metric_time.seconds());
  out.seconds.set(Stage::Total, total.seconds());
  return out;
}

template LayerResult<float> decompose_layer<float>(const Matrix<float>&, const Scale&, const LayerSettings&,
                                                   std::string_view, const SvdEngine&, const Matrix<double>*);
template LayerResult<double> decompose_layer<double>(const Matrix<double>&, const Scale&, const LayerSettings&,
                                                     std::string_view, const SvdEngine&, const Matrix<double>*);

}  // namespace srr::qer
