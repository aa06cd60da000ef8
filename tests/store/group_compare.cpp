// SPDX-License-Identifier: MIT
// Test helper for group mode of `srr quantize` (not installed):
//   srr_group_compare A.h5 B.h5 TOL
// Every layer done in both stores, equal k*, and lora_A, lora_B each within TOL of B's in relative
// Frobenius norm. Group mode's distributed SVD agrees with LAPACK to rounding, not bit for bit
// (docs/dist.md), so stores made with different --group-size are compared this way; equal group sizes are
// compared bit for bit by srr_store_tool diff.
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace srr::store {
namespace {

/// ‖a − b‖ / ‖b‖ (0 when both are zero, infinity when the sizes differ).
template <class T>
double relative_difference(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return INFINITY;
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    diff += d * d;
    norm += static_cast<double>(b[i]) * static_cast<double>(b[i]);
  }
  return diff == 0 ? 0 : std::sqrt(diff / norm);
}

/// lora_B·lora_A ([out][r]·[r][in], row-major), in double.
std::vector<double> product(const LayerRecord& r, std::size_t in, std::size_t out) {
  const std::size_t rank = r.lora_A.size() / in;
  std::vector<double> p(out * in, 0.0);
  for (std::size_t o = 0; o < out; ++o)
    for (std::size_t k = 0; k < rank; ++k)
      for (std::size_t i = 0; i < in; ++i)
        p[o * in + i] += static_cast<double>(r.lora_B[o * rank + k]) * static_cast<double>(r.lora_A[k * in + i]);
  return p;
}

int compare(const std::string& path_a, const std::string& path_b, double product_tol, double factor_tol) {
  const Store a = Store::open_read_only(path_a), b = Store::open_read_only(path_b);
  if (a.layout().layers != b.layout().layers) {
    std::cout << "layouts differ\n";
    return 1;
  }
  const auto done_a = a.done(), done_b = b.done();
  int problems = 0;
  double worst_product = 0, worst_factor = 0;
  const auto check = [&](const std::string& what, double d, double tol, double& worst) {
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
    const auto in = static_cast<std::size_t>(layer.in), out = static_cast<std::size_t>(layer.out);
    check(layer.name + ": lora_B·lora_A", relative_difference(product(ra, in, out), product(rb, in, out)),
          product_tol, worst_product);
    check(layer.name + ": lora_A", relative_difference(ra.lora_A, rb.lora_A), factor_tol, worst_factor);
    check(layer.name + ": lora_B", relative_difference(ra.lora_B, rb.lora_B), factor_tol, worst_factor);
  }
  std::cout << (problems ? "differences: " : "agree: ") << a.layout().layers.size() << " layers; largest relative "
            << "difference of lora_B·lora_A " << worst_product << ", of lora_A or lora_B " << worst_factor << "\n";
  return problems ? 1 : 0;
}

}  // namespace
}  // namespace srr::store

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: srr_group_compare A.h5 B.h5 PRODUCT_TOL FACTOR_TOL\n";
    return 2;
  }
  try {
    return srr::store::compare(argv[1], argv[2], std::stod(argv[3]), std::stod(argv[4]));
  } catch (const std::exception& e) {
    std::cerr << "srr_group_compare: " << e.what() << "\n";
    return 2;
  }
}
