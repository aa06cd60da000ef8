// SPDX-License-Identifier: MIT
// QER and SRR on one matrix: mathematical properties as oracles (method.md §2, §5, §6).
#include <gtest/gtest.h>

#include "helpers.hpp"
#include "qer/layer.hpp"

using namespace srr;
using namespace srr::qer;
using namespace srr::qer::test;

namespace {

const LocalSvdEngine full_engine({.method = SvdMethod::Full});
const LocalSvdEngine rand_engine({.method = SvdMethod::Randomized});

Matrix<double> weight(index_t m = 96, index_t n = 64, std::uint64_t seed = 1, double decay = 1.0) {
  return synthetic_weight({.in = m, .out = n, .decay = decay, .seed = seed}).cast<double>();
}
InputStatistics stats(index_t m = 96, std::uint64_t seed = 2) {
  return synthetic_statistics({.dim = m, .tokens = 8 * m, .window = 64, .seed = seed});
}
LayerSettings settings(Method method, index_t rank = 8) {
  LayerSettings s;
  s.method = method;
  s.rank = rank;
  s.quant = {quant::Scheme::Mxint, 3, 32};
  return s;
}
template <class T>
Matrix<T> approx(const LayerResult<T>& r) {
  Matrix<T> A = r.Q;
  if (r.L.cols() > 0) la::gemm(la::Op::N, la::Op::N, T(1), r.L, r.R, T(1), A);
  return A;
}

}  // namespace

TEST(Qer, IdentityScaleIsTheTruncatedSvdOfTheResidual) {
  const auto W = weight();
  const index_t r = 8;
  const auto res = decompose_layer(W, Scale::identity(96), settings(Method::Qer, r), "l", full_engine);
  // Independent: quantize W, SVD of the residual with LAPACK.
  const Matrix<double> Q = quant::quantize(W, {quant::Scheme::Mxint, 3, 32});
  EXPECT_EQ(rel_diff(res.Q, Q), 0.0);
  Matrix<double> E = W;
  for (index_t i = 0; i < E.size(); ++i) E.data()[i] -= Q.data()[i];
  const auto svd = la::gesdd(E);
  double tail = 0;
  for (std::size_t i = r; i < svd.s.size(); ++i) tail += svd.s[i] * svd.s[i];
  EXPECT_NEAR(res.rel_error * res.rel_error * la::frobenius2(W), tail, 1e-10 * tail);
  Matrix<double> US = svd.U.columns(0, r);
  for (index_t j = 0; j < r; ++j)
    for (index_t i = 0; i < US.rows(); ++i) US(i, j) *= svd.s[j];
  EXPECT_LT(rel_diff(product(res.L, res.R), la::matmul(US, svd.Vt.row_block(0, r))), 1e-10);
  EXPECT_EQ(res.k_star, 0);
}

