// SPDX-License-Identifier: MIT
// `srr quantize`: every linear layer of a checkpoint, as one MPI job, into a crash-safe store.
//
// Roles. Rank 0 is the master: it plans, owns the store (the only process that opens it) and hands out
// layers one at a time; every other rank is a worker that reads its layer's weights from the memory-mapped
// checkpoint and its input's statistics from the calibration file, decomposes the layer, and sends the
// result back. With one rank the master does the work itself.
//
// Why results are funnelled to the master (toolchain.md P11, pattern iii): parallel HDF5 makes every
// metadata operation collective and a killed writer can damage metadata; with one serial writer the store
// needs no MPI-IO at all and its crash safety is a property of one process's write order (docs/store.md).
// What travels is small next to W: int8 codes (¼ of W's float32 bytes) plus r·(in + out) floats.
//
// Messages on MPI_COMM_WORLD (all waiting is by MPI_Iprobe + 1 ms sleep, toolchain.md P9):
//   master → worker  kAssign  "<index> <layer name>"     worker → master  kResult   serialized LayerRecord
//   master → worker  kStop    exit code (int)            worker → master  kFailure  "<code><message>"
//                                                         worker → master  kBye      int64: scales built, then
//                                                                                    peak RSS (KiB) of each of
//                                                                                    the worker's g ranks
// A worker's exception becomes a kFailure: the master stops handing out work, still stores the results of
// layers already being computed elsewhere, stops every worker with the failure's exit code, and exits with
// the message; anything that breaks the protocol itself ends in MPI_Abort.
//
// Group mode (--group-size g > 1): ranks 1..np−1 split into groups of g consecutive ranks, each a BLACS grid
// (parallel::ProcessGrid on its own sub-communicator, which leaves the master out). The group's rank 0, its
// leader, is "the worker" of the protocol above: only it talks to the master, and its LayerQuantizer runs
// the truncated SVDs and the QERA-exact eigendecomposition (qer::build_scale) through a
// parallel::DistributedSvdEngine on the group (make_svd_engine). The other members sit asleep in serve() from
// the start to the end of the run and never touch the checkpoint. Shutdown is one chain, so nothing can
// wait on a rank that has left: master kStop → leader → stop() releases the members from serve() → the
// group exchanges its exit code and peak RSS (WorkerGroup::finish) → leader kBye → master.
//
// Reproducibility: with g = 1 every layer is computed by one rank, so any np gives identical bits. With g > 1
// every layer is computed on a grid of the same shape, so for a fixed g any np gives identical bits; across
// g the distributed SVD agrees with LAPACK to rounding (docs/dist.md), not bit for bit.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <iomanip>
#include <memory>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "app/cli.hpp"
#include "app/quantized_model.hpp"
#include "app/commands.hpp"
#include "app/logging.hpp"
#include "app/report.hpp"
#include "base/error.hpp"
#include "base/timer.hpp"
#include "parallel/dist_svd.hpp"
#include "parallel/grid.hpp"
#include "parallel/mpi.hpp"
#include "model/checkpoint.hpp"
#include "model/linear_inputs.hpp"
#include "store/calibration.hpp"
#include "store/store.hpp"

