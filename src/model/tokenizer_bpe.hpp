// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The merge loop both tokenizer families share. HF BPE merges the pair of lowest merge rank, llama2.c the
/// pair whose concatenation has the highest score; both take the leftmost pair on ties and repeat until no
/// adjacent pair can merge. Written literally (rescan after every merge, as run.c does) that is quadratic,
/// and a whole corpus encoded as one stream (no pre-tokenizer) has ~10^6 symbols. A heap of candidate pairs
/// keyed by (priority, position) over a linked list makes it O(n log n) with the same result: positions keep
/// their order, so "smallest original position" is "leftmost", and stale heap entries are skipped (the same
/// scheme as HF tokenizers' Word::merge_all).

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <queue>
#include <vector>

#include "base/error.hpp"

namespace srr::model::bpe {

/// A possible merge of one adjacent pair: lower priority merges first; `id` is the merged token.
/// Float is exact for both users: HF ranks (< 2^24, checked) and llama2.c's float scores.
struct Merge {
  float priority;
  int id;
};

/// Key of an ordered pair of ids, for the pair → Merge tables of both tokenizers.
constexpr std::uint64_t pair_key(int left, int right) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) |
         static_cast<std::uint32_t>(right);
}

/// Merges `symbols` in place until no adjacent pair merges. lookup(left, right) returns
/// std::optional<Merge> for the pair (nullopt when the pair never merges).
template <class Lookup>
void merge_all(std::vector<int>& symbols, const Lookup& lookup) {
  using index = std::int32_t;  // 32-bit links keep a candidate at 24 bytes: the heap is the hot loop
  require(symbols.size() < static_cast<std::size_t>(std::numeric_limits<index>::max()),
          "cannot tokenize ", symbols.size(), " characters as one piece");
  const auto n = static_cast<index>(symbols.size());
  if (n < 2) return;
  std::vector<index> prev(static_cast<std::size_t>(n)), next(static_cast<std::size_t>(n));
  for (index i = 0; i < n; ++i) {
    prev[static_cast<std::size_t>(i)] = i - 1;
    next[static_cast<std::size_t>(i)] = i + 1 < n ? i + 1 : -1;
  }
  // A symbol's stamp changes whenever its id does (and when it is merged away), so a candidate is current
  // iff both stamps still match and the two symbols are still neighbours.
  std::vector<std::uint32_t> stamp(static_cast<std::size_t>(n), 0);
  struct Candidate {
    float priority;
    index pos, right;                      // positions of the two symbols
    std::uint32_t pos_stamp, right_stamp;  // their stamps when the candidate was made
    int id;
  };
  // std::priority_queue pops the largest: "larger" = later, i.e. higher priority value, then further right.
  const auto later = [](const Candidate& a, const Candidate& b) {
    return a.priority != b.priority ? a.priority > b.priority : a.pos > b.pos;
  };
  const auto at = [](auto& v, index i) -> auto& { return v[static_cast<std::size_t>(i)]; };
  const auto candidate = [&](index pos) -> std::optional<Candidate> {
    if (pos < 0 || at(next, pos) < 0) return std::nullopt;
    const index right = at(next, pos);
    const std::optional<Merge> m = lookup(at(symbols, pos), at(symbols, right));
    if (!m) return std::nullopt;
    return Candidate{m->priority, pos, right, at(stamp, pos), at(stamp, right), m->id};
  };
  // The initial pairs go in with one O(n) heapify instead of n pushes.
  std::vector<Candidate> initial;
  initial.reserve(static_cast<std::size_t>(n));
  for (index i = 0; i + 1 < n; ++i)
    if (const auto c = candidate(i)) initial.push_back(*c);
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(later)> heap(later, std::move(initial));

  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    // A merged-away right symbol is unlinked, so next[c.pos] != c.right catches it as well.
    if (at(stamp, c.pos) != c.pos_stamp || at(next, c.pos) != c.right || at(stamp, c.right) != c.right_stamp)
      continue;
    at(symbols, c.pos) = c.id;
    ++at(stamp, c.pos);
    ++at(stamp, c.right);  // dead now: every candidate that still names it is stale
    const index after = at(next, c.right);
    at(next, c.pos) = after;
    if (after >= 0) at(prev, after) = c.pos;
    for (const index p : {at(prev, c.pos), c.pos})
      if (const auto fresh = candidate(p)) heap.push(*fresh);
  }
  std::size_t out = 0;
  for (index i = 0; i >= 0; i = at(next, i)) symbols[out++] = at(symbols, i);
  symbols.resize(out);
}

}  // namespace srr::model::bpe