TEST(Qer, BeatsRandomAndPerturbedRankRCompetitors) {  // Eckart–Young
  // Competitors of rank ≤ 6 near the optimum: the LAPACK truncated SVD of the residual E = W − Q with both
  // factors perturbed (so a method returning L = R = 0, whose error is all of ‖E‖², loses to every one of
  // them), and the returned factors themselves perturbed.
  const auto W = weight(80, 70, 3);
  const index_t r = 6;
  const auto res = decompose_layer(W, Scale::identity(80), settings(Method::Qer, r), "l", full_engine);
  Matrix<double> E = W;
  for (index_t i = 0; i < E.size(); ++i) E.data()[i] -= res.Q.data()[i];
  const auto residual = [&](const Matrix<double>& C) {
    Matrix<double> D = E;
    for (index_t i = 0; i < D.size(); ++i) D.data()[i] -= C.data()[i];
    return la::frobenius2(D);
  };
  const auto svd = la::gesdd(E);
  Matrix<double> US = svd.U.columns(0, r);
  for (index_t j = 0; j < r; ++j)
    for (index_t i = 0; i < US.rows(); ++i) US(i, j) *= svd.s[static_cast<std::size_t>(j)];
  const Matrix<double> Vt = svd.Vt.row_block(0, r);
  const double ours = residual(product(res.L, res.R));
  for (std::uint64_t t = 0; t < 20; ++t) {
    Matrix<double> A = US, B = Vt;
    const auto dA = gaussian(80, r, 100 + t), dB = gaussian(r, 70, 200 + t);
    for (index_t i = 0; i < A.size(); ++i) A.data()[i] += 1e-2 * svd.s[0] * dA.data()[i] / std::sqrt(80.0);
    for (index_t i = 0; i < B.size(); ++i) B.data()[i] += 1e-2 * dB.data()[i] / std::sqrt(70.0);
    EXPECT_LT(ours, residual(la::matmul(A, B)));
    Matrix<double> L = res.L, R = res.R;
    const auto dL = gaussian(80, r, 300 + t), dR = gaussian(r, 70, 400 + t);
    for (index_t i = 0; i < L.size(); ++i) L.data()[i] += 1e-3 * dL.data()[i];
    for (index_t i = 0; i < R.size(); ++i) R.data()[i] += 1e-3 * dR.data()[i];
    EXPECT_LT(ours, residual(product(L, R)));
  }
}

TEST(Srr, FixedKZeroIsExactlyQer) {
  const auto W = weight();
  const Scale S = build_scale(stats(), {.kind = ScaleKind::QeraExact}, "l");
  auto s = settings(Method::Srr);
  s.k_rule = KRule::Fixed;
  s.k = 0;
  for (const SvdEngine* engine : {static_cast<const SvdEngine*>(&full_engine), static_cast<const SvdEngine*>(&rand_engine)}) {
    const auto a = decompose_layer(W, S, s, "l", *engine);
    const auto b = decompose_layer(W, S, settings(Method::Qer), "l", *engine);
    EXPECT_EQ(rel_diff(a.Q, b.Q), 0.0);
    EXPECT_EQ(rel_diff(a.L, b.L), 0.0);
    EXPECT_EQ(rel_diff(a.R, b.R), 0.0);
    EXPECT_EQ(a.rel_error_scaled, b.rel_error_scaled);
  }
}

TEST(Srr, InvariantUnderOrthogonalFactorAndChoiceOfRoot) {
  const auto W = weight();
  const auto st = stats();
  const Scale sym = build_scale(st, {.kind = ScaleKind::QeraExact, .exact_impl = ExactImpl::Eigh, .eig_floor = 0}, "l");
  const Scale chol = build_scale(
      st, {.kind = ScaleKind::QeraExact, .exact_impl = ExactImpl::CholeskyShrink, .shrinkage = false}, "l");
  const Scale root = build_scale(st, {.kind = ScaleKind::QeraExact}, "l");  // the default Cholesky root
  ASSERT_EQ(root.form(), Scale::Form::Upper);
  const Scale rotated = Scale::general(la::matmul(random_orthogonal(96, 9), sym.dense()));
  for (KRule rule : {KRule::Criterion, KRule::Fixed}) {
    auto s = settings(Method::Srr);
    s.k_rule = rule;
    s.k = 3;
    const auto a = decompose_layer(W, sym, s, "l", full_engine);
    for (const Scale* other : {&chol, &root, &rotated}) {
      const auto b = decompose_layer(W, *other, s, "l", full_engine);
      EXPECT_EQ(a.k_star, b.k_star);
      EXPECT_NEAR(a.rel_error_scaled, b.rel_error_scaled, 1e-8 * a.rel_error_scaled);
      EXPECT_NEAR(a.rel_error, b.rel_error, 1e-8 * a.rel_error);
      EXPECT_LT(rel_diff(approx(b), approx(a)), 1e-8);
      for (std::size_t i = 0; i < a.sw_singular_values.size(); ++i)
        EXPECT_NEAR(a.sw_singular_values[i], b.sw_singular_values[i], 1e-10 * a.sw_singular_values[0]);
      for (std::size_t i = 0; i < a.probe_singular_values.size(); ++i)
        EXPECT_NEAR(a.probe_singular_values[i], b.probe_singular_values[i], 1e-10 * a.probe_singular_values[0]);
    }
  }
}

