// SPDX-License-Identifier: MIT
#include "base/heap.hpp"

// Keyed on the mallopt parameters themselves, not on a libc macro: an earlier version tested __GLIBC__
// before any header had defined it, and the whole function compiled to nothing (tests/base/test_heap.cpp).
#if __has_include(<malloc.h>)
#include <malloc.h>
#endif

namespace srr {

void keep_freed_memory() {
#if defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
  // Large blocks from the heap (not mmap) and no trimming of its top: freed blocks are reused, already
  // faulted in. 1 GiB: every srr matrix is below it except at 70B shapes, where a fresh mapping costs
  // little next to the work done on it.
  constexpr int kOneGiB = 1 << 30;
  mallopt(M_MMAP_THRESHOLD, kOneGiB);
  mallopt(M_TRIM_THRESHOLD, kOneGiB);
#endif
}

}  // namespace srr
