// SPDX-License-Identifier: MIT
#include "app/cli.hpp"

#include <fstream>
#include <iostream>

#include "base/error.hpp"
#include "pipeline/memory_plan.hpp"

namespace srr::app {

void add_common_options(po::options_description& desc) {
  desc.add_options()
      ("help,h", "print this help and exit")
      ("config", po::value<std::vector<std::string>>()->composing(),
       "INI file with option values (key = value, same names as the long options); may be repeated; "
       "command-line values win")
      ("log-level", po::value<std::string>()->default_value("info"), "trace|debug|info|warning|error")
      ("log-file", po::value<std::string>()->default_value(""), "also log to this file (%r = MPI rank)");
}

bool parse_command(int argc, char** argv, const po::options_description& desc, po::variables_map& vm,
                   const std::string& usage) {
  try {
    const auto parsed = po::command_line_parser(argc, argv).options(desc).run();
    // Without this, a stray value ("--rank 8 16") would be dropped silently.
    for (const auto& o : parsed.options)
      if (o.position_key >= 0)
        throw InputError("unexpected argument '" + (o.value.empty() ? std::string() : o.value.front()) +
                         "': every value belongs to an option (--name value)");
    po::store(parsed, vm);
    if (vm.count("help")) {
      std::cout << usage << "\n\n" << desc << "\n";
      return false;
    }
    if (vm.count("config"))
      for (const auto& file : vm["config"].as<std::vector<std::string>>()) {
        std::ifstream in(file);
        require(in.good(), "--config: cannot read '", file, "'");
        try {
          po::store(po::parse_config_file(in, desc, /*allow_unregistered=*/false), vm);
        } catch (const po::error& e) {
          throw InputError("--config " + file + ": " + e.what());
        }
      }
    po::notify(vm);
  } catch (const po::error& e) {
    throw InputError(std::string(e.what()) + " (see --help)");
  }
  return true;
}

void add_method_options(po::options_description& desc) {
  desc.add_options()
      ("method", po::value<std::string>()->default_value("srr"),
       "qer: Q = 𝒬(W), LR = S⁻¹SVD_r(S(W−Q)) (ZeroQuant-V2/LQER/QERA by --scale); srr: preserve k* directions "
       "of SW first (method.md §5); loftq: unscaled alternation with √Σ factors; w-only: Q only")
      ("scale", po::value<std::string>()->default_value("identity"),
       "identity (ZeroQuant-V2) | lqer (mean |x|) | qera-approx (sqrt E[x²]) | qera-exact (R_xx^{1/2})")
      ("qera-exact-impl", po::value<std::string>()->default_value("chol"),
       "chol: S = U, R_xx = UᵀU (Cholesky, ≈ m³/3 flops, triangular products; the same results as eigh, ≈ 9m³); "
       "eigh: float64 eigendecomposition, S = QΛ^{1/2}Qᵀ; chol-lw: Cholesky of a shrunk R_xx (final SRR code)")
      ("eig-floor", po::value<double>()->default_value(1e-10),
       "QERA-exact near-singular R_xx: eigh floors eigenvalues at this times λ_max; chol adds a ridge of this "
       "times ‖R_xx‖₁ when R_xx's reciprocal condition estimate is below it (0 = off)")
      ("diag-floor", po::value<double>()->default_value(1e-8),
       "diagonal scales: floor relative to the largest entry (dead channels)")
      ("quant", po::value<std::string>()->default_value("mxint"), "base quantizer: mxint | int (INT-g)")
      ("bits", po::value<int>()->default_value(3), "quantizer width w, 2..8")
      ("block", po::value<int>()->default_value(32), "MXINT block / INT-g group size along the input dimension")
      ("rank", po::value<long>()->default_value(32), "rank r of the correction L·R")
      ("k-rule", po::value<std::string>()->default_value("criterion"),
       "SRR's k: criterion (argmin α²(k)ρ̂(r−k), §5.3) | fixed (--k) | oracle (best of every k) | naive "
       "(k = r) | adaptive (poster score rule) | energy (pre-release energy fraction)")
      ("k", po::value<long>()->default_value(0), "k for --k-rule fixed")
      ("recon", po::value<std::string>()->default_value("joint"),
       "joint: rank-r refit of S(W−Q) (released code); split: keep the preserved part, fit r−k to the rest")
      ("iters", po::value<int>()->default_value(1), "alternations of quantization and refit (§5.4)")
      ("probe", po::value<std::string>()->default_value("square"),
       "criterion probe: square (m×m, as released) | full (m×n, as in the paper)")
      ("mc-samples", po::value<int>()->default_value(1), "probes averaged by the criterion")
      ("seed", po::value<std::uint64_t>()->default_value(42),
       "run seed; every random stream is keyed by (seed, layer name)")
      ("svd", po::value<std::string>()->default_value("randomized"),
       "randomized: seeded range finder (fast, top-r only) | full: LAPACK gesdd (reference)")
      ("oversample", po::value<long>()->default_value(10), "randomized SVD: sketch columns beyond the rank")
      ("power-iters", po::value<int>()->default_value(4), "randomized SVD: power iterations for decaying spectra")
      ("krylov-iters", po::value<int>()->default_value(8),
       "randomized SVD: block Krylov iterations for flat spectra (residuals, probes, weights)")
      ("precision", po::value<std::string>()->default_value("float32"),
       "decomposition precision: float32 | float64 (statistics and S⁻¹ are always float64)")
      ("diagnostics", po::value<std::string>()->default_value("basic"),
       "basic: k*, every error, the spectra SRR computes anyway (activation-aware error from ‖SΔ‖ when S is "
       "an exact root of R_xx) | full: also σ(S·W) for QER/LoftQ/w-only and the activation-aware error from "
       "R_xx itself");
}

qer::MethodSettings method_settings(const po::variables_map& vm) {
  qer::MethodSettings c;
  auto& l = c.layer;
  l.method = qer::method_from_string(vm["method"].as<std::string>());
  l.quant.scheme = quant::scheme_from_string(vm["quant"].as<std::string>());
  l.quant.width = vm["bits"].as<int>();
  l.quant.block = vm["block"].as<int>();
  quant::validate(l.quant);
  l.rank = vm["rank"].as<long>();
  l.k_rule = qer::k_rule_from_string(vm["k-rule"].as<std::string>());
  l.k = vm["k"].as<long>();
  require(vm["k"].defaulted() || l.k_rule == qer::KRule::Fixed, "--k is used only with --k-rule fixed (this run has "
          "--k-rule ", vm["k-rule"].as<std::string>(), ")");
  l.recon = qer::recon_from_string(vm["recon"].as<std::string>());
  l.iters = vm["iters"].as<int>();
  l.probe = qer::probe_shape_from_string(vm["probe"].as<std::string>());
  l.mc_samples = vm["mc-samples"].as<int>();
  l.seed = vm["seed"].as<std::uint64_t>();
  l.diagnostics = qer::diagnostics_from_string(vm["diagnostics"].as<std::string>());
  c.scale.kind = qer::scale_kind_from_string(vm["scale"].as<std::string>());
  c.scale.exact_impl = qer::exact_impl_from_string(vm["qera-exact-impl"].as<std::string>());
  c.scale.eig_floor = vm["eig-floor"].as<double>();
  c.scale.diag_floor = vm["diag-floor"].as<double>();
  require(c.scale.eig_floor >= 0 && c.scale.eig_floor < 1, "--eig-floor must be in [0, 1), got ", c.scale.eig_floor);
  require(c.scale.diag_floor >= 0 && c.scale.diag_floor < 1, "--diag-floor must be in [0, 1), got ",
          c.scale.diag_floor);
  c.svd.method = qer::svd_method_from_string(vm["svd"].as<std::string>());
  c.svd.oversample = vm["oversample"].as<long>();
  c.svd.power_iters = vm["power-iters"].as<int>();
  c.svd.krylov_iters = vm["krylov-iters"].as<int>();
  require(c.svd.krylov_iters >= 0, "--krylov-iters must be >= 0, got ", c.svd.krylov_iters);
  require(c.svd.oversample >= 0, "--oversample must be >= 0, got ", c.svd.oversample);
  require(c.svd.power_iters >= 0, "--power-iters must be >= 0, got ", c.svd.power_iters);
  const auto precision = vm["precision"].as<std::string>();
  require(precision == "float32" || precision == "float64", "--precision must be float32 or float64, got '",
          precision, "'");
  c.float64 = precision == "float64";
  if (l.iters < 1) throw InputError("--iters must be at least 1, got " + std::to_string(l.iters));
  return c;
}

std::uint64_t parse_size(const std::string& text, const std::string& option) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    throw InputError(option + ": '" + text + "' is not a size such as 5GB, 500MB, 12GiB or a byte count");
  }
  const std::string unit = text.substr(used);
  const std::pair<const char*, double> units[] = {{"", 1},          {"B", 1},           {"KB", 1e3},
                                                  {"MB", 1e6},      {"GB", 1e9},        {"TB", 1e12},
                                                  {"KiB", 1024.0},  {"MiB", 1048576.0}, {"GiB", 1073741824.0}};
  for (const auto& [name, factor] : units)
    if (unit == name) {
      require(value >= 0 && value * factor < 1e18, option, ": '", text, "' is out of range");
      return static_cast<std::uint64_t>(value * factor);
    }
  throw InputError(option + ": unknown unit in '" + text + "' (B, KB, MB, GB, TB, KiB, MiB, GiB)");
}

void add_memory_option(po::options_description& desc) {
  desc.add_options()("memory-per-rank", po::value<std::string>(),
                     "refuse to start when the memory plan exceeds this per rank (e.g. 12GB, 11GiB; default: this "
                     "node's memory divided by the ranks on it)");
}

std::uint64_t memory_per_rank(const po::variables_map& vm, const parallel::Communicator& comm) {
  if (vm.count("memory-per-rank")) {
    const std::uint64_t limit = parse_size(vm["memory-per-rank"].as<std::string>(), "--memory-per-rank");
    require(limit > 0, "--memory-per-rank must be positive");
    return limit;
  }
  return pipeline::default_memory_per_rank(comm);
}

}  // namespace srr::app
