// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Truncated SVD behind one interface, so the layer pipeline runs on a local engine (LAPACK/BLAS) or a
/// distributed one (parallel/, PBLAS on a BLACS grid) without knowing which.
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
#include "la/lapack.hpp"
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

/// Defaults from bench_svd (docs/svd.md): on 4096² weights, residuals and probes, block Krylov with a block
/// of r + 10 and 8 iterations matches gesdd's optimal tail energy to ≤ 1e-4 at 55 % of the products of a
/// block of 2r with 6 iterations.
struct SvdSettings {
  SvdMethod method = SvdMethod::Randomized;
  index_t oversample = 10;  ///< sketch columns beyond the rank: the block is rank + oversample wide
  int power_iters = 4;      ///< power iterations for decaying spectra (each re-orthonormalized)
  int krylov_iters = 8;     ///< block Krylov iterations for flat spectra
};

/// Top-k singular triplets, s descending. U is m×k and Vt is k×n (empty when values only were asked).
template <class T>
struct TruncatedSvd {
  Matrix<T> U;
  std::vector<double> s;
  Matrix<T> Vt;
};

/// Computes truncated SVDs, and the factorization and triangular products of the QERA-exact scale: the
/// dense kernels whose cost grows with the layer, so a distributed engine can take them all.
/// Implementations must be deterministic given the Rng they are handed. The scale's kernels default to
/// LAPACK/BLAS on the calling rank.
class SvdEngine {
public:
  virtual ~SvdEngine() = default;
  virtual TruncatedSvd<float> top(const Matrix<float>& A, index_t k, bool vectors, Spectrum spectrum,
                                  Rng& rng) const = 0;
  virtual TruncatedSvd<double> top(const Matrix<double>& A, index_t k, bool vectors, Spectrum spectrum,
                                   Rng& rng) const = 0;
  /// R = Z·diag(w)·Zᵀ, w ascending (lower triangle of R read), as la::syevd.
  virtual la::Eig<double> symmetric_eigen(const Matrix<double>& R, bool vectors = true) const = 0;
  /// A ← U, the upper Cholesky factor of the symmetric positive definite A (UᵀU = A, upper triangle of A
  /// read, zeros written below the diagonal). In place, so that a caller factoring m×m matrices reuses one
  /// buffer (first-touch page faults cost as much as the copy). Throws la::LapackError when A is not
  /// numerically positive definite; A is then garbage.
  virtual void cholesky(Matrix<double>& A) const;
  /// X ← U·X (trmm) and X ← U⁻¹·X (trsm) for upper triangular, invertible U (strictly lower part not read).
  virtual void upper_times(const Matrix<float>& U, Matrix<float>& X) const;
  virtual void upper_times(const Matrix<double>& U, Matrix<double>& X) const;
  virtual void upper_solve(const Matrix<double>& U, Matrix<double>& X) const;
  virtual std::string name() const = 0;
  /// Full or randomized, and the randomized path's widths: what a caller may ask of top() cheaply.
  virtual const SvdSettings& settings() const = 0;
};

/// LAPACK/BLAS on the calling rank.
class LocalSvdEngine final : public SvdEngine {
public:
  explicit LocalSvdEngine(SvdSettings settings) : settings_(settings) {}
  TruncatedSvd<float> top(const Matrix<float>& A, index_t k, bool vectors, Spectrum spectrum,
                          Rng& rng) const override;
  TruncatedSvd<double> top(const Matrix<double>& A, index_t k, bool vectors, Spectrum spectrum,
                           Rng& rng) const override;
  la::Eig<double> symmetric_eigen(const Matrix<double>& R, bool vectors = true) const override;
  std::string name() const override;
  const SvdSettings& settings() const override { return settings_; }

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

/// The shape of the randomized path's range finder (qer/range_finder.hpp) for rank k on an m×n matrix:
/// the sketch width l, the iterations, and the width of the final basis (l, or for block Krylov every
/// iterate's l columns, at most min(m, n)). Every engine and the cost models take it from here.
struct RangePlan {
  index_t sketch = 0;   ///< l = sketch_width(k, m, n)
  int iters = 0;        ///< power iterations (Decaying) or block Krylov iterations (Flat)
  bool krylov = false;  ///< keep every iterate (Spectrum::Flat)
  index_t width = 0;    ///< columns of the final basis
};
RangePlan range_plan(index_t k, index_t m, index_t n, Spectrum spectrum, const SvdSettings& s);

/// Rayleigh–Ritz step of the randomized path: the top k singular triplets of the short, wide projection
/// B = QᵀA (L×n, L ≤ n, k ≤ L). U is returned in the basis Q (L×k: the caller forms Q·U). Computed from the
/// float64 Gram matrix B·Bᵀ by syevd — a third of the cost of gesdd on B, and in float64 accurate to
/// ε·(σ₁/σ_k)² relative — with Vt = Σ⁻¹·Uᵀ·B; gesdd on B when σ_k < 1e-4·σ₁, where squaring would cost
/// digits. Every engine (local and distributed) ends with this same step.
template <class T>
TruncatedSvd<T> top_of_projection(const Matrix<T>& B, index_t k, bool vectors);

}  // namespace srr::qer