/// ‖P‖_R² = tr(PᵀR_xxP), the activation-weighted norm of store.group.agrees_with_g1.
double act_norm2(const Matrix<double>& R, const Matrix<double>& P) {
  const auto RP = la::matmul(R, P);
  double t = 0;
  for (index_t i = 0; i < P.size(); ++i) t += P.data()[i] * RP.data()[i];
  return t;
}

TEST(Srr, CholeskyRootGivesTheResultsOfTheSymmetricRoot) {
  // The production path (randomized SVD, float64): same k*, same codes, L·R equal in the activation
  // norm to rounding, for QER and SRR with every k rule that depends on the scale's spectrum. Rounding
  // here is ~1e-8, not ε: the flat-spectrum SVD of the residual amplifies it by 1/gap (the local engine's
  // own result moves by 1.8e-8 between 1 and 2 OpenBLAS threads, tests/store/CMakeLists.txt); a wrong
  // root would be off by O(1).
  for (std::uint64_t seed : {1, 3}) {
    const auto W = weight(128, 96, seed);
    const auto st = stats(128, seed + 20);
    const auto R = st.rxx();
    const Scale eigh = build_scale(st, {.kind = ScaleKind::QeraExact, .exact_impl = ExactImpl::Eigh}, "l");
    const Scale chol = build_scale(st, {.kind = ScaleKind::QeraExact}, "l");
    ASSERT_EQ(eigh.report().floored, 0);
    ASSERT_EQ(chol.report().ridge, 0.0);
    for (Method method : {Method::Qer, Method::Srr})
      for (KRule rule : {KRule::Criterion, KRule::Adaptive, KRule::Oracle}) {
        if (method == Method::Qer && rule != KRule::Criterion) continue;
        auto s = settings(method, 12);
        s.k_rule = rule;
        const auto a = decompose_layer(W, eigh, s, "l", rand_engine, &R);
        const auto b = decompose_layer(W, chol, s, "l", rand_engine, &R);
        const std::string what = to_string(method) + " " + to_string(rule) + " seed " + std::to_string(seed);
        EXPECT_EQ(a.k_star, b.k_star) << what;
        EXPECT_EQ(a.preserved, b.preserved) << what;
        EXPECT_EQ(a.codes.codes, b.codes.codes) << what;
        Matrix<double> d = product(a.L, a.R);
        const Matrix<double> pb = product(b.L, b.R);
        for (index_t i = 0; i < d.size(); ++i) d.data()[i] -= pb.data()[i];
        EXPECT_LT(std::sqrt(act_norm2(R, d) / act_norm2(R, pb)), 1e-7) << what;
        EXPECT_NEAR(a.rel_error_act, b.rel_error_act, 1e-9 * a.rel_error_act) << what;
        EXPECT_NEAR(a.rel_error_scaled, b.rel_error_scaled, 1e-9 * a.rel_error_scaled) << what;
      }
  }
}

