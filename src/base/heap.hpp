// SPDX-License-Identifier: MIT
#pragma once

namespace srr {

/// Makes the process keep the memory it frees for its next allocations instead of returning it to the
/// kernel. srr allocates and frees m×m and m×n matrices of 64–500 MB per layer; by default glibc maps each
/// one afresh and unmaps it on free, so every layer pays a first-touch page fault per 4 KiB page again. In
/// a virtual machine that is ~20 µs a page: a 4096² float64 copy took 0.6 s instead of 0.008 s, a quarter of
/// a QERA-exact layer's time (docs/whitening.md). Peak RSS is unchanged (the same sizes recur); RSS between
/// layers stays at the peak. Call once, first thing in main(); no effect outside glibc.
void keep_freed_memory();

}  // namespace srr
