// SPDX-License-Identifier: MIT
#include "pipeline/quantize_job.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <thread>

#include "base/error.hpp"
#include "base/file_lock.hpp"
#include "model/checkpoint.hpp"
#include "pipeline/allocation_plan.hpp"
#include "pipeline/layer_quantizer.hpp"
#include "pipeline/log.hpp"
#include "pipeline/messages.hpp"
#include "pipeline/plan.hpp"
#include "pipeline/progress.hpp"
#include "pipeline/scheduler.hpp"
#include "pipeline/worker_group.hpp"
#include "store/calibration.hpp"
#include "store/store.hpp"

namespace srr::pipeline {

void validate(const QuantizeJob& job) {
  require(!job.calib.empty() || job.method.scale.kind == qer::ScaleKind::Identity, "--scale ",
          qer::to_string(job.method.scale.kind), " needs calibration statistics: give --calib FILE (from srr calibrate)");
  require(job.group_size >= 1, "--group-size must be at least 1, got ", job.group_size);
  require(job.dist_block >= 1, "--dist-block must be at least 1, got ", job.dist_block);
}

namespace {

int exit_code_of(const std::exception& e) { return dynamic_cast<const InputError*>(&e) ? 2 : 1; }

/// Rank 0's text on every rank. Collective.
std::string bcast_text(const parallel::Communicator& world, std::string text) {
  text.resize(static_cast<std::size_t>(world.bcast_value(static_cast<std::int64_t>(text.size()), 0)));
  world.bcast(std::span<char>(text.data(), text.size()), 0);
  return text;
}

/// Computes layers on one rank (or, as a group's leader, on its group): a LayerQuantizer on the worker's
/// own memory-mapped checkpoint. `plan_text`: the allocation plan's bytes as the master read them (empty
/// without --plan).
class LayerWorker {
public:
  LayerWorker(const QuantizeJob& job, const std::string& plan_text, int mpi_rank, const parallel::ProcessGrid* grid)
      : rank_(mpi_rank), checkpoint_(model::Checkpoint::open(job.model)),
        quantizer_(checkpoint_, job.method, job.calib, make_svd_engine(job.method.svd, grid, job.dist_block)) {
    if (!job.plan.empty())
      for (auto& [name, s] : plan_settings(parse_plan(plan_text, job.plan), checkpoint_, job.method.layer))
        per_layer_[name] = s;
  }
  store::LayerRecord run(const std::string& name) {
    const auto it = per_layer_.find(name);
    store::LayerRecord record = it == per_layer_.end() ? quantizer_.run(name) : quantizer_.run(name, it->second);
    record.mpi_rank = rank_;
    return record;
  }
  std::int64_t scales_built() const { return quantizer_.scales_built(); }

private:
  int rank_;
  model::Checkpoint checkpoint_;
  LayerQuantizer quantizer_;
  std::map<std::string, qer::LayerSettings> per_layer_;  ///< from the plan; empty without one
};

/// Everything the master sets up before any work is handed out.
struct Run {
  std::optional<FileLock> calib_lock;  ///< shared: no srr calibrate replaces the file while this run reads it
  store::Store store;
  std::vector<WorkItem> todo;
  std::size_t total = 0, done_before = 0;
  std::size_t inputs = 0;  ///< distinct statistics keys among the layers to do
  std::string plan_text;   ///< the allocation plan's bytes, as the store records them (empty without --plan)
};

/// The done marks of a store being resumed, each checked against its layer's checksum: a done layer whose
/// data no longer matches (a damaged disk, an edit) is named, marked not done and computed again.
std::vector<bool> verified_done_marks(store::Store& store) {
  auto done = store.done();
  for (std::size_t i = 0; i < done.size(); ++i) {
    if (!done[i]) continue;
    try {
      store.read_layer(i);
    } catch (const store::ChecksumError& e) {
      SRR_LOG(warning) << e.what();
      store.mark_not_done(i);
      done[i] = false;
    }
  }
  return done;
}

/// Plans the run and opens (or creates) the store. Master only. Every check that can fail on bad input
/// runs here, before the store is touched: the layer settings against every shape, and the calibration
/// file against every input the plan needs.
Run prepare(const QuantizeJob& job) {
  const auto checkpoint = model::Checkpoint::open(job.model);
  nlohmann::json config = qer::to_json(job.method);
  std::optional<AllocationPlan> allocation;
  std::vector<std::pair<std::string, qer::LayerSettings>> per_layer;
  if (!job.plan.empty()) {
    allocation = read_plan(job.plan);
    per_layer = plan_settings(*allocation, checkpoint, job.method.layer);
    // The plan's bytes, so that a resume with another plan (or none) is refused and the store says what made it.
    config["plan"] = {{"sha256", allocation->sha256}, {"text", allocation->text}};
  }
  Plan plan = plan_layers(checkpoint, job.method, allocation ? &per_layer : nullptr);
  std::string calibration = "null";
  std::optional<FileLock> calib_lock;
  if (!job.calib.empty()) {
    calib_lock = store::lock_calibration(job.calib, LockMode::shared);
    require_calibration_fits(job.calib, job.model, plan.items, job.method.scale.kind == qer::ScaleKind::QeraExact);
    calibration = store::calibration_identity(job.calib);
  }
  const store::StoreHeader header{SRR_VERSION, config, checkpoint.identity(), calibration};
  Run run{std::move(calib_lock), store::Store::open_for_run(job.out, header, plan.layout), {}, plan.items.size(),
          0, 0, {}};
  const auto done = verified_done_marks(run.store);
  std::set<std::string> keys;
  for (auto& w : plan.items)
    if (done[w.index]) {
      ++run.done_before;
    } else {
      keys.insert(w.key);
      run.todo.push_back(std::move(w));
    }
  run.inputs = keys.size();
  if (allocation) run.plan_text = allocation->text;
  return run;
}

/// What the master learns from a run with workers.
struct MasterReport {
  int code = 0;
  std::string error;  ///< the first failure
  std::vector<std::int64_t> peak_kib;
  std::int64_t scales_built = 0;
};

/// The master loop for np > 1: hands out layers until none is left (or one failed), stores results, and
/// returns once every worker has said goodbye.
void master_loop(const parallel::Communicator& world, int group_size, Run& run, Progress& progress,
                 MasterReport& report) {
  const int np = world.size();
  Scheduler scheduler(run.todo);
  std::vector<std::optional<WorkItem>> busy(static_cast<std::size_t>(np));
  bool store_ok = true;
  const auto fail = [&](int code, const std::string& message) {
    if (report.code == 0) {
      report.code = code;
      report.error = message;
    }
    SRR_LOG(error) << message;
  };
  const auto hand_out = [&](int w) {
    std::optional<WorkItem> item = report.code == 0 ? scheduler.next(w) : std::nullopt;
    if (item) {
      send(world, w, Assign{item->name});
      busy[static_cast<std::size_t>(w)] = std::move(item);
    } else {
      send(world, w, Stop{});
    }
  };
  for (int w = 1; w < np; w += group_size) hand_out(w);  // the workers: each group's leader
  int running = (np - 1) / group_size;                   // workers that have not said goodbye
  while (running > 0) {
    const auto m = poll(world, parallel::any_source);
    if (!m) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    const int w = m->source;
    auto& slot = busy[static_cast<std::size_t>(w)];
    switch (m->tag) {
      case Tag::Result: {
        if (!slot) throw ProtocolError(detail::concat("a result from rank ", w, ", which has no layer"));
        const WorkItem item = std::move(*slot);
        slot.reset();
        try {
          const auto record = receive_result(world, w);
          if (store_ok) {
            run.store.write_layer(item.index, record);
            progress.finished(item, record);
          }
        } catch (const parallel::MpiError&) {
          throw;
        } catch (const std::exception& e) {
          if (store_ok) fail(exit_code_of(e), "storing " + item.name + " failed: " + e.what());
          store_ok = false;
        }
        hand_out(w);
        break;
      }
      case Tag::Failure: {
        const Failure f = receive_failure(world, w);
        const std::string layer = slot ? slot->name : std::string("its set-up");
        slot.reset();
        fail(f.exit_code, detail::concat("rank ", w, " failed on ", layer, ": ", f.message));
        send(world, w, Stop{});
        break;
      }
      case Tag::Bye: {
        const Bye bye = receive_bye(world, w);
        if (bye.peak_kib.size() != static_cast<std::size_t>(group_size))
          throw ProtocolError(detail::concat("a goodbye from rank ", w, " for ", bye.peak_kib.size(),
                                             " ranks, its group has ", group_size));
        report.scales_built += bye.scales_built;
        for (int i = 0; i < group_size; ++i)
          report.peak_kib[static_cast<std::size_t>(w + i)] = bye.peak_kib[static_cast<std::size_t>(i)];
        --running;
        break;
      }
      default: throw ProtocolError(detail::concat("unexpected message with tag ", static_cast<int>(m->tag),
                                                  " from rank ", w));
    }
  }
}

/// A worker's loop for np > 1 (a group's leader with g > 1): returns at the master's Stop, after finishing
/// the group. Failures of a layer (or of the worker's set-up, reported at its first
/// assignment) go to the master as Failure; only a broken protocol escapes as an exception.
void worker_loop(const parallel::Communicator& world, const QuantizeJob& job, const std::string& plan_text,
                 const WorkerGroup& group) {
  std::unique_ptr<LayerWorker> worker;
  std::optional<Failure> setup_failure;
  try {
    worker = std::make_unique<LayerWorker>(job, plan_text, world.rank(), group.grid());
  } catch (const std::exception& e) {
    setup_failure = Failure{exit_code_of(e), e.what()};
  }
  for (;;) {
    const Envelope m = wait_for(world, 0);
    if (m.tag == Tag::Assign) {
      const Assign assign = receive_assign(world, 0);
      std::optional<Failure> failure = setup_failure;
      if (!failure) {
        try {
          send(world, 0, worker->run(assign.layer));
          continue;
        } catch (const parallel::MpiError&) {
          throw;
        } catch (const std::exception& e) {
          failure = Failure{exit_code_of(e), e.what()};
        }
      }
      SRR_LOG(error) << assign.layer << ": " << failure->message;
      send(world, 0, *failure);
    } else if (m.tag == Tag::Stop) {
      receive_stop(world, 0);
      send(world, 0, Bye{worker ? worker->scales_built() : 0, group.finish(peak_rss_kib())});
      return;
    } else {
      throw ProtocolError(detail::concat("unexpected message with tag ", static_cast<int>(m.tag), " from the master"));
    }
  }
}

/// Takes the whole job down when the message protocol itself has failed (nobody can be told in order).
[[noreturn]] void abort_job(int rank, const std::exception& e) {
  SRR_LOG(fatal) << "rank " << rank << ": " << e.what() << "; aborting the job";
  std::fflush(nullptr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();
}

/// Rank 0 after a successful set-up: computes (np = 1) or coordinates (np > 1), then closes the store and
/// logs the summary. With np = 1 failures are thrown; with np > 1 they come back in the report, once every
/// worker has stopped.
MasterReport run_master(const parallel::Communicator& world, const QuantizeJob& job, Run& run) {
  const int np = world.size();
  const double total_cost = std::accumulate(run.todo.begin(), run.todo.end(), 0.0,
                                            [](double sum, const WorkItem& w) { return sum + w.cost; });
  Progress progress(run.total, run.done_before, total_cost);
  SRR_LOG(info) << "plan: " << run.total << " layers, " << run.done_before << " already done, " << run.todo.size()
                << " to compute on " << (np == 1 ? 1 : (np - 1) / job.group_size) << " worker(s) of "
                << (np == 1 ? 1 : job.group_size) << " rank(s)"
                << (np == 1 && job.group_size > 1 ? " (one rank: --group-size has no effect)" : "") << "; store "
                << job.out.string();
  MasterReport report;
  report.peak_kib.assign(static_cast<std::size_t>(np), 0);
  if (np == 1) {
    if (!run.todo.empty()) {
      LayerWorker worker(job, run.plan_text, 0, nullptr);
      Scheduler scheduler(run.todo);
      while (auto item = scheduler.next(0)) {
        const auto record = worker.run(item->name);
        run.store.write_layer(item->index, record);
        progress.finished(*item, record);
      }
      report.scales_built = worker.scales_built();
    }
  } else {
    try {
      master_loop(world, job.group_size, run, progress, report);
    } catch (const std::exception& e) {
      abort_job(0, e);
    }
  }
  run.store.close();
  report.peak_kib[0] = peak_rss_kib();
  progress.summary(report.peak_kib, report.scales_built, run.inputs);
  return report;
}

}  // namespace

int run_quantize_job(const parallel::Communicator& world, const QuantizeJob& job) {
  validate(job);
  require_whole_groups(job.group_size, world.size());
  const int rank = world.rank();
  // Set-up on the master; its verdict is broadcast (polling) so that every rank leaves together on error.
  std::optional<Run> run;
  std::exception_ptr setup_error;
  int status = 0;
  if (rank == 0) {
    try {
      run.emplace(prepare(job));
    } catch (const std::exception& e) {
      status = exit_code_of(e);
      setup_error = std::current_exception();
    }
  }
  // Rank 0 reports the outcome and carries the job's exit code. The other ranks exit 0 even when the job
  // failed: a rank leaving with a non-zero code makes mpiexec kill rank 0 before it has printed why.
  status = world.bcast_value(status, 0, parallel::Wait::Poll);
  if (status != 0) {
    if (setup_error) std::rethrow_exception(setup_error);
    return 0;
  }

  // The workers parse the plan's bytes as the master read them, never the file again: a plan edited during
  // start-up cannot give them other settings than the store records. Collective.
  const std::string plan_text = job.plan.empty() ? std::string() : bcast_text(world, rank == 0 ? run->plan_text : "");
  const WorkerGroup group(world, job.group_size);
  if (rank != 0) {
    try {
      if (!group.server()) worker_loop(world, job, plan_text, group);
      else {
        group.serve();
        group.finish(peak_rss_kib());
      }
      return 0;
    } catch (const std::exception& e) {
      abort_job(rank, e);
    }
  }
  const MasterReport report = run_master(world, job, *run);
  if (report.code == 2) throw InputError(report.error);
  if (report.code != 0) throw Error(report.error);
  return 0;
}

}  // namespace srr::pipeline