TEST(Layer, BasicDiagnosticsSkipWhatOnlyFullReports) {
  const auto W = weight();
  const auto st = stats();
  const auto R = st.rxx();
  const Scale S = build_scale(st, {.kind = ScaleKind::QeraExact}, "l");
  ASSERT_TRUE(S.exact_root());
  for (Method method : {Method::Qer, Method::Srr}) {
    auto s = settings(method);
    const auto basic = decompose_layer(W, S, s, "l", rand_engine, &R);
    s.diagnostics = Diagnostics::Full;
    const auto full = decompose_layer(W, S, s, "l", rand_engine, &R);
    // Same decomposition; the activation-aware error from the identity equals the explicit quadratic form.
    EXPECT_EQ(basic.k_star, full.k_star);
    EXPECT_EQ(rel_diff(basic.L, full.L), 0.0);
    EXPECT_EQ(basic.rel_error_scaled, full.rel_error_scaled);
    EXPECT_NEAR(basic.rel_error_act, full.rel_error_act, 1e-10 * full.rel_error_act);
    EXPECT_NEAR(basic.rel_error_act, basic.rel_error_scaled * basic.rel_error_scaled, 1e-15);
    EXPECT_EQ(full.sw_singular_values.size(), 8u);
    EXPECT_EQ(basic.sw_singular_values.size(), method == Method::Srr ? 8u : 0u);
    EXPECT_EQ(basic.seconds.measured(Stage::SwSvd), method == Method::Srr);
  }
  // A ridged Cholesky root (rank-deficient R_xx: 40 tokens in 96 dimensions) is a root of R_xx + δI:
  // the identity with the shift gives the quadratic form's value.
  const auto thin = synthetic_statistics({.dim = 96, .tokens = 40, .window = 20, .seed = 5});
  const auto Rt = thin.rxx();
  const Scale ridged = build_scale(thin, {.kind = ScaleKind::QeraExact}, "l");
  ASSERT_GT(ridged.root_shift(), 0.0);
  for (Method method : {Method::Qer, Method::Srr}) {
    auto s = settings(method);
    const auto basic = decompose_layer(W, ridged, s, "l", rand_engine, &Rt);
    s.diagnostics = Diagnostics::Full;
    const auto full = decompose_layer(W, ridged, s, "l", rand_engine, &Rt);
    EXPECT_NEAR(basic.rel_error_act, full.rel_error_act, 1e-8 * full.rel_error_act) << to_string(method);
    EXPECT_GT(std::fabs(basic.rel_error_act - basic.rel_error_scaled * basic.rel_error_scaled),
              1e-6 * basic.rel_error_act);  // the shift matters here
  }
  // Without an exact root (a floored scale) the quadratic form is used whatever the level.
  const Scale D = build_scale(st, {.kind = ScaleKind::QeraApprox}, "l");
  const auto d = decompose_layer(W, D, settings(Method::Qer), "l", rand_engine, &R);
  EXPECT_GT(std::fabs(d.rel_error_act - d.rel_error_scaled * d.rel_error_scaled), 1e-6 * d.rel_error_act);
  EXPECT_EQ(diagnostics_from_string(to_string(Diagnostics::Full)), Diagnostics::Full);
  EXPECT_THROW(diagnostics_from_string("all"), InputError);
}

TEST(Srr, JointRefitIsNeverWorseThanSplit) {
  for (std::uint64_t seed : {1, 2, 3})
    for (auto kind : {ScaleKind::Identity, ScaleKind::QeraApprox, ScaleKind::QeraExact}) {
      const auto W = weight(96, 64, seed);
      const Scale S = build_scale(stats(96, seed + 10), {.kind = kind}, "l");
      for (index_t k : {1, 4, 8}) {
        auto s = settings(Method::Srr);
        s.k_rule = KRule::Fixed;
        s.k = k;
        s.recon = Recon::Joint;
        const auto joint = decompose_layer(W, S, s, "l", full_engine);
        s.recon = Recon::Split;
        const auto split = decompose_layer(W, S, s, "l", full_engine);
        EXPECT_LE(joint.rel_error_scaled, split.rel_error_scaled * (1 + 1e-12)) << to_string(kind) << " k " << k;
        EXPECT_EQ(split.L.cols(), 8);
      }
    }
}

