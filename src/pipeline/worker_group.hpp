// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Worker groups of a quantize job (--group-size g > 1): ranks 1..np−1 split into groups of g consecutive
/// ranks, each a BLACS grid on its own sub-communicator, which leaves the master out. The group's rank 0,
/// its leader, is the worker of the protocol (messages.hpp): only it talks to the master, and its
/// LayerQuantizer runs the truncated SVDs and the QERA-exact eigendecomposition through a
/// parallel::DistributedSvdEngine on the group. The other members sit in serve() from the start to the end
/// of the run and never touch the checkpoint.

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "parallel/grid.hpp"
#include "parallel/mpi.hpp"
#include "qer/svd.hpp"

namespace srr::pipeline {

/// Refuses (InputError) a job whose np − 1 worker ranks do not form whole groups of `group_size`. Local;
/// every rank reaches the same verdict.
void require_whole_groups(int group_size, int np);

/// The SVD engine of one worker: LAPACK on its own rank (grid null), or a DistributedSvdEngine over its
/// group's grid (block × block tiles), called by the leader while the other members serve().
std::unique_ptr<qer::SvdEngine> make_svd_engine(const qer::SvdSettings& svd, const parallel::ProcessGrid* grid,
                                                int block);

/// This rank's worker group. With g = 1 (or np = 1) there is none and nothing collective happens.
class WorkerGroup {
public:
  /// Collective over `world` when group_size > 1 (MPI_Comm_split, the master included), then over each
  /// new group (ProcessGrid). Requires whole groups (require_whole_groups).
  WorkerGroup(const parallel::Communicator& world, int group_size);
  WorkerGroup(const WorkerGroup&) = delete;
  WorkerGroup& operator=(const WorkerGroup&) = delete;

  int size() const { return size_; }
  /// The group's grid; null without groups (the master, or g = 1).
  const parallel::ProcessGrid* grid() const { return grid_ ? &*grid_ : nullptr; }
  /// True on a member that is not the leader: it serves instead of speaking to the master.
  bool server() const { return grid_ && grid_->rank() != 0; }

  /// Members other than the leader: joins the leader's distributed SVDs until the leader's stop().
  /// Collective over the group, command by command.
  void serve() const;

  /// The end of the group's run, called by every rank with a worker role (g = 1 included, where it is
  /// local): the leader first releases the members from serve(); then every member contributes its peak
  /// RSS. Returns the peak RSS per group rank (the job's exit code is rank 0's alone). Collective over the
  /// group.
  std::vector<std::int64_t> finish(std::int64_t peak_kib) const;

private:
  int size_;
  parallel::Communicator comm_;
  std::optional<parallel::ProcessGrid> grid_;
};

}  // namespace srr::pipeline