namespace srr::app {

using la::index_t;

namespace {

constexpr const char* kUsage =
    "usage: mpirun -np N srr quantize --model PATH --out STORE.h5 [--calib CALIB.h5] [method options]\n"
    "Quantizes every q/k/v/o/gate/up/down layer of the checkpoint as W ≈ Q + L·R into an HDF5 store\n"
    "(docs/store.md). Rank 0 coordinates and writes; the other ranks compute. A killed run resumes: rerun\n"
    "the same command and layers already done are skipped.";

enum Tag : int { kAssign = 11, kResult = 12, kFailure = 13, kStop = 14, kBye = 15 };

struct Options {
  std::string model, calib, out;
  int group_size = 1;
  int dist_block = 64;  ///< ScaLAPACK block size of group grids
  MethodConfig method;
};

Options read_options(const po::variables_map& vm) {
  Options o;
  require(vm.count("model") > 0, "--model PATH is required");
  require(vm.count("out") > 0, "--out STORE is required");
  o.model = vm["model"].as<std::string>();
  o.out = vm["out"].as<std::string>();
  if (vm.count("calib")) o.calib = vm["calib"].as<std::string>();
  o.group_size = vm["group-size"].as<int>();
  o.dist_block = vm["dist-block"].as<int>();
  o.method = method_config(vm);
  require(!o.calib.empty() || o.method.scale.kind == qer::ScaleKind::Identity, "--scale ",
          qer::to_string(o.method.scale.kind), " needs calibration statistics: give --calib FILE (from srr calibrate)");
  require(o.group_size >= 1, "--group-size must be at least 1, got ", o.group_size);
  require(o.dist_block >= 1, "--dist-block must be at least 1, got ", o.dist_block);
  return o;
}

/// The job's shape against --group-size: the np − 1 worker ranks must form whole groups. Local; every rank
/// reaches the same verdict, so all leave together before any message is sent.
void check_group_size(const Options& opt, int np) {
  require(np == 1 || (np - 1) % opt.group_size == 0, "--group-size ", opt.group_size, " does not divide the ",
          np - 1, " worker rank(s) of this job (np − 1 with np = ", np, "): run with np = 1 + a multiple of ",
          opt.group_size);
}

/// One layer to compute.
struct WorkItem {
  std::size_t index = 0;  ///< in the store's layout
  std::string name;
  std::string key;        ///< model::statistics_key: layers with equal keys share a scale
  index_t in = 0, out = 0;
  double cost = 0;
};

/// Estimated work of a layer: the SVDs and products of decompose_layer are O(in·out·(in + r)).
double estimated_cost(index_t in, index_t out, index_t rank) {
  return static_cast<double>(in) * static_cast<double>(out) * static_cast<double>(in + rank);
}

/// Hands out layers, costliest first, keeping the layers of one input on one worker where it can so that
/// each scale is built once: a worker gets (1) a pending layer of an input it started, else (2) the
/// costliest layer of an input nobody started, else (3) the costliest pending layer (it rebuilds that
/// scale, which beats idling at the end of a run).
class Scheduler {
public:
  explicit Scheduler(std::vector<WorkItem> items) : pending_(std::move(items)) {
    std::stable_sort(pending_.begin(), pending_.end(), [](const WorkItem& a, const WorkItem& b) {
      if (a.cost != b.cost) return a.cost > b.cost;
      if (a.key != b.key) return a.key < b.key;
      return a.index < b.index;
    });
  }
  std::optional<WorkItem> next(int worker) {
    auto pick = std::find_if(pending_.begin(), pending_.end(), [&](const WorkItem& w) {
      const auto it = owner_.find(w.key);
      return it != owner_.end() && it->second == worker;
    });
    if (pick == pending_.end())
      pick = std::find_if(pending_.begin(), pending_.end(), [&](const WorkItem& w) { return !owner_.count(w.key); });
    if (pick == pending_.end()) pick = pending_.begin();
    if (pick == pending_.end()) return std::nullopt;
    owner_.emplace(pick->key, worker);
    WorkItem w = std::move(*pick);
    pending_.erase(pick);
    return w;
  }

private:
  std::vector<WorkItem> pending_;
  std::map<std::string, int> owner_;
};

/// The SVD engine of one worker: LAPACK on its own rank (g = 1, grid null), or a DistributedSvdEngine over
/// its group's grid (block × block tiles), called by the leader while the other members serve().
std::unique_ptr<qer::SvdEngine> make_svd_engine(const MethodConfig& cfg, const parallel::ProcessGrid* grid, int block) {
  if (!grid) return std::make_unique<qer::LocalSvdEngine>(cfg.svd);
  return std::make_unique<parallel::DistributedSvdEngine>(*grid, cfg.svd, block);
}

/// This rank's worker group. With g = 1 (or np = 1) there is none and nothing collective happens. With
/// g > 1 the worker ranks 1..np−1 form groups of g consecutive ranks, each with its own communicator and
/// BLACS grid; the master belongs to none.
class WorkerGroup {
public:
  /// Collective over `world` when group_size > 1 (MPI_Comm_split, the master included), then over each
  /// new group (ProcessGrid). Requires (np − 1) % group_size == 0 (check_group_size).
  WorkerGroup(const parallel::Communicator& world, int group_size) : size_(group_size) {
    if (size_ == 1 || world.size() == 1) return;
    const int rank = world.rank();
    comm_ = world.split(rank == 0 ? -1 : (rank - 1) / size_, rank);
    if (!comm_.is_null()) grid_.emplace(comm_);
  }
  WorkerGroup(const WorkerGroup&) = delete;
  WorkerGroup& operator=(const WorkerGroup&) = delete;

