// SPDX-License-Identifier: MIT
#pragma once

namespace srr {

/// Makes the process keep the memory it frees for its next allocations instead of returning it to the
/// kernel. srr allocates and frees m×m and m×n matrices of 64–500 MB per layer; by default glibc maps each
/// one afresh and unmaps it on free, so every layer pays a first-touch page fault per 4 KiB page again. In
/// a virtual machine that is ~11 µs a page: 0.18 s for a fresh 64 MiB block, against 0.004 s reused
/// (docs/whitening.md, "The allocator, in effect"). Peak RSS grows a little (1.5–6 % per quantize worker,
/// docs/scaling.md) and not with depth; RSS between layers stays at the peak. Call once, first thing in
/// main(); no effect where <malloc.h> has no mallopt thresholds (outside glibc).
void keep_freed_memory();

}  // namespace srr
