// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// BLACS process grids owned by RAII objects.
///
/// A ProcessGrid is built by every rank of a communicator — typically a sub-communicator of workers that
/// leaves the master out — and by no other rank (toolchain.md P6). It duplicates the communicator so that
/// (a) its traffic, including the distributed engine's command broadcasts, can never match messages of
/// the caller's, and (b) its BLACS system handle is its own: the BLACS look handles up by communicator
/// value, so two grids on one communicator would share, and free, one handle.
///
/// Destruction order (reverse of construction): the grid's contexts exit (Cblacs_gridexit), then the
/// system handle is freed (Cfree_blacs_system_handle), then the duplicated communicator (MPI_Comm_free) —
/// all before MpiEnvironment finalizes MPI. The BLACS are never told to exit with Cblacs_exit(0).

#include <utility>

#include "parallel/mpi.hpp"

namespace srr::parallel {

/// One BLACS context: exits it in the destructor on the processes that are inside its grid. Move-only.
class BlacsContext {
public:
  BlacsContext() = default;
  explicit BlacsContext(int context) : context_(context) {}
  ~BlacsContext();
  BlacsContext(BlacsContext&& other) noexcept : context_(std::exchange(other.context_, -1)) {}
  BlacsContext& operator=(BlacsContext&& other) noexcept;
  BlacsContext(const BlacsContext&) = delete;
  BlacsContext& operator=(const BlacsContext&) = delete;

  /// The context handle; −1 on processes outside the grid.
  int get() const { return context_; }
  bool member() const { return context_ >= 0; }

private:
  int context_ = -1;
};

/// A rows×cols BLACS grid over all ranks of a communicator, row-major: rank r sits at (r / cols, r % cols),
/// so rank 0 of the communicator is process (0, 0). Not copyable or movable (distributed matrices keep a
/// pointer to their grid).
class ProcessGrid {
public:
  /// rows = cols = 0 chooses the most nearly square shape with rows ≤ cols; otherwise
  /// rows·cols must equal comm.size(). Collective over comm (MPI_Comm_dup, Cblacs_gridinit).
  explicit ProcessGrid(const Communicator& comm, int rows = 0, int cols = 0);
  ~ProcessGrid();
  ProcessGrid(const ProcessGrid&) = delete;
  ProcessGrid& operator=(const ProcessGrid&) = delete;

  /// The grid's own duplicate of the communicator it was built on (same ranks, same order).
  const Communicator& communicator() const { return comm_; }
  /// The BLACS context of the whole grid, valid on every rank of the communicator.
  int context() const { return context_.get(); }
  int rows() const { return rows_; }
  int cols() const { return cols_; }
  int row() const { return row_; }
  int col() const { return col_; }
  int rank() const { return rank_; }
  int size() const { return rows_ * cols_; }

  /// A 1×1 context holding only `rank` (of this grid's communicator); −1 on every other rank. Used as the
  /// "whole matrix on one process" side of a redistribution. Collective over the grid's communicator.
  BlacsContext single_process_context(int rank) const;

  /// The most nearly square rows×cols = nprocs with rows ≤ cols.
  static std::pair<int, int> square_shape(int nprocs);

private:
  /// Frees the BLACS system handle after the contexts made from it have exited.
  struct SystemHandle {
    int handle = -1;
    ~SystemHandle();
  };

  Communicator comm_;
  SystemHandle handle_;
  BlacsContext context_;
  int rows_ = 0, cols_ = 0, row_ = -1, col_ = -1, rank_ = -1;
};

}  // namespace srr::parallel