  /// The group's grid; null without groups (the master, or g = 1).
  const parallel::ProcessGrid* grid() const { return grid_ ? &*grid_ : nullptr; }
  /// True on a member that is not the leader: it serves instead of speaking to the master.
  bool server() const { return grid_ && grid_->rank() != 0; }

  /// Members other than the leader: joins the leader's distributed SVDs until the leader's stop().
  /// Collective over the group, command by command.
  void serve() const { parallel::DistributedSvdEngine(*grid_, {}).serve(); }

  /// The end of the group's run, called by every rank with a worker role (g = 1 included, where it is
  /// local). The leader first releases the members from serve(); then every member contributes its peak
  /// RSS and the leader its exit code. Returns {exit code, peak RSS (KiB) of group rank 0, 1, ...} on
  /// every member. Collective over the group.
  std::vector<std::int64_t> finish(int code, std::int64_t peak_kib) const {
    std::vector<std::int64_t> report(static_cast<std::size_t>(size_) + 1, 0);
    if (!grid_) {
      report[0] = code;
      report[1] = peak_kib;
      return report;
    }
    // The stop header is all a server needs; the engine keeps no state besides its grid and settings.
    if (grid_->rank() == 0) {
      parallel::DistributedSvdEngine(*grid_, {}).stop();
      report[0] = code;
    }
    report[static_cast<std::size_t>(grid_->rank()) + 1] = peak_kib;
    grid_->communicator().allreduce(std::span<std::int64_t>(report), parallel::ReduceOp::Sum);
    return report;
  }

private:
  int size_;
  parallel::Communicator comm_;
  std::optional<parallel::ProcessGrid> grid_;
};

/// Computes layers on one rank (or, as a group's leader, on its group): a LayerQuantizer on the worker's
/// own memory-mapped checkpoint.
class LayerWorker {
public:
  LayerWorker(const Options& opt, int mpi_rank, const parallel::ProcessGrid* grid)
      : rank_(mpi_rank), checkpoint_(model::Checkpoint::open(opt.model)),
        quantizer_(checkpoint_, opt.method, opt.calib, make_svd_engine(opt.method, grid, opt.dist_block)) {}
  store::LayerRecord run(const std::string& name) {
    store::LayerRecord record = quantizer_.run(name);
    record.mpi_rank = rank_;
    return record;
  }
  std::int64_t scales_built() const { return quantizer_.scales_built(); }

private:
  int rank_;
  model::Checkpoint checkpoint_;
  LayerQuantizer quantizer_;
};

std::int64_t peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;  // KiB on Linux
}

std::string duration_text(double seconds) {
  const auto s = static_cast<long>(std::max(0.0, seconds) + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

/// Everything the master sets up before any work is handed out.
struct Run {
  store::Store store;
  std::vector<WorkItem> todo;
  std::size_t total = 0, done_before = 0;
  std::size_t inputs = 0;  ///< distinct statistics keys among the layers to do
};

/// Plans the run and opens (or creates) the store. Master only. Every check that can fail on bad input
/// runs here, before the store is touched: the layer settings against every shape, and the calibration
/// file against every input the plan needs.
Run prepare(const Options& opt) {
  const auto& cfg = opt.method;
  const auto checkpoint = model::Checkpoint::open(opt.model);
  store::StoreLayout layout;
  layout.quant = cfg.layer.quant;
  layout.rank = cfg.layer.method == qer::Method::WeightOnly ? 0 : cfg.layer.rank;
  std::vector<WorkItem> items;
  for (const auto& name : checkpoint.linear_layer_names()) {
    const auto shape = checkpoint.shape(name + ".weight");  // [out][in]
    const index_t out = shape.at(0), in = shape.at(1);
    qer::validate(cfg.layer, in, out, name);
    items.push_back({layout.layers.size(), name, model::statistics_key(name), in, out, estimated_cost(in, out, cfg.layer.rank)});
    layout.layers.push_back({name, in, out});
  }

  std::string calibration = "null";
  if (!opt.calib.empty()) {
    const auto info = store::describe_calibration(opt.calib);
    const bool needs_xtx = cfg.scale.kind == qer::ScaleKind::QeraExact;
    std::vector<std::string> problems;
    std::set<std::string> checked;
    for (const auto& w : items) {
      if (!checked.insert(w.key).second) continue;
      const auto it = info.inputs.find(w.key);
      if (it == info.inputs.end()) problems.push_back("no statistics for input '" + w.key + "'");
      else if (it->second.dim != w.in)
        problems.push_back(detail::concat("input '", w.key, "' has dimension ", it->second.dim, ", layer ", w.name,
                                          " has ", w.in, " inputs"));
      else if (needs_xtx && !it->second.has_xtx)
        problems.push_back("input '" + w.key + "' has no XᵀX, which --scale qera-exact needs");
    }
    if (!problems.empty()) {
      std::string msg = "calibration file '" + opt.calib + "' does not fit checkpoint '" + opt.model + "':";
      for (std::size_t i = 0; i < problems.size() && i < 8; ++i) msg += "\n  " + problems[i];
      if (problems.size() > 8) msg += detail::concat("\n  ... and ", problems.size() - 8, " more");
      throw InputError(msg);
    }
    calibration = store::calibration_identity(opt.calib);
  }

  const store::StoreHeader header{SRR_VERSION, to_json(cfg), checkpoint.identity(), calibration};
  Run run{store::Store::open_for_run(opt.out, header, layout), {}, items.size(), 0, 0};
  const auto done = run.store.done();
  std::set<std::string> keys;
  for (auto& w : items)
    if (done[w.index]) {
      ++run.done_before;
    } else {
      keys.insert(w.key);
      run.todo.push_back(std::move(w));
    }
  run.inputs = keys.size();
  return run;
}

/// Rank 0's bookkeeping: progress lines, the summary, the first failure.
class Progress {
public:
  Progress(std::size_t total, std::size_t done_before, double total_cost)
      : total_(total), done_(done_before), cost_left_(total_cost) {}

  void finished(const WorkItem& w, const store::LayerRecord& r) {
    ++done_;
    ++computed_;
    cost_done_ += w.cost;
    cost_left_ -= w.cost;
    sum_err_ += r.rel_error_scaled;
    const double elapsed = clock_.seconds();
    const double eta = cost_done_ > 0 ? elapsed * std::max(cost_left_, 0.0) / cost_done_ : 0;
    const auto layer = r.seconds.find("layer");
    std::ostringstream line;
    line << "[" << done_ << "/" << total_ << "] " << w.name << "  " << w.in << "×" << w.out << "  k*=" << r.k_star
         << "  err_S " << std::fixed << std::setprecision(4) << r.rel_error_scaled << "  " << std::setprecision(2)
         << (layer == r.seconds.end() ? 0.0 : layer->second) << " s  eta " << duration_text(eta) << "  (rank "
         << r.mpi_rank << ")";
    SRR_LOG(info) << line.str();
  }
  void summary(const std::vector<std::int64_t>& peak_kib, std::int64_t scales_built, std::size_t inputs) const {
    const double wall = clock_.seconds();
    std::ostringstream mem;
    for (std::size_t i = 0; i < peak_kib.size(); ++i)
      mem << (i ? ", " : "") << "rank " << i << " " << std::fixed << std::setprecision(1)
          << static_cast<double>(peak_kib[i]) / 1024.0 << " MiB";
    std::ostringstream line;
    line << "done: " << computed_ << " layers computed, " << (done_ - computed_) << " already in the store, "
         << done_ << "/" << total_ << " done; wall " << std::fixed << std::setprecision(2) << wall << " s, "
         << std::setprecision(3) << (wall > 0 ? static_cast<double>(computed_) / wall : 0.0) << " layers/s";
    if (computed_ > 0) line << ", mean err_S " << std::setprecision(4) << sum_err_ / static_cast<double>(computed_);
    if (scales_built >= 0) line << ", scales built " << scales_built << " for " << inputs << " inputs";
    SRR_LOG(info) << line.str();
    SRR_LOG(info) << "peak memory: " << mem.str();
  }

private:
  Stopwatch clock_;
  std::size_t total_, done_, computed_ = 0;
  double cost_done_ = 0, cost_left_ = 0, sum_err_ = 0;
};

void sleep_ms() { std::this_thread::sleep_for(std::chrono::milliseconds(1)); }

/// Waits (polling) for the next message from `source` and returns its envelope.
parallel::MessageInfo wait_for_message(const parallel::Communicator& world, int source) {
  for (;;) {
    if (auto m = world.iprobe<char>(source, parallel::any_tag)) return *m;
    sleep_ms();
  }
}

void send_text(const parallel::Communicator& world, const std::string& text, int dest, int tag) {
  world.send<char>(std::span<const char>(text.data(), text.size()), dest, tag);
}

void send_int(const parallel::Communicator& world, int value, int dest, int tag) {
  world.send<int>(std::span<const int>(&value, 1), dest, tag);
}

int exit_code_of(const std::exception& e) { return dynamic_cast<const InputError*>(&e) ? 2 : 1; }

/// The master loop for np > 1. Returns the run's exit code and sets `error` to the first failure.
int master_loop(const parallel::Communicator& world, int group_size, Run& run, Progress& progress, std::string& error,
                std::vector<std::int64_t>& peak_kib, std::int64_t& scales_built) {
  const int np = world.size();
  Scheduler scheduler(run.todo);
  std::vector<std::optional<WorkItem>> busy(static_cast<std::size_t>(np));
  int code = 0;
  bool store_ok = true;
  const auto fail = [&](int c, const std::string& message) {
    if (code == 0) {
      code = c;
      error = message;
    }
    SRR_LOG(error) << message;
  };
  const auto hand_out = [&](int w) {
    std::optional<WorkItem> item = code == 0 ? scheduler.next(w) : std::nullopt;
    if (item) {
      send_text(world, std::to_string(item->index) + " " + item->name, w, kAssign);
      busy[static_cast<std::size_t>(w)] = std::move(item);
    } else {
      send_int(world, code, w, kStop);
    }
  };
  for (int w = 1; w < np; w += group_size) hand_out(w);  // the workers: each group's leader
  int running = (np - 1) / group_size;                   // workers that have not said goodbye
  while (running > 0) {
    const auto m = world.iprobe<char>(parallel::any_source, parallel::any_tag);
    if (!m) {
      sleep_ms();
      continue;
    }
    const int w = m->source;
    auto& slot = busy[static_cast<std::size_t>(w)];
    if (m->tag == kResult) {
      const auto bytes = world.recv_vector<std::byte>(w, kResult);
      SRR_ASSERT(slot.has_value());
      const WorkItem item = std::move(*slot);
      slot.reset();
      if (store_ok) {
        try {
          const auto record = store::deserialize(bytes);
          run.store.write_layer(item.index, record);
          progress.finished(item, record);
        } catch (const std::exception& e) {
          store_ok = false;
          fail(exit_code_of(e), "storing " + item.name + " failed: " + e.what());
        }
      }
      hand_out(w);
    } else if (m->tag == kFailure) {
      const auto text = world.recv_vector<char>(w, kFailure);
      const std::string layer = slot ? slot->name : std::string("its set-up");
      slot.reset();
      const int c = !text.empty() && text[0] == '2' ? 2 : 1;
      fail(c, detail::concat("rank ", w, " failed on ", layer, ": ",
                             text.empty() ? std::string() : std::string(text.begin() + 1, text.end())));
      send_int(world, code, w, kStop);
    } else if (m->tag == kBye) {
      const auto report = world.recv_vector<std::int64_t>(w, kBye);
      SRR_ASSERT(report.size() == static_cast<std::size_t>(group_size) + 1);
      scales_built += report[0];
      for (int i = 0; i < group_size; ++i)
        peak_kib[static_cast<std::size_t>(w + i)] = report[static_cast<std::size_t>(i) + 1];
      --running;
    } else {
      throw Error(detail::concat("unexpected message with tag ", m->tag, " from rank ", w));
    }
  }
  return code;
}

/// A worker's loop for np > 1 (a group's leader with g > 1): returns the exit code the master sends with
/// kStop, after finishing the group. Failures of a layer (or of the worker's set-up, reported at its first
/// assignment) go to the master as kFailure; only a broken protocol escapes as an exception.
int worker_loop(const parallel::Communicator& world, const Options& opt, const WorkerGroup& group) {
  std::unique_ptr<LayerWorker> worker;
  std::string setup_failure;
  try {
    worker = std::make_unique<LayerWorker>(opt, world.rank(), group.grid());
  } catch (const std::exception& e) {
    setup_failure = std::to_string(exit_code_of(e)) + e.what();
  }
  for (;;) {
    const auto m = wait_for_message(world, 0);
    if (m.tag == kAssign) {
      const auto text = world.recv_vector<char>(0, kAssign);
      const std::string msg(text.begin(), text.end());
      const std::string name = msg.substr(msg.find(' ') + 1);
      std::string failure = setup_failure;
      if (failure.empty()) {
        try {
          const auto bytes = store::serialize(worker->run(name));
          world.send<std::byte>(bytes, 0, kResult);
          continue;
        } catch (const parallel::MpiError&) {
          throw;
        } catch (const std::exception& e) {
          failure = std::to_string(exit_code_of(e)) + e.what();
        }
      }
      SRR_LOG(error) << name << ": " << failure.substr(1);
      send_text(world, failure, 0, kFailure);
    } else if (m.tag == kStop) {
      int code = 0;
      world.recv(std::span<int>(&code, 1), 0, kStop);
      auto report = group.finish(code, peak_rss_kib());
      report[0] = worker ? worker->scales_built() : 0;
      world.send<std::int64_t>(report, 0, kBye);
      return code;
    } else {
      throw Error(detail::concat("unexpected message with tag ", m.tag, " from the master"));
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

/// The outcome of a run on the master: exit code and the first failure's message.
struct Outcome {
  int code = 0;
  std::string error;
};

/// Rank 0 after a successful set-up: computes (np = 1) or coordinates (np > 1), then closes the store and
/// prints the summary. With np = 1 failures are thrown; with np > 1 they come back as the outcome, once
/// every worker has stopped.
Outcome run_master(const parallel::Communicator& world, const Options& opt, Run& run) {
  const int np = world.size();
  const double total_cost = std::accumulate(run.todo.begin(), run.todo.end(), 0.0,
                                            [](double sum, const WorkItem& w) { return sum + w.cost; });
  Progress progress(run.total, run.done_before, total_cost);
  SRR_LOG(info) << "plan: " << run.total << " layers, " << run.done_before << " already done, " << run.todo.size()
                << " to compute on " << (np == 1 ? 1 : (np - 1) / opt.group_size) << " worker(s) of "
                << (np == 1 ? 1 : opt.group_size) << " rank(s)"
                << (np == 1 && opt.group_size > 1 ? " (one rank: --group-size has no effect)" : "") << "; store "
                << opt.out;
  std::vector<std::int64_t> peak_kib(static_cast<std::size_t>(np), 0);
  std::int64_t scales_built = 0;
  Outcome outcome;
  if (np == 1) {
    if (!run.todo.empty()) {
      LayerWorker worker(opt, 0, nullptr);
      Scheduler scheduler(run.todo);
      while (auto item = scheduler.next(0)) {
        const auto record = worker.run(item->name);
        run.store.write_layer(item->index, record);
        progress.finished(*item, record);
      }
      scales_built = worker.scales_built();
    }
  } else {
    try {
      outcome.code = master_loop(world, opt.group_size, run, progress, outcome.error, peak_kib, scales_built);
    } catch (const std::exception& e) {
      abort_job(0, e);
    }
  }
  run.store.close();
  peak_kib[0] = peak_rss_kib();
  progress.summary(peak_kib, scales_built, run.inputs);
  return outcome;
}

}  // namespace

int run_quantize(int argc, char** argv) {
  po::options_description desc("srr quantize options");
  add_common_options(desc);
  desc.add_options()
      ("model", po::value<std::string>(), "checkpoint: llama2.c .bin, .safetensors, or a Hugging Face model directory")
      ("calib", po::value<std::string>(), "calibration statistics (HDF5, from srr calibrate); needed unless --scale identity")
      ("out", po::value<std::string>(), "the store (HDF5) to create or resume; <out>.lock guards it while a run lives")
      ("group-size", po::value<int>()->default_value(1),
       "ranks per worker: g > 1 runs each layer's SVDs and QERA-exact eigendecompositions on a BLACS grid of g "
       "ranks (np − 1 must be a multiple of g)")
      ("dist-block", po::value<int>()->default_value(64),
       "group mode: ScaLAPACK block size; eigendecompositions smaller than 2·block·(grid side) stay on the leader");
  add_method_options(desc);
  po::variables_map vm;
  // Every rank parses the same arguments, so a bad option fails everywhere alike, before MPI starts.
  if (!parse_command(argc, argv, desc, vm, kUsage)) return 0;
  const Options opt = read_options(vm);

  int mpi_argc = argc;
  char** mpi_argv = argv;
  const parallel::MpiEnvironment env(mpi_argc, mpi_argv);
  const parallel::Communicator world = parallel::Communicator::world();
  const int rank = world.rank();
  check_group_size(opt, world.size());
  init_logging({.level = vm["log-level"].as<std::string>(), .file = vm["log-file"].as<std::string>(), .rank = rank});

  // Set-up on the master; its verdict is broadcast (polling) so that every rank leaves together on error.
  std::optional<Run> run;
  std::exception_ptr setup_error;
  int status = 0;
  if (rank == 0) {
    nlohmann::json shown = {{"model", opt.model}, {"calib", opt.calib.empty() ? nlohmann::json() : nlohmann::json(opt.calib)},
                            {"out", opt.out}, {"ranks", world.size()}, {"group_size", opt.group_size},
                            {"method", to_json(opt.method)}};
    SRR_LOG(info) << "srr " << SRR_VERSION << " quantize, configuration: " << shown.dump();
    try {
      run.emplace(prepare(opt));
    } catch (const std::exception& e) {
      status = exit_code_of(e);
      setup_error = std::current_exception();
    }
  }
  status = world.bcast_value(status, 0, parallel::Wait::Poll);
  if (status != 0) {
    if (setup_error) std::rethrow_exception(setup_error);
    return status;
  }

  const WorkerGroup group(world, opt.group_size);
  if (rank != 0) {
    try {
      if (!group.server()) return worker_loop(world, opt, group);
      group.serve();
      return static_cast<int>(group.finish(0, peak_rss_kib())[0]);
    } catch (const std::exception& e) {
      abort_job(rank, e);
    }
  }
  const Outcome outcome = run_master(world, opt, *run);
  if (outcome.code == 2) throw InputError(outcome.error);
  if (outcome.code != 0) throw Error(outcome.error);
  return 0;
}

}  // namespace srr::app