TEST(Srr, CriterionMatchesAnIndependentComputation) {
  const auto W = weight();
  const Scale S = build_scale(stats(), {.kind = ScaleKind::QeraApprox}, "layer.x");
  auto s = settings(Method::Srr, 12);
  const auto res = decompose_layer(W, S, s, "layer.x", full_engine);
  // Rebuild the probe from the documented stream and recompute everything with gesdd.
  Rng rng(s.seed, "layer.x", "probe-0");
  const double a = std::sqrt(12.0 / 96);
  Matrix<double> G(96, 96);
  for (auto& v : G.values()) v = a * (rng.uniform() - 0.5);
  const auto Y = S.times(G);
  const auto tau = la::gesdd(Y, false).s;
  const auto sigma = la::gesdd(S.times(W), false).s;
  double y2 = 0, w2 = 0;
  for (double t : tau) y2 += t * t;
  for (double t : sigma) w2 += t * t;
  std::vector<double> obj;
  for (index_t k = 0; k <= 12; ++k) {
    double kept = 0, captured = 0;
    for (index_t i = 0; i < k; ++i) kept += sigma[i] * sigma[i];
    for (index_t i = 0; i < 12 - k; ++i) captured += tau[i] * tau[i];
    obj.push_back(std::max(w2 - kept, 0.0) * std::clamp(1 - captured / y2, 0.0, 1.0));
  }
  ASSERT_EQ(res.objective.size(), obj.size());
  for (std::size_t k = 0; k < obj.size(); ++k) EXPECT_NEAR(res.objective[k], obj[k], 1e-10 * obj[0]);
  const auto kstar = std::min_element(obj.begin(), obj.end()) - obj.begin();
  EXPECT_EQ(res.k_star, kstar);
  EXPECT_GT(res.k_star, 0);  // anisotropic SW: preserving something pays
}

TEST(Srr, CriterionTiesGoToTheSmallestK) {
  // Flat objective: all σ zero beyond nothing, ρ̂ constant → every k ties.
  const std::vector<double> sigma(4, 0.0), rho(5, 0.5);
  std::vector<double> obj;
  EXPECT_EQ(criterion_argmin(sigma, 1.0, rho, 4, &obj), 0);
  EXPECT_EQ(obj.size(), 5u);
  // A later equal minimum does not replace an earlier one.
  const std::vector<double> s2 = {1.0, 0.0, 0.0};
  EXPECT_EQ(criterion_argmin(s2, 2.0, {1.0, 1.0, 1.0, 1.0}, 3), 1);
}

TEST(Srr, OracleIsTheBestOfEveryK) {
  const auto W = weight(64, 64, 5);
  const Scale S = build_scale(stats(64, 6), {.kind = ScaleKind::QeraExact}, "l");
  auto s = settings(Method::Srr, 6);
  s.k_rule = KRule::Oracle;
  const auto oracle = decompose_layer(W, S, s, "l", full_engine);
  ASSERT_EQ(oracle.oracle_errors.size(), 7u);
  const double min_err = *std::min_element(oracle.oracle_errors.begin(), oracle.oracle_errors.end());
  EXPECT_DOUBLE_EQ(oracle.rel_error_scaled, min_err);
  EXPECT_DOUBLE_EQ(oracle.oracle_errors[static_cast<std::size_t>(oracle.k_star)], min_err);
  s.k_rule = KRule::Criterion;
  EXPECT_LE(oracle.rel_error_scaled, decompose_layer(W, S, s, "l", full_engine).rel_error_scaled);
  EXPECT_LE(oracle.rel_error_scaled, decompose_layer(W, S, settings(Method::Qer, 6), "l", full_engine).rel_error_scaled);
}

