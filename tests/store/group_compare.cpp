// SPDX-License-Identifier: MIT
// Test helper for group mode of `srr quantize` (not installed):
//   srr_group_compare A.h5 B.h5 CALIB.h5 TOL
// Every layer done in both stores with equal k* and equal Q codes, and the low-rank term P = lora_B·lora_A
// of A within TOL of B's in the activation-weighted norm ‖P‖_R = sqrt(Σ_o p_oᵀ·R_xx·p_o), R_xx from the
// calibration file; likewise the stored activation-aware errors. Why this norm: group mode's pdsyevd and
// distributed SVD agree with LAPACK to rounding, not bit for bit (docs/dist.md), and where R_xx is nearly
// singular (eigenvalues at the floor) S⁻¹ amplifies those roundings into large changes of L along directions
// that no activation reaches — invisible to the model's outputs, which is what ‖·‖_R measures. Equal group
// sizes are compared bit for bit by srr_store_tool diff.
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "model/linear_inputs.hpp"
#include "store/calibration.hpp"
#include "store/store.hpp"

namespace srr::store {
namespace {

/// P = lora_B·lora_A ([out][r]·[r][in], row-major, [out][in]), in double.
std::vector<double> product(const LayerRecord& r, std::size_t in, std::size_t out) {
  const std::size_t rank = r.lora_A.size() / in;
  std::vector<double> p(out * in, 0.0);
  for (std::size_t o = 0; o < out; ++o)
    for (std::size_t k = 0; k < rank; ++k)
      for (std::size_t i = 0; i < in; ++i)
        p[o * in + i] += static_cast<double>(r.lora_B[o * rank + k]) * static_cast<double>(r.lora_A[k * in + i]);
  return p;
}

/// Σ_o p_oᵀ·R·p_o for P [out][in] row-major.
double weighted_norm2(const std::vector<double>& p, const la::Matrix<double>& R, std::size_t in) {
  double sum = 0;
  for (std::size_t base = 0; base < p.size(); base += in)
    for (std::size_t j = 0; j < in; ++j)
      for (std::size_t i = 0; i < in; ++i)
        sum += p[base + i] * R(static_cast<la::index_t>(i), static_cast<la::index_t>(j)) * p[base + j];
  return sum;
}

int compare(const std::string& path_a, const std::string& path_b, const std::string& calib, double tol) {
  const Store a = Store::open_read_only(path_a), b = Store::open_read_only(path_b);
  if (a.layout().layers != b.layout().layers) {
    std::cout << "layouts differ\n";
    return 1;
  }
  const auto done_a = a.done(), done_b = b.done();
  int problems = 0;
  double worst_product = 0, worst_act = 0;
  const auto check = [&](const std::string& what, double d, double& worst) {
    worst = std::max(worst, d);
    if (!(d <= tol)) {
      std::cout << what << " differs by " << d << " relative (tolerance " << tol << ")\n";
      ++problems;
    }
  };
  for (std::size_t i = 0; i < a.layout().layers.size(); ++i) {
    const auto& layer = a.layout().layers[i];
    if (!done_a[i] || !done_b[i]) {
      std::cout << layer.name << ": not done in " << (done_a[i] ? path_b : path_a) << "\n";
      ++problems;
      continue;
    }
    const LayerRecord ra = a.read_layer(i), rb = b.read_layer(i);
    if (ra.k_star != rb.k_star) {
      std::cout << layer.name << ": k* " << ra.k_star << " vs " << rb.k_star << "\n";
      ++problems;
    }
    if (ra.codes.codes != rb.codes.codes) {
      std::cout << layer.name << ": Q codes differ\n";
      ++problems;
    }
    const auto in = static_cast<std::size_t>(layer.in), out = static_cast<std::size_t>(layer.out);
    const la::Matrix<double> R = read_statistics(calib, model::statistics_key(layer.name)).rxx();
    const auto pa = product(ra, in, out), pb = product(rb, in, out);
    std::vector<double> diff(pa.size());
    for (std::size_t j = 0; j < pa.size(); ++j) diff[j] = pa[j] - pb[j];
    check(layer.name + ": lora_B·lora_A in the R_xx norm",
          std::sqrt(weighted_norm2(diff, R, in) / weighted_norm2(pb, R, in)), worst_product);
    check(layer.name + ": activation-aware error",
          std::fabs(ra.rel_error_act - rb.rel_error_act) / rb.rel_error_act, worst_act);
  }
  std::cout << (problems ? "differences: " : "agree: ") << a.layout().layers.size()
            << " layers; largest relative difference of lora_B·lora_A in the R_xx norm " << worst_product
            << ", of the activation-aware error " << worst_act << "\n";
  return problems ? 1 : 0;
}

}  // namespace
}  // namespace srr::store

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: srr_group_compare A.h5 B.h5 CALIB.h5 TOL\n";
    return 2;
  }
  try {
    return srr::store::compare(argv[1], argv[2], argv[3], std::stod(argv[4]));
  } catch (const std::exception& e) {
    std::cerr << "srr_group_compare: " << e.what() << "\n";
    return 2;
  }
}
