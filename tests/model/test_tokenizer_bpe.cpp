// SPDX-License-Identifier: MIT
// The heap-based merge loop against the literal one (rescan every pair after each merge, take the lowest
// priority, leftmost on ties), on random merge tables with many equal priorities.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>
#include <vector>

#include "model/tokenizer_bpe.hpp"

using srr::model::bpe::Merge;

namespace {

using Table = std::map<std::pair<int, int>, Merge>;

std::optional<Merge> find(const Table& t, int a, int b) {
  const auto it = t.find({a, b});
  if (it == t.end()) return std::nullopt;
  return it->second;
}

std::vector<int> literal_merge(std::vector<int> s, const Table& t) {
  for (;;) {
    std::optional<std::size_t> best;
    Merge best_merge{0, 0};
    for (std::size_t i = 0; i + 1 < s.size(); ++i)
      if (const auto m = find(t, s[i], s[i + 1]); m && (!best || m->priority < best_merge.priority)) {
        best = i;
        best_merge = *m;
      }
    if (!best) return s;
    s[*best] = best_merge.id;
    s.erase(s.begin() + static_cast<std::ptrdiff_t>(*best) + 1);
  }
}

}  // namespace

TEST(BpeMerge, MatchesTheLiteralLoopOnRandomTables) {
  std::mt19937 rng(12345);
  for (int trial = 0; trial < 300; ++trial) {
    // Ids 0..4 are "characters", merges produce ids 5..29; priorities come from a few values, so ties
    // between different pairs are frequent. A merge may even produce an id that occurs as an input.
    Table table;
    const int n_merges = 1 + static_cast<int>(rng() % 40);
    for (int m = 0; m < n_merges; ++m) {
      const int a = static_cast<int>(rng() % 30), b = static_cast<int>(rng() % 30);
      table[{a, b}] = Merge{static_cast<float>(rng() % 6), static_cast<int>(5 + rng() % 25)};
    }
    for (int k = 0; k < 20; ++k) {
      std::vector<int> s(rng() % 40);
      for (int& x : s) x = static_cast<int>(rng() % 5);
      std::vector<int> fast = s;
      srr::model::bpe::merge_all(fast, [&](int a, int b) { return find(table, a, b); });
      ASSERT_EQ(fast, literal_merge(s, table)) << "trial " << trial << " sequence " << k;
    }
  }
}

TEST(BpeMerge, ShortInputsAreUntouched) {
  std::vector<int> empty, one{7};
  const auto all = [](int, int) { return std::optional<Merge>(Merge{0, 1}); };
  srr::model::bpe::merge_all(empty, all);
  srr::model::bpe::merge_all(one, all);
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(one, std::vector<int>{7});
  std::vector<int> three{1, 1, 1};
  srr::model::bpe::merge_all(three, all);  // everything merges: (1 1) → 1, then (1 1) → 1
  EXPECT_EQ(three, std::vector<int>{1});
}
