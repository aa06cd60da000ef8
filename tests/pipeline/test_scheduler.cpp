// SPDX-License-Identifier: MIT
// The scheduler's rules as docs/store.md states them: costliest first, an input's layers kept on the worker
// that started it, takeover of another input's layers at the end; and the simulation bench_schedule runs.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "pipeline/scheduler.hpp"

using namespace srr::pipeline;

namespace {

WorkItem item(std::size_t index, const std::string& key, double cost) {
  return {index, "layer" + std::to_string(index), key, 8, 8, cost};
}

/// Drains the scheduler round-robin over `workers` and returns who got which index, in hand-out order.
std::vector<std::pair<int, std::size_t>> drain(Scheduler& s, int workers) {
  std::vector<std::pair<int, std::size_t>> out;
  for (int w = 0;; w = (w + 1) % workers) {
    const auto next = s.next(w);
    if (!next) break;
    out.emplace_back(w, next->index);
  }
  return out;
}

}  // namespace

TEST(Scheduler, OneWorkerGetsEveryInputCostliestFirstAndStaysOnIt) {
  // Input a: layers of cost 5 and 1; input b: one layer of cost 3. One worker starts a (its costliest
  // layer, 5, is the costliest overall), finishes a (1) before starting b (3).
  Scheduler s({item(0, "a", 1), item(1, "b", 3), item(2, "a", 5)});
  std::vector<std::size_t> order;
  while (auto w = s.next(0)) order.push_back(w->index);
  EXPECT_EQ(order, (std::vector<std::size_t>{2, 0, 1}));
}

TEST(Scheduler, NewInputsGoCostliestFirstToFreeWorkers) {
  Scheduler s({item(0, "a", 2), item(1, "b", 9), item(2, "c", 4), item(3, "d", 7)});
  EXPECT_EQ(s.next(0)->index, 1u);  // costliest of an unstarted input
  EXPECT_EQ(s.next(1)->index, 3u);
  EXPECT_EQ(s.next(2)->index, 2u);
  EXPECT_EQ(s.next(3)->index, 0u);
  EXPECT_FALSE(s.next(0).has_value());
}

TEST(Scheduler, AnInputsLayersStayOnTheWorkerThatStartedIt) {
  // q/k/v share input "qkv" (cost 6, 6, 6); "o" (cost 5) and "down" (cost 4) are inputs of their own.
  Scheduler s({item(0, "qkv", 6), item(1, "qkv", 6), item(2, "qkv", 6), item(3, "o", 5), item(4, "down", 4)});
  const auto got = drain(s, 2);
  std::map<std::string, std::set<int>> owners;
  const std::vector<std::string> key_of = {"qkv", "qkv", "qkv", "o", "down"};
  for (const auto& [w, index] : got) owners[key_of[index]].insert(w);
  // Worker 0 takes qkv, worker 1 takes o, then down (nobody started it) — qkv's remaining layers stay
  // with worker 0 although worker 1 asks in between.
  EXPECT_EQ(owners["qkv"], (std::set<int>{0}));
  EXPECT_EQ(got[1], (std::pair<int, std::size_t>{1, 3}));
  EXPECT_EQ(got[3], (std::pair<int, std::size_t>{1, 4}));
}

TEST(Scheduler, TakesOverAnotherInputsLayersAtTheEnd) {
  // One input with three layers and two workers: worker 1 has nothing of its own, so rather than idle it
  // takes the costliest pending layer of worker 0's input.
  Scheduler s({item(0, "a", 3), item(1, "a", 2), item(2, "a", 1)});
  EXPECT_EQ(s.next(0)->index, 0u);
  EXPECT_EQ(s.next(1)->index, 1u);  // takeover: costliest pending
  EXPECT_EQ(s.next(0)->index, 2u);
  EXPECT_FALSE(s.next(1).has_value());
}

TEST(Scheduler, TiesGoByKeyThenIndex) {
  Scheduler s({item(3, "b", 1), item(2, "a", 1), item(1, "b", 1), item(0, "a", 1)});
  std::vector<std::size_t> order;
  while (auto w = s.next(0)) order.push_back(w->index);
  EXPECT_EQ(order, (std::vector<std::size_t>{0, 2, 1, 3}));
}

TEST(Simulate, MakespanOfTheRealSchedule) {
  // Two workers, unit layer time plus 10 for a scale not in the cache. Input a (3 layers) goes to worker 0,
  // b (1 layer) to worker 1, which then takes over a's last layer and builds a's scale a second time.
  // w0: a0 until 11; w1: b until 11; both free at 11, w0 (lower number) asks first and gets a1 (cached,
  // until 12); w1 takes a2 over (until 22).
  const std::vector<WorkItem> items = {item(0, "a", 3), item(1, "a", 2), item(2, "a", 1), item(3, "b", 2.5)};
  const auto time = [](const WorkItem&, bool cached) { return 1.0 + (cached ? 0.0 : 10.0); };
  const auto sim = simulate(items, 2, time, 2);
  EXPECT_EQ(sim.scales_built, 3);
  EXPECT_DOUBLE_EQ(sim.makespan, 22.0);
  EXPECT_DOUBLE_EQ(sim.busy[0], 12.0);
  EXPECT_DOUBLE_EQ(sim.busy[1], 22.0);
}

TEST(Simulate, OneWorkerBuildsEachScaleOnce) {
  const std::vector<WorkItem> items = {item(0, "a", 4), item(1, "b", 3), item(2, "a", 2)};
  const auto time = [](const WorkItem&, bool cached) { return cached ? 1.0 : 2.0; };
  // One worker: a (4), a (2) while a is cached, then b: two builds with either cache size.
  EXPECT_EQ(simulate(items, 1, time, 1).scales_built, 2);
  EXPECT_DOUBLE_EQ(simulate(items, 1, time, 1).makespan, 5.0);
}
