// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The truncated SVD (and the QERA-exact scale's kernels: symmetric eigensolver, Cholesky factor,
/// triangular products) on a group of ranks forming a BLACS grid, behind qer::SvdEngine.
///
/// Who calls what. qer::SvdEngine::top() is called by one rank: the group's root (rank 0 of the grid's
/// communicator), which holds the whole matrix. ScaLAPACK needs every rank of the grid inside each
/// collective, so the other members sit in serve(): a loop that receives a command header broadcast by
/// the root and then joins exactly the collectives the root performs for that command, until stop().
///
///   root (grid rank 0)                    every other grid rank
///   engine.top(A, k, ...)   ─── header ─→ engine.serve()  (loops)
///     scatter A, sketch G, PBLAS/QR ...   ... the same collectives ...
///   engine.symmetric_eigen(R)  ─ header ─→ ...
///   engine.stop()           ─── stop ───→ serve() returns
///
/// Determinism. The Gaussian sketch is drawn on the root from the caller's Rng, in the same order as
/// qer::LocalSvdEngine, so in float64 the result equals the local engine's to rounding (tested to 1e-10)
/// whatever the grid. Paths that would not use a sketch (SvdMethod::Full, k = 0, or a sketch as wide as
/// the matrix) run on the root alone with the local engine and involve no other rank.
///
/// Errors. Arguments are validated on the root before the header goes out, so a rejected call leaves
/// the servers waiting for the next command. The one root-only step inside a command (the small gesdd)
/// broadcasts its success, so a failure there is raised on the root and skipped in step by the servers;
/// serve() likewise catches a ScaLAPACK error raised consistently on every rank, counts it, and waits for
/// the next command. Any other failure leaves the group out of step: abort the job.
///
/// Waiting. The header and the root-only step's status are broadcast with Wait::Poll, so an idle server
/// sleeps instead of spinning (toolchain.md P9).

#include <cstdint>
#include <string>

#include "parallel/dist_matrix.hpp"
#include "qer/svd.hpp"

namespace srr::parallel {

/// What serve() did before stop().
struct ServeStats {
  std::int64_t commands = 0;  ///< commands joined (stop excluded)
  std::int64_t failures = 0;  ///< of which failed with an error raised on every rank
};

class DistributedSvdEngine final : public qer::SvdEngine {
public:
  /// Every member of the grid constructs one, with the same block size. Local. The settings are read on
  /// the root only (the servers receive what they need with each command). The grid must outlive the
  /// engine.
  DistributedSvdEngine(const ProcessGrid& grid, qer::SvdSettings settings, index_t block = default_block);

  /// Top-k singular triplets of A (root only). Collective over the grid's communicator: the other
  /// members must be in serve(). Draws the sketch from rng exactly as the local engine does, and like it
  /// keeps every power iterate (randomized block Krylov) for Spectrum::Flat.
  qer::TruncatedSvd<float> top(const Matrix<float>& A, index_t k, bool vectors, qer::Spectrum spectrum,
                               Rng& rng) const override;
  qer::TruncatedSvd<double> top(const Matrix<double>& A, index_t k, bool vectors, qer::Spectrum spectrum,
                                Rng& rng) const override;
  std::string name() const override;

  /// Eigendecomposition of the symmetric R (lower triangle read), eigenvalues ascending, by p?syevd: the
  /// distributed twin of la::syevd (root only). Collective over the grid's communicator, like top(), except
  /// that a matrix too small for p?syevd (distributes_eigen() false) is solved by LAPACK on the root alone.
  la::Eig<double> symmetric_eigen(const Matrix<double>& R, bool vectors = true) const override;

  /// Upper Cholesky factor of R by p?potrf (root only; throws la::LapackError naming pdpotrf, on the root
  /// alone, when R is not positive definite). Collective over the grid's communicator like
  /// symmetric_eigen(), with the same size rule (distributes_factor()).
  void cholesky(Matrix<double>& A) const override;
  /// X ← U·X by p?trmm and X ← U⁻¹·X by p?trsm (root only), U upper triangular: the triangular scale's
  /// products in group mode. U and X are scattered on every call. Collective over the grid's communicator.
  void upper_times(const Matrix<float>& U, Matrix<float>& X) const override;
  void upper_times(const Matrix<double>& U, Matrix<double>& X) const override;
  void upper_solve(const Matrix<double>& U, Matrix<double>& X) const override;

  /// Joins the root's commands until it calls stop() (non-root members only). Collective over the grid's
  /// communicator, command by command.
  ServeStats serve() const;

  /// Releases the servers from serve() (root only). Collective over the grid's communicator.
  void stop() const;

  /// Whether symmetric_eigen sends an n×n matrix to the grid: n ≥ 2·block·max(grid rows, grid columns).
  /// Below that Debian's p?syevd returns wrong eigenvectors or rejects its own internal calls (measured:
  /// n ≤ nb + 1 on 1×1, 1×2 and 2×1 grids; n = 172, nb = 64 on 3×1 — DistSvd.SymmetricEigen* covers both
  /// sides), and such a matrix is cheap for one rank anyway.
  bool distributes_eigen(index_t n) const;

  /// Whether cholesky() and the triangular products of an n×n factor go to the grid: the same threshold as
  /// distributes_eigen() (below it one rank is faster than the scatter).
  bool distributes_factor(index_t n) const;

  bool is_root() const { return grid_.rank() == 0; }
  const ProcessGrid& grid() const { return grid_; }
  const qer::SvdSettings& settings() const override { return settings_; }

private:
  template <class T>
  void triangular(const Matrix<T>& U, Matrix<T>& X, bool solve) const;
  template <class T>
  qer::TruncatedSvd<T> top_impl(const Matrix<T>& A, index_t k, bool vectors, qer::Spectrum spectrum,
                                Rng& rng) const;

  const ProcessGrid& grid_;
  qer::SvdSettings settings_;
  qer::LocalSvdEngine local_;
  index_t block_;
};

}  // namespace srr::parallel