TEST(Srr, PosterAndPreReleaseRules) {
  const auto W = weight();
  const Scale S = build_scale(stats(), {.kind = ScaleKind::Lqer}, "l");
  auto s = settings(Method::Srr, 8);
  s.k_rule = KRule::Naive;
  EXPECT_EQ(decompose_layer(W, S, s, "l", full_engine).k_star, 8);
  s.k_rule = KRule::Energy;
  const auto e = decompose_layer(W, S, s, "l", full_engine);
  double top = 0;
  for (double v : e.sw_singular_values) top += v * v;
  EXPECT_EQ(e.k_star, static_cast<index_t>(std::floor(8 * top / e.sw_frobenius2)));
  s.k_rule = KRule::Adaptive;
  const auto a = decompose_layer(W, S, s, "l", full_engine);
  EXPECT_LE(a.k_star, 8);
  for (index_t i : a.preserved) EXPECT_LT(i, 8);
  EXPECT_TRUE(std::is_sorted(a.preserved.begin(), a.preserved.end()));
}

TEST(Srr, ActivationErrorIsScaledErrorSquaredForTheExactRoot) {
  const auto W = weight();
  const auto st = stats();
  const Scale S = build_scale(st, {.kind = ScaleKind::QeraExact, .eig_floor = 0}, "l");
  const auto R = st.rxx();
  const auto res = decompose_layer(W, S, settings(Method::Srr), "l", full_engine, &R);
  EXPECT_NEAR(res.rel_error_act, res.rel_error_scaled * res.rel_error_scaled, 1e-9 * res.rel_error_act);
}

TEST(Srr, Float32AndFloat64Agree) {
  const auto W = weight(128, 96, 7);
  const Scale S = build_scale(stats(128, 8), {.kind = ScaleKind::QeraExact}, "l");
  for (Method m : {Method::Qer, Method::Srr}) {
    const auto d = decompose_layer(W, S, settings(m), "l", full_engine);
    const auto f = decompose_layer(W.cast<float>(), S, settings(m), "l", full_engine);
    EXPECT_EQ(d.k_star, f.k_star);
    EXPECT_NEAR(f.rel_error_scaled, d.rel_error_scaled, 1e-3 * d.rel_error_scaled);
    EXPECT_NEAR(f.rel_error, d.rel_error, 1e-3 * d.rel_error);
  }
}

TEST(Srr, RandomizedAndFullSvdAgree) {
  const auto W = weight(160, 128, 9);
  const Scale S = build_scale(stats(160, 10), {.kind = ScaleKind::QeraExact}, "l");
  for (Method m : {Method::Qer, Method::Srr}) {
    const auto f = decompose_layer(W, S, settings(m), "l", full_engine);
    const auto r = decompose_layer(W, S, settings(m), "l", rand_engine);
    EXPECT_EQ(f.k_star, r.k_star);
    EXPECT_NEAR(r.rel_error_scaled, f.rel_error_scaled, 1e-3 * f.rel_error_scaled);
    for (std::size_t i = 0; i < f.sw_singular_values.size(); ++i)
      EXPECT_NEAR(r.sw_singular_values[i], f.sw_singular_values[i], 1e-6 * f.sw_singular_values[0]);
  }
}

TEST(Srr, ResultDependsOnSeedAndNameOnlyNotOnOrder) {
  const auto W = weight();
  const Scale S = build_scale(stats(), {.kind = ScaleKind::QeraApprox}, "l");
  const auto a1 = decompose_layer(W, S, settings(Method::Srr), "model.layers.0.mlp.up_proj", rand_engine);
  (void)decompose_layer(W, S, settings(Method::Srr), "model.layers.1.mlp.up_proj", rand_engine);
  const auto a2 = decompose_layer(W, S, settings(Method::Srr), "model.layers.0.mlp.up_proj", rand_engine);
  EXPECT_EQ(rel_diff(a1.L, a2.L), 0.0);
  EXPECT_EQ(a1.objective, a2.objective);
  const auto b = decompose_layer(W, S, settings(Method::Srr), "model.layers.1.mlp.up_proj", rand_engine);
  EXPECT_NE(a1.probe_singular_values, b.probe_singular_values);  // a different layer draws a different probe
}

