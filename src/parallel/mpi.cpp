// SPDX-License-Identifier: MIT
#include "parallel/mpi.hpp"

#include <chrono>
#include <climits>
#include <thread>
#include <utility>

#include "la/scalapack.hpp"

namespace srr::parallel {

namespace {

std::string error_string(int code) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return "unknown MPI error";
  return std::string(text, static_cast<std::size_t>(length));
}

bool mpi_is_live() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

MPI_Op to_mpi(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return MPI_SUM;
    case ReduceOp::Max: return MPI_MAX;
    case ReduceOp::Min: return MPI_MIN;
  }
  return MPI_OP_NULL;
}

MessageInfo to_info(const MPI_Status& status, MPI_Datatype type) {
  int n = 0;
  SRR_MPI_CALL(MPI_Get_count(&status, type, &n));
  return {status.MPI_SOURCE, status.MPI_TAG, n};
}

}  // namespace

MpiError::MpiError(const char* call, int code, const char* file, int line)
    : Error(detail::concat(call, " failed: ", error_string(code), " (", file, ":", line, ")")), code_(code) {}

MpiEnvironment::MpiEnvironment(int& argc, char**& argv) {
  int initialized = 0;
  SRR_MPI_CALL(MPI_Initialized(&initialized));
  if (initialized) {
    SRR_MPI_CALL(MPI_Query_thread(&provided_));
    return;
  }
  // Until the handler below is installed MPI aborts on error, so there is nothing to check here.
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided_);
  owns_ = true;
  SRR_MPI_CALL(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  if (provided_ < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    owns_ = false;
    throw Error("MPI granted thread level " + std::to_string(provided_) + ", srr needs MPI_THREAD_FUNNELED");
  }
}

MpiEnvironment::~MpiEnvironment() {
  if (!owns_ || !mpi_is_live()) return;
  // The BLACS keep MPI communicators of their own; release them (but never let the BLACS finalize MPI).
  la::blacs::release();
  MPI_Finalize();
}

Communicator::Communicator(MPI_Comm comm, Ownership ownership) : comm_(comm), ownership_(ownership) {}

Communicator::~Communicator() { reset(); }

Communicator::Communicator(Communicator&& other) noexcept
    : comm_(std::exchange(other.comm_, MPI_COMM_NULL)),
      ownership_(std::exchange(other.ownership_, Ownership::Borrowed)) {}

Communicator& Communicator::operator=(Communicator&& other) noexcept {
  if (this != &other) {
    reset();
    comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
    ownership_ = std::exchange(other.ownership_, Ownership::Borrowed);
  }
  return *this;
}

void Communicator::reset() noexcept {
  // After MPI_Finalize nothing can be freed; MPI has released everything anyway.
  if (ownership_ == Ownership::Owned && comm_ != MPI_COMM_NULL && mpi_is_live()) MPI_Comm_free(&comm_);
  comm_ = MPI_COMM_NULL;
  ownership_ = Ownership::Borrowed;
}

Communicator Communicator::world() { return Communicator(MPI_COMM_WORLD, Ownership::Borrowed); }

int Communicator::rank() const {
  SRR_ASSERT(!is_null());
  int r = 0;
  SRR_MPI_CALL(MPI_Comm_rank(comm_, &r));
  return r;
}

int Communicator::size() const {
  SRR_ASSERT(!is_null());
  int s = 0;
  SRR_MPI_CALL(MPI_Comm_size(comm_, &s));
  return s;
}

Communicator Communicator::dup() const {
  SRR_ASSERT(!is_null());
  MPI_Comm out = MPI_COMM_NULL;
  SRR_MPI_CALL(MPI_Comm_dup(comm_, &out));
  return Communicator(out, Ownership::Owned);
}

Communicator Communicator::split(int color, int key) const {
  SRR_ASSERT(!is_null());
  MPI_Comm out = MPI_COMM_NULL;
  SRR_MPI_CALL(MPI_Comm_split(comm_, color < 0 ? MPI_UNDEFINED : color, key, &out));
  return out == MPI_COMM_NULL ? Communicator() : Communicator(out, Ownership::Owned);
}

Communicator Communicator::split_shared() const {
  SRR_ASSERT(!is_null());
  MPI_Comm out = MPI_COMM_NULL;
  SRR_MPI_CALL(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank(), MPI_INFO_NULL, &out));
  return Communicator(out, Ownership::Owned);
}

void Communicator::barrier(Wait wait) const {
  SRR_ASSERT(!is_null());
  if (wait == Wait::Block) {
    SRR_MPI_CALL(MPI_Barrier(comm_));
    return;
  }
  MPI_Request request = MPI_REQUEST_NULL;
  SRR_MPI_CALL(MPI_Ibarrier(comm_, &request));
  wait_polling(request);
}

int Communicator::count(std::size_t n) {
  if (n > static_cast<std::size_t>(INT_MAX))
    throw Error("an MPI message of " + std::to_string(n) + " elements exceeds the int count");
  return static_cast<int>(n);
}

void Communicator::bcast_raw(void* data, int n, MPI_Datatype type, int root, Wait wait) const {
  SRR_ASSERT(!is_null());
  if (wait == Wait::Block) {
    SRR_MPI_CALL(MPI_Bcast(data, n, type, root, comm_));
    return;
  }
  MPI_Request request = MPI_REQUEST_NULL;
  SRR_MPI_CALL(MPI_Ibcast(data, n, type, root, comm_, &request));
  wait_polling(request);
}

void Communicator::allreduce_raw(void* data, int n, MPI_Datatype type, ReduceOp op) const {
  SRR_ASSERT(!is_null());
  SRR_MPI_CALL(MPI_Allreduce(MPI_IN_PLACE, data, n, type, to_mpi(op), comm_));
}

void Communicator::reduce_raw(void* data, int n, MPI_Datatype type, ReduceOp op, int root) const {
  SRR_ASSERT(!is_null());
  if (rank() == root)
    SRR_MPI_CALL(MPI_Reduce(MPI_IN_PLACE, data, n, type, to_mpi(op), root, comm_));
  else
    SRR_MPI_CALL(MPI_Reduce(data, nullptr, n, type, to_mpi(op), root, comm_));
}

void Communicator::send_raw(const void* data, int n, MPI_Datatype type, int dest, int tag) const {
  SRR_ASSERT(!is_null());
  SRR_MPI_CALL(MPI_Send(data, n, type, dest, tag, comm_));
}

MessageInfo Communicator::recv_raw(void* data, int n, MPI_Datatype type, int source, int tag) const {
  SRR_ASSERT(!is_null());
  MPI_Status status;
  SRR_MPI_CALL(MPI_Recv(data, n, type, source, tag, comm_, &status));
  return to_info(status, type);
}

MessageInfo Communicator::probe(int source, int tag, MPI_Datatype type) const {
  SRR_ASSERT(!is_null());
  MPI_Status status;
  SRR_MPI_CALL(MPI_Probe(source, tag, comm_, &status));
  return to_info(status, type);
}

std::optional<MessageInfo> Communicator::iprobe_raw(int source, int tag, MPI_Datatype type) const {
  SRR_ASSERT(!is_null());
  int flag = 0;
  MPI_Status status;
  SRR_MPI_CALL(MPI_Iprobe(source, tag, comm_, &flag, &status));
  if (!flag) return std::nullopt;
  return to_info(status, type);
}

void wait_polling(MPI_Request& request) {
  for (;;) {
    int done = 0;
    SRR_MPI_CALL(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
    if (done) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace srr::parallel
