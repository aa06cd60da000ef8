// SPDX-License-Identifier: MIT
// The MPI layer: communicator ownership and splitting, typed collectives and point-to-point, polling,
// and the error macro.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>

#include "parallel/mpi.hpp"

using namespace srr::parallel;

TEST(Mpi, WorldIsBorrowedAndDupIsOwned) {
  const auto world = Communicator::world();
  EXPECT_FALSE(world.owns());
  EXPECT_FALSE(world.is_null());
  const auto copy = world.dup();
  EXPECT_TRUE(copy.owns());
  EXPECT_EQ(copy.rank(), world.rank());
  EXPECT_EQ(copy.size(), world.size());
  Communicator moved = world.dup();
  const Communicator target = std::move(moved);
  EXPECT_TRUE(moved.is_null());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  EXPECT_TRUE(target.owns());
}

TEST(Mpi, SplitLeavesOutNegativeColors) {
  const auto world = Communicator::world();
  const int rank = world.rank(), size = world.size();
  // Rank 0 stays out (the master); the others form one group in world order.
  const auto workers = world.split(rank == 0 ? -1 : 1, rank);
  if (rank == 0) {
    EXPECT_TRUE(workers.is_null());
  } else {
    ASSERT_FALSE(workers.is_null());
    EXPECT_EQ(workers.size(), size - 1);
    EXPECT_EQ(workers.rank(), rank - 1);
  }
}

TEST(Mpi, TypedCollectives) {
  const auto world = Communicator::world();
  const int rank = world.rank(), size = world.size(), root = size - 1;
  std::array<double, 3> d{};
  std::array<std::int64_t, 2> i64{};
  std::array<std::byte, 4> bytes{};
  if (rank == root) {
    d = {1.5, -2.0, 1e300};
    i64 = {std::int64_t(1) << 40, -7};
    bytes = {std::byte{1}, std::byte{2}, std::byte{3}, std::byte{255}};
  }
  world.bcast(std::span<double>(d), root);
  world.bcast(std::span<std::int64_t>(i64), root, Wait::Poll);
  world.bcast(std::span<std::byte>(bytes), root);
  EXPECT_EQ(d[2], 1e300);
  EXPECT_EQ(i64[0], std::int64_t(1) << 40);
  EXPECT_EQ(bytes[3], std::byte{255});
  EXPECT_EQ(world.bcast_value(rank == root ? 42 : 0, root), 42);

  EXPECT_EQ(world.allreduce_value(rank, ReduceOp::Sum), size * (size - 1) / 2);
  EXPECT_EQ(world.allreduce_value(rank, ReduceOp::Max), size - 1);
  EXPECT_EQ(world.allreduce_value(static_cast<double>(rank) + 0.5, ReduceOp::Min), 0.5);
  std::array<std::int64_t, 2> v{rank, 1};
  world.allreduce(std::span<std::int64_t>(v), ReduceOp::Sum);
  EXPECT_EQ(v[1], size);
  world.barrier(Wait::Poll);
}

TEST(Mpi, PointToPointWithPollingMaster) {
  const auto world = Communicator::world();
  const int rank = world.rank(), size = world.size();
  constexpr int tag = 7;
  if (rank != 0) {
    const std::vector<double> payload(static_cast<std::size_t>(rank), static_cast<double>(rank));
    world.send(std::span<const double>(payload), 0, tag);
    return;
  }
  // The master waits by polling (toolchain.md P9), then receives messages of unknown length.
  int received = 0;
  while (received < size - 1) {
    const auto found = world.iprobe<double>(any_source, tag);
    if (!found) continue;
    EXPECT_EQ(found->count, found->source);
    MessageInfo info;
    const auto data = world.recv_vector<double>(found->source, tag, &info);
    EXPECT_EQ(info.source, found->source);
    EXPECT_EQ(static_cast<int>(data.size()), info.source);
    for (double x : data) EXPECT_EQ(x, info.source);
    ++received;
  }
}

TEST(Mpi, ErrorsBecomeMpiErrorNamingTheCall) {
  const auto world = Communicator::world();
  double x = 0;
  // An invalid root is caught by MPI's argument checks on every rank alike.
  try {
    SRR_MPI_CALL(MPI_Bcast(&x, 1, MPI_DOUBLE, world.size() + 5, world.get()));
    ADD_FAILURE() << "no MpiError";
  } catch (const MpiError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("MPI_Bcast"), std::string::npos) << what;
    EXPECT_NE(what.find("test_mpi.cpp"), std::string::npos) << what;
    EXPECT_NE(e.code(), MPI_SUCCESS);
  }
}
