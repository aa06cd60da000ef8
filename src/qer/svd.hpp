// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Truncated SVD behind one interface, so the layer pipeline runs on a local engine (LAPACK/BLAS) or a
/// distributed one (dist/, PBLAS on a BLACS grid) without knowing which.
///
/// Only the top r ≤ a few hundred triplets and Frobenius norms are ever needed (method.md §5.8), so the
/// default is a seeded randomized range finder (Halko, Martinsson, Tropp 2011, Alg. 4.4: Gaussian sketch,
/// q power iterations with re-orthonormalization, then a small dense SVD). `Full` runs LAPACK gesdd on the
/// whole matrix and truncates: the reference the randomized path is tested and benchmarked against.
/// For Spectrum::Flat the randomized path keeps every power iterate (randomized block Krylov, Musco & Musco
/// 2015) and orthonormalizes their union before the small SVD.

#include <memory>
#include <string>
#include <vector>

#include "base/rng.hpp"
#include "la/matrix.hpp"

namespace srr::qer {

using la::index_t;
using la::Matrix;

enum class SvdMethod { Randomized, Full };
std::string to_string(SvdMethod m);
SvdMethod svd_method_from_string(const std::string& s);  ///< randomized|full

/// What the caller knows of the spectrum. Weights (and S·W) decay fast, so a plain range finder with a few
/// power iterations is accurate; quantization residuals and random probes are flat, where the randomized
/// block Krylov method (every iterate kept) captures the top-r energy far better for the same products
/// (measured in docs/svd.md).
enum class Spectrum { Decaying, Flat };

struct SvdSettings {
  SvdMethod method = SvdMethod::Randomized;
  index_t oversample = 0;  ///< extra sketch columns; 0 = automatic (max(10, rank))
  int power_iters = 4;     ///< power iterations for decaying spectra (each re-orthonormalized)
  int krylov_iters = 6;    ///< block Krylov iterations for flat spectra
};

/// Top-k singular triplets, s descending. U is m×k and Vt is k×n (empty when values only were asked).
template <class T>
struct TruncatedSvd {
  Matrix<T> U;
  std::vector<double> s;
  Matrix<T> Vt;
};

/// Computes truncated SVDs. Implementations must be deterministic given the Rng they are handed.
class SvdEngine {
public:
  virtual ~SvdEngine() = default;
  virtual TruncatedSvd<float> top(const Matrix<float>& A, index_t k, bool vectors, Spectrum spectrum,
                                  Rng& rng) const = 0;
  virtual TruncatedSvd<double> top(const Matrix<double>& A, index_t k, bool vectors, Spectrum spectrum,
                                   Rng& rng) const = 0;
  virtual std::string name() const = 0;
};

/// LAPACK/BLAS on the calling rank.
class LocalSvdEngine final : public SvdEngine {
public:
  explicit LocalSvdEngine(SvdSettings settings) : settings_(settings) {}
  TruncatedSvd<float> top(const Matrix<float>& A, index_t k, bool vectors, Spectrum spectrum,
                          Rng& rng) const override;
  TruncatedSvd<double> top(const Matrix<double>& A, index_t k, bool vectors, Spectrum spectrum,
                           Rng& rng) const override;
  std::string name() const override;
  const SvdSettings& settings() const { return settings_; }

private:
  SvdSettings settings_;
};

/// The Gaussian sketch (rows×cols, column-major, one rng.normal() per entry): every engine draws it this
/// way, so local and distributed engines see the same sketch from the same stream.
template <class T>
Matrix<T> gaussian_sketch(index_t rows, index_t cols, Rng& rng) {
  Matrix<T> G(rows, cols);
  for (auto& v : G.values()) v = static_cast<T>(rng.normal());
  return G;
}

/// The sketch width the randomized path uses for rank k on an m×n matrix.
index_t sketch_width(index_t k, index_t m, index_t n, const SvdSettings& s);

}  // namespace srr::qer