TEST(Iterations, EachStepRequantizesAndRefits) {
  const auto W = weight(64, 48, 11);
  auto s = settings(Method::Qer, 4);
  const auto one = decompose_layer(W, Scale::identity(64), s, "l", full_engine);
  s.iters = 2;
  const auto two = decompose_layer(W, Scale::identity(64), s, "l", full_engine);
  // Step 2 by hand: Q = 𝒬(W − L₁R₁), LR = SVD_r(W − Q).
  Matrix<double> target = W;
  la::gemm(la::Op::N, la::Op::N, -1.0, one.L, one.R, 1.0, target);
  const auto Q = quant::quantize(target, s.quant);
  EXPECT_EQ(rel_diff(two.Q, Q), 0.0);
  Matrix<double> E = W;
  for (index_t i = 0; i < E.size(); ++i) E.data()[i] -= Q.data()[i];
  const auto svd = la::gesdd(E);
  double tail = 0;
  for (std::size_t i = 4; i < svd.s.size(); ++i) tail += svd.s[i] * svd.s[i];
  EXPECT_NEAR(two.rel_error * two.rel_error * la::frobenius2(W), tail, 1e-10 * tail);
}

TEST(Loftq, IsUnscaledIterativeQerWithBalancedFactors) {
  const auto W = weight(64, 48, 12);
  const Scale S = build_scale(stats(64, 13), {.kind = ScaleKind::QeraApprox}, "l");
  auto s = settings(Method::Loftq, 4);
  s.iters = 5;
  const auto loftq = decompose_layer(W, S, s, "l", full_engine);  // S is ignored by LoftQ
  auto q = settings(Method::Qer, 4);
  q.iters = 5;
  const auto qer = decompose_layer(W, Scale::identity(64), q, "l", full_engine);
  EXPECT_LT(rel_diff(product(loftq.L, loftq.R), product(qer.L, qer.R)), 1e-10);
  for (index_t c = 0; c < 4; ++c) {
    double l2 = 0, r2 = 0;
    for (index_t i = 0; i < 64; ++i) l2 += loftq.L(i, c) * loftq.L(i, c);
    for (index_t j = 0; j < 48; ++j) r2 += loftq.R(c, j) * loftq.R(c, j);
    EXPECT_NEAR(l2, r2, 1e-10 * l2);  // √Σ on both sides
  }
}

TEST(WeightOnly, IsPlainQuantization) {
  const auto W = weight();
  const auto res = decompose_layer(W, Scale::identity(96), settings(Method::WeightOnly), "l", full_engine);
  EXPECT_EQ(res.L.cols(), 0);
  EXPECT_EQ(rel_diff(res.Q, quant::quantize(W, {quant::Scheme::Mxint, 3, 32})), 0.0);
}

TEST(BadInput, IsRefusedWithAClearMessage) {
  auto W = weight(64, 48);
  const Scale I = Scale::identity(64);
  const auto expect_error = [&](const Matrix<double>& w, const Scale& S, const LayerSettings& s, const char* needle) {
    try {
      decompose_layer(w, S, s, "model.layers.2.self_attn.o_proj", full_engine);
      ADD_FAILURE() << "expected InputError containing " << needle;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto s = settings(Method::Srr, 48);
  expect_error(W, I, s, "--rank");
  s = settings(Method::Srr, 0);
  expect_error(W, I, s, "--rank");
  s = settings(Method::Srr);
  s.quant.block = 0;
  expect_error(W, I, s, "--block");
  s = settings(Method::Srr);
  s.quant.width = 9;
  expect_error(W, I, s, "--bits");
  s = settings(Method::Srr);
  s.k_rule = KRule::Fixed;
  s.k = 9;
  expect_error(W, I, s, "--k");
  expect_error(W, Scale::identity(32), settings(Method::Srr), "scale");
  W(3, 5) = std::nan("");
  expect_error(W, I, settings(Method::Srr), "model.layers.2.self_attn.o_proj");
  W(3, 5) = std::numeric_limits<double>::infinity();
  expect_error(W, I, settings(Method::Srr), "non-finite");
}
