// SPDX-License-Identifier: MIT
// GoogleTest main for the MPI tests. Every rank runs every test; only rank 0 keeps gtest's printer, the
// other ranks print their own failures tagged with their rank, and the verdict is all-reduced so that the
// exit code is non-zero on every rank if any rank failed (and no rank waits for another at the end).
#include <gtest/gtest.h>

#include <cstdio>

#include "parallel/mpi.hpp"

namespace {

/// Reports a non-root rank's failures on stderr (rank 0's go through gtest's own printer).
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_, r.file_name() ? r.file_name() : "?",
                 r.line_number(), r.message());
  }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (info.result()->Failed())
      std::fprintf(stderr, "[rank %d] FAILED %s.%s\n", rank_, info.test_suite_name(), info.name());
  }

private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  srr::parallel::MpiEnvironment env(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  const auto world = srr::parallel::Communicator::world();
  const int rank = world.rank();
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(rank));
  }
  const int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  const int failed_ranks = world.allreduce_value(failed, srr::parallel::ReduceOp::Sum);
  if (rank == 0 && failed_ranks > 0)
    std::fprintf(stderr, "%d of %d ranks had failures\n", failed_ranks, world.size());
  return failed_ranks > 0 ? 1 : 0;
}
