// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// RAII over the MPI C API: the environment, communicator handles with explicit ownership, typed
/// point-to-point and collective helpers, and the one error macro SRR_MPI_CALL.
///
/// Error policy (design.md): every MPI failure becomes an MpiError carrying MPI_Error_string. For that to
/// happen MPI must return errors instead of aborting, so MpiEnvironment installs MPI_ERRORS_RETURN on
/// MPI_COMM_WORLD; communicators derived from it (dup, split) inherit the handler.
///
/// Waiting: a rank blocked in an MPI call spins at ~100 % CPU (toolchain.md P9). On a machine where ranks
/// share cores that steals time from the ranks doing work, so the helpers that wait for something that may
/// take long (a command for an idle server, a barrier at the end of a phase) take a Wait::Poll mode: the
/// non-blocking collective is started and tested every millisecond with a sleep in between. Blocking and
/// non-blocking collectives never match each other in MPI, so every rank of a collective must pass the
/// same Wait.

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace srr::parallel {

/// An MPI call returned an error code.
class MpiError : public Error {
public:
  MpiError(const char* call, int code, const char* file, int line);
  int code() const { return code_; }

private:
  int code_;
};

}  // namespace srr::parallel

/// The one error macro for MPI: a return code other than MPI_SUCCESS throws MpiError naming the call, the
/// decoded MPI error string, the file and the line.
#define SRR_MPI_CALL(...)                                                          \
  do {                                                                             \
    const int srr_mpi_rc_ = (__VA_ARGS__);                                         \
    if (srr_mpi_rc_ != MPI_SUCCESS)                                                \
      throw ::srr::parallel::MpiError(#__VA_ARGS__, srr_mpi_rc_, __FILE__, __LINE__);  \
  } while (0)

namespace srr::parallel {

/// MPI for the lifetime of the object: MPI_Init_thread(FUNNELED) in the constructor — only the main
/// thread calls MPI, while OpenBLAS may run its own threads — and, in the destructor, release of the
/// BLACS's internal state followed by MPI_Finalize. If MPI was already initialised by someone else the
/// object neither changes the error handler nor finalizes. Construct it first in main() and let every
/// communicator and process grid die before it. Not copyable, not movable.
class MpiEnvironment {
public:
  MpiEnvironment(int& argc, char**& argv);
  ~MpiEnvironment();
  MpiEnvironment(const MpiEnvironment&) = delete;
  MpiEnvironment& operator=(const MpiEnvironment&) = delete;

  /// The thread support level MPI granted.
  int thread_level() const { return provided_; }
  /// True when this object initialised MPI and will finalize it.
  bool owns_mpi() const { return owns_; }

private:
  bool owns_ = false;
  int provided_ = MPI_THREAD_SINGLE;
};

/// Element types the typed helpers accept, mapped to their MPI datatypes.
template <class T>
struct MpiType;
template <>
struct MpiType<double> {
  static MPI_Datatype get() { return MPI_DOUBLE; }
};
template <>
struct MpiType<float> {
  static MPI_Datatype get() { return MPI_FLOAT; }
};
template <>
struct MpiType<int> {
  static MPI_Datatype get() { return MPI_INT; }
};
template <>
struct MpiType<std::int64_t> {
  static MPI_Datatype get() { return MPI_INT64_T; }
};
template <>
struct MpiType<std::uint64_t> {
  static MPI_Datatype get() { return MPI_UINT64_T; }
};
template <>
struct MpiType<char> {
  static MPI_Datatype get() { return MPI_CHAR; }
};
template <>
struct MpiType<std::byte> {
  static MPI_Datatype get() { return MPI_BYTE; }
};

template <class T>
concept MpiElement = requires { MpiType<T>::get(); };

enum class ReduceOp { Sum, Max, Min };
enum class Wait { Block, Poll };

/// Who frees the MPI_Comm: Borrowed handles never free it (MPI_COMM_WORLD, a communicator owned
/// elsewhere); Owned handles call MPI_Comm_free in their destructor.
enum class Ownership { Borrowed, Owned };

/// What a receive or probe found.
struct MessageInfo {
  int source = -1;
  int tag = -1;
  std::int64_t count = 0;  ///< elements of the requested type
};

inline constexpr int any_source = MPI_ANY_SOURCE;
inline constexpr int any_tag = MPI_ANY_TAG;

/// A communicator handle. Move-only, so ownership is never ambiguous; a default-constructed or
/// split-out handle is null (the rank is not a member), and every operation on a null handle is a bug.
class Communicator {
public:
  Communicator() = default;
  Communicator(MPI_Comm comm, Ownership ownership);
  ~Communicator();
  Communicator(Communicator&& other) noexcept;
  Communicator& operator=(Communicator&& other) noexcept;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  /// MPI_COMM_WORLD, borrowed.
  static Communicator world();

  MPI_Comm get() const { return comm_; }
  bool is_null() const { return comm_ == MPI_COMM_NULL; }
  bool owns() const { return ownership_ == Ownership::Owned; }
  int rank() const;
  int size() const;

  /// An owned duplicate (MPI_Comm_dup). Collective over this communicator.
  Communicator dup() const;
  /// An owned sub-communicator of the ranks that pass the same color, ordered by key (MPI_Comm_split).
  /// A negative color leaves this rank out: it gets a null handle. Collective over this communicator.
  Communicator split(int color, int key) const;
  /// An owned sub-communicator of the ranks that share this rank's memory (one per node,
  /// MPI_Comm_split_type SHARED). Collective over this communicator.
  Communicator split_shared() const;

  /// Collective over this communicator.
  void barrier(Wait wait = Wait::Block) const;

  /// Broadcasts data from root; every rank passes a span of the same length. Collective over this
  /// communicator; all ranks pass the same Wait.
  template <MpiElement T>
  void bcast(std::span<T> data, int root, Wait wait = Wait::Block) const {
    bcast_raw(data.data(), count(data.size()), MpiType<T>::get(), root, wait);
  }
  /// Broadcasts one value from root and returns it on every rank. Collective over this communicator.
  template <MpiElement T>
  T bcast_value(T value, int root, Wait wait = Wait::Block) const {
    bcast(std::span<T>(&value, 1), root, wait);
    return value;
  }

  /// Element-wise reduction of data over all ranks, result on every rank. Collective over this
  /// communicator.
  template <MpiElement T>
  void allreduce(std::span<T> data, ReduceOp op) const {
    allreduce_raw(data.data(), count(data.size()), MpiType<T>::get(), op);
  }
  template <MpiElement T>
  T allreduce_value(T value, ReduceOp op) const {
    allreduce(std::span<T>(&value, 1), op);
    return value;
  }

  /// Element-wise reduction of data over all ranks into `root`'s span (other ranks' spans are left as they
  /// were). Collective over this communicator.
  template <MpiElement T>
  void reduce(std::span<T> data, ReduceOp op, int root) const {
    reduce_raw(data.data(), count(data.size()), MpiType<T>::get(), op, root);
  }

  /// Blocking standard-mode send. Point-to-point.
  template <MpiElement T>
  void send(std::span<const T> data, int dest, int tag) const {
    send_raw(data.data(), count(data.size()), MpiType<T>::get(), dest, tag);
  }
  /// Blocking receive of at most data.size() elements; returns the source, tag and element count.
  template <MpiElement T>
  MessageInfo recv(std::span<T> data, int source, int tag) const {
    return recv_raw(data.data(), count(data.size()), MpiType<T>::get(), source, tag);
  }
  /// Receives a message of any length into a vector sized from a probe.
  template <MpiElement T>
  std::vector<T> recv_vector(int source, int tag, MessageInfo* info = nullptr) const {
    const MessageInfo found = probe(source, tag, MpiType<T>::get());
    std::vector<T> out(static_cast<std::size_t>(found.count));
    const MessageInfo got = recv(std::span<T>(out), found.source, found.tag);
    if (info) *info = got;
    return out;
  }
  /// Non-blocking probe for a message (MPI_Iprobe): the way a master waits without burning a core.
  /// Count is in elements of T.
  template <MpiElement T>
  std::optional<MessageInfo> iprobe(int source, int tag) const {
    return iprobe_raw(source, tag, MpiType<T>::get());
  }

private:
  static int count(std::size_t n);
  void bcast_raw(void* data, int n, MPI_Datatype type, int root, Wait wait) const;
  void allreduce_raw(void* data, int n, MPI_Datatype type, ReduceOp op) const;
  void reduce_raw(void* data, int n, MPI_Datatype type, ReduceOp op, int root) const;
  void send_raw(const void* data, int n, MPI_Datatype type, int dest, int tag) const;
  MessageInfo recv_raw(void* data, int n, MPI_Datatype type, int source, int tag) const;
  MessageInfo probe(int source, int tag, MPI_Datatype type) const;
  std::optional<MessageInfo> iprobe_raw(int source, int tag, MPI_Datatype type) const;
  void reset() noexcept;

  MPI_Comm comm_ = MPI_COMM_NULL;
  Ownership ownership_ = Ownership::Borrowed;
};

/// Completes a request by testing it every millisecond and sleeping in between (see Wait::Poll).
void wait_polling(MPI_Request& request);

}  // namespace srr::parallel
