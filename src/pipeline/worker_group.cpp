// SPDX-License-Identifier: MIT
#include "pipeline/worker_group.hpp"

#include "base/error.hpp"
#include "parallel/dist_svd.hpp"

namespace srr::pipeline {

void require_whole_groups(int group_size, int np) {
  require(group_size >= 1, "--group-size must be at least 1, got ", group_size);
  require(np == 1 || (np - 1) % group_size == 0, "--group-size ", group_size, " does not divide the ", np - 1,
          " worker rank(s) of this job (np − 1 with np = ", np, "): run with np = 1 + a multiple of ", group_size);
}

std::unique_ptr<qer::SvdEngine> make_svd_engine(const qer::SvdSettings& svd, const parallel::ProcessGrid* grid,
                                                int block) {
  if (!grid) return std::make_unique<qer::LocalSvdEngine>(svd);
  return std::make_unique<parallel::DistributedSvdEngine>(*grid, svd, block);
}

WorkerGroup::WorkerGroup(const parallel::Communicator& world, int group_size) : size_(group_size) {
  if (size_ == 1 || world.size() == 1) return;
  const int rank = world.rank();
  comm_ = world.split(rank == 0 ? -1 : (rank - 1) / size_, rank);
  if (!comm_.is_null()) grid_.emplace(comm_);
}

void WorkerGroup::serve() const { parallel::DistributedSvdEngine(*grid_, {}).serve(); }

std::vector<std::int64_t> WorkerGroup::finish(std::int64_t peak_kib) const {
  if (!grid_) return {peak_kib};
  // The stop header is all a server needs; the engine keeps no state besides its grid and settings.
  if (grid_->rank() == 0) parallel::DistributedSvdEngine(*grid_, {}).stop();
  std::vector<std::int64_t> all(static_cast<std::size_t>(size_), 0);
  all[static_cast<std::size_t>(grid_->rank())] = peak_kib;
  grid_->communicator().allreduce(std::span<std::int64_t>(all), parallel::ReduceOp::Sum);
  return all;
}

}  // namespace srr::pipeline
