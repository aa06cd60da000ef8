// SPDX-License-Identifier: MIT
// keep_freed_memory(): a freed block of a layer's size is reused by the next allocation, already faulted in.
// Measured by the process's minor page faults, so the test fails if the setting is lost (as it was while
// heap.cpp tested __GLIBC__ before any header had defined it, which compiled the function to nothing).
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <memory>
#include <numeric>

#include "base/heap.hpp"

namespace {

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

/// Allocates n floats, writes every page, frees them; returns the checksum so nothing is optimized away.
float touch_block(std::size_t n) {
  auto block = std::make_unique<float[]>(n);
  for (std::size_t i = 0; i < n; i += 1024) block[i] = static_cast<float>(i);
  return std::accumulate(block.get(), block.get() + n, 0.0f);
}

#if defined(__GLIBC__)
TEST(Heap, FreedLayerSizedBlockIsReusedWithoutPageFaults) {
  srr::keep_freed_memory();
  constexpr std::size_t n = std::size_t{4096} * 4096;  // 64 MiB: one 4096² float32 matrix
  constexpr long pages = static_cast<long>(n * sizeof(float) / 4096);
  const long f0 = minor_faults();
  volatile float sink = touch_block(n);  // first use: the pages are faulted in
  const long first = minor_faults() - f0;
  sink = touch_block(n);  // the same size again: glibc hands back the block it kept
  const long second = minor_faults() - f0 - first;
  (void)sink;
  EXPECT_GE(first, pages / 2) << "the first allocation should fault its pages in (is the test measuring?)";
  EXPECT_LT(second, pages / 16) << "the freed 64 MiB block was returned to the kernel and faulted in again";
}
#endif

}  // namespace
