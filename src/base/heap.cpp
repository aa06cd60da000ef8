// SPDX-License-Identifier: MIT
#include "base/heap.hpp"

#include <cstddef>  // defines __GLIBC__ (from <features.h>) before it is tested below

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace srr {

void keep_freed_memory() {
#if defined(__GLIBC__)
  // Large blocks from the heap (not mmap) and no trimming of its top: freed blocks are reused, already
  // faulted in. 1 GiB: every srr matrix is below it except at 70B shapes, where a fresh mapping costs
  // little next to the work done on it.
  constexpr int kOneGiB = 1 << 30;
  mallopt(M_MMAP_THRESHOLD, kOneGiB);
  mallopt(M_TRIM_THRESHOLD, kOneGiB);
#endif
}

}  // namespace srr
