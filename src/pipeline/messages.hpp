// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The messages of a quantize job between the master (rank 0) and its workers, on MPI_COMM_WORLD, typed:
///
///   master → worker  Assign   the layer to compute (its name; the master keeps which index it stands for)
///   worker → master  Result   the layer's store::LayerRecord (store::serialize)
///   worker → master  Failure  exit code (1 = error, 2 = bad input) and the message, of a layer or of the
///                             worker's set-up
///   master → worker  Stop     (empty) no more work: finish and say goodbye
///   worker → master  Bye      scales the worker built, and the peak RSS of each rank of its group
///
/// Every message is one MPI message whose tag says its type; waiting is by MPI_Iprobe and a 1 ms sleep
/// (toolchain.md P9). A message of a type the receiver does not expect at that point, or one whose bytes
/// do not decode, is a broken protocol: ProtocolError.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "parallel/mpi.hpp"
#include "store/record.hpp"

namespace srr::pipeline {

enum class Tag : int { Assign = 11, Result = 12, Failure = 13, Stop = 14, Bye = 15 };

struct Assign {
  std::string layer;
};
struct Failure {
  int exit_code = 1;
  std::string message;
};
struct Stop {};
struct Bye {
  std::int64_t scales_built = 0;
  std::vector<std::int64_t> peak_kib;  ///< per rank of the worker's group, group rank order
};

/// A message that breaks the protocol (unexpected type, undecodable bytes).
class ProtocolError : public Error {
public:
  using Error::Error;
};

/// Where a waiting message comes from and what it is.
struct Envelope {
  int source = 0;
  Tag tag = Tag::Assign;
};

/// The next message from `source` (or parallel::any_source) if one has arrived; ProtocolError on a tag
/// that is not a Tag. Point-to-point; does not receive it.
std::optional<Envelope> poll(const parallel::Communicator& comm, int source);
/// Waits for the next message from `source`, polling every millisecond.
Envelope wait_for(const parallel::Communicator& comm, int source);

/// Blocking sends (point-to-point).
void send(const parallel::Communicator& comm, int dest, const Assign& m);
void send(const parallel::Communicator& comm, int dest, const store::LayerRecord& result);
void send(const parallel::Communicator& comm, int dest, const Failure& m);
void send(const parallel::Communicator& comm, int dest, const Stop&);
void send(const parallel::Communicator& comm, int dest, const Bye& m);

/// Receives the message `poll`/`wait_for` announced from `source`; each checks the tag it is for.
Assign receive_assign(const parallel::Communicator& comm, int source);
store::LayerRecord receive_result(const parallel::Communicator& comm, int source);
Failure receive_failure(const parallel::Communicator& comm, int source);
Stop receive_stop(const parallel::Communicator& comm, int source);
Bye receive_bye(const parallel::Communicator& comm, int source);

}  // namespace srr::pipeline
