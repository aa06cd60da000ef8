// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// `srr quantize` as a library call: every linear layer of a checkpoint, as one MPI job, into a crash-safe
/// store (docs/store.md).
///
/// Roles. Rank 0 is the master: it plans (plan.hpp), owns the store (the only process that opens it) and
/// hands out layers one at a time (scheduler.hpp); every other rank is a worker (or a member of a worker
/// group, worker_group.hpp) that reads its layer's weights from the memory-mapped checkpoint and its input's
/// statistics from the calibration file, decomposes the layer (LayerQuantizer) and sends the result back
/// (messages.hpp). With one rank the master does the work itself.
///
/// Why results are funnelled to the master (toolchain.md P11, pattern iii): parallel HDF5 makes every
/// metadata operation collective and a killed writer can damage metadata; with one serial writer the store
/// needs no MPI-IO at all and its crash safety is a property of one process's write order. What travels is
/// small next to W: int8 codes (¼ of W's float32 bytes) plus r·(in + out) floats.
///
/// Failures. A worker's exception becomes a Failure message: the master stops handing out work, still
/// stores the results of layers already being computed elsewhere, stops every worker with the failure's
/// exit code, and throws the first failure (InputError for exit code 2) once all have said goodbye; a
/// broken protocol ends in MPI_Abort. Shutdown is one chain, so nothing waits on a rank that has left:
/// master Stop → leader → the group's members leave serve() → the group exchanges exit code and peak RSS
/// (WorkerGroup::finish) → leader Bye → master.
///
/// Reproducibility: with g = 1 every layer is computed by one rank, so any np gives identical bits. With
/// g > 1 every layer is computed on a grid of the same shape, so for a fixed g any np gives identical bits;
/// across g the distributed SVD agrees with LAPACK to rounding (docs/parallel.md), not bit for bit.

#include <filesystem>

#include "parallel/mpi.hpp"
#include "qer/method.hpp"

namespace srr::pipeline {

struct QuantizeJob {
  std::filesystem::path model, calib, out;  ///< calib empty: identity scales only
  /// An allocation plan (srr allocate): per-layer bits, rank and k rule; every other setting from `method`.
  /// Empty: the same settings for every layer. The store records the plan (its text and SHA-256 in the
  /// header config, each layer's bits and rank with the layer) and refuses a resume with another plan.
  std::filesystem::path plan;
  int group_size = 1;                       ///< ranks per worker
  int dist_block = 64;                      ///< ScaLAPACK block size of group grids
  qer::MethodSettings method;
};

/// InputError naming the setting when the job's settings cannot work on any number of ranks. Local.
void validate(const QuantizeJob& job);

/// Runs the job. Collective over `world` (MPI_COMM_WORLD: the messages use its tags). Returns the exit code
/// on worker ranks (the master's verdict); on rank 0 returns 0 or throws the first failure (InputError for
/// bad input), after every worker has stopped. Set-up failures (bad settings against the checkpoint, a
/// calibration file that does not fit, a store that may not be resumed) are thrown on rank 0 and make
/// every other rank return the same exit code before any work starts.
int run_quantize_job(const parallel::Communicator& world, const QuantizeJob& job);

}  // namespace srr::pipeline
