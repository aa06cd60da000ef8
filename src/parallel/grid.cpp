// SPDX-License-Identifier: MIT
#include "parallel/grid.hpp"

#include <tuple>

#include "la/scalapack.hpp"

namespace srr::parallel {

BlacsContext::~BlacsContext() {
  if (context_ >= 0) la::blacs::gridexit(context_);
}

BlacsContext& BlacsContext::operator=(BlacsContext&& other) noexcept {
  if (this != &other) {
    if (context_ >= 0) la::blacs::gridexit(context_);
    context_ = std::exchange(other.context_, -1);
  }
  return *this;
}

ProcessGrid::SystemHandle::~SystemHandle() {
  if (handle >= 0) la::blacs::free_system_handle(handle);
}

std::pair<int, int> ProcessGrid::square_shape(int nprocs) {
  SRR_ASSERT(nprocs >= 1);
  int rows = 1;
  for (int r = 1; r * r <= nprocs; ++r)
    if (nprocs % r == 0) rows = r;
  return {rows, nprocs / rows};
}

ProcessGrid::ProcessGrid(const Communicator& comm, int rows, int cols) {
  SRR_ASSERT(!comm.is_null());
  const int nprocs = comm.size();
  if (rows == 0 && cols == 0) std::tie(rows, cols) = square_shape(nprocs);
  if (rows < 1 || cols < 1 || rows * cols != nprocs)
    throw Error(detail::concat("a ", rows, "x", cols, " process grid needs ", rows * cols,
                               " ranks, the communicator has ", nprocs));
  comm_ = comm.dup();
  handle_.handle = la::blacs::system_handle(comm_.get());
  context_ = BlacsContext(la::blacs::gridinit(handle_.handle, rows, cols));
  const auto info = la::blacs::gridinfo(context_.get());
  if (!context_.member() || info.rows != rows || info.cols != cols)
    throw Error(detail::concat("Cblacs_gridinit did not build the ", rows, "x", cols, " grid"));
  rows_ = rows;
  cols_ = cols;
  row_ = info.row;
  col_ = info.col;
  rank_ = comm_.rank();
}

// Members die in reverse order: context_ (gridexit), handle_ (free handle), comm_ (MPI_Comm_free).
ProcessGrid::~ProcessGrid() = default;

BlacsContext ProcessGrid::single_process_context(int rank) const {
  SRR_ASSERT(rank >= 0 && rank < size());
  const int ranks[1] = {rank};
  return BlacsContext(la::blacs::gridmap(handle_.handle, ranks, 1, 1));
}

}  // namespace srr::parallel
