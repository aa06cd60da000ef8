// SPDX-License-Identifier: MIT
// `srr quantize`: the command line of pipeline::run_quantize_job (src/pipeline/quantize_job.hpp says how the
// job runs: master and workers, worker groups, messages, failures, reproducibility).
#include <nlohmann/json.hpp>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "app/logging.hpp"
#include "parallel/mpi.hpp"
#include "model/checkpoint.hpp"
#include "pipeline/allocation_plan.hpp"
#include "pipeline/memory_plan.hpp"
#include "pipeline/quantize_job.hpp"

namespace srr::app {

namespace {

constexpr const char* kUsage =
    "usage: mpirun -np N srr quantize --model PATH --out STORE.h5 [--calib CALIB.h5] [method options]\n"
    "Quantizes every q/k/v/o/gate/up/down layer of the checkpoint as W ≈ Q + L·R into an HDF5 store\n"
    "(docs/store.md). Rank 0 coordinates and writes; the other ranks compute. A killed run resumes: rerun\n"
    "the same command and layers already done are skipped.";

pipeline::QuantizeJob read_job(const po::variables_map& vm) {
  pipeline::QuantizeJob job;
  require(vm.count("model") > 0, "--model PATH is required");
  require(vm.count("out") > 0, "--out STORE is required");
  job.model = vm["model"].as<std::string>();
  job.out = vm["out"].as<std::string>();
  require(!job.out.empty(), "--out must name the store file, got ''");
  if (vm.count("calib")) job.calib = vm["calib"].as<std::string>();
  if (vm.count("plan")) job.plan = vm["plan"].as<std::string>();
  job.group_size = vm["group-size"].as<int>();
  job.dist_block = vm["dist-block"].as<int>();
  job.method = method_settings(vm);
  pipeline::validate(job);
  return job;
}

}  // namespace

int run_quantize(int argc, char** argv) {
  po::options_description desc("srr quantize options");
  add_common_options(desc);
  desc.add_options()
      ("model", po::value<std::string>(), "checkpoint: llama2.c .bin, .safetensors, or a Hugging Face model directory")
      ("calib", po::value<std::string>(), "calibration statistics (HDF5, from srr calibrate); needed unless --scale identity")
      ("out", po::value<std::string>(), "the store (HDF5) to create or resume; <out>.lock guards it while a run lives")
      ("plan", po::value<std::string>(), "per-layer bits, rank and k rule from this plan (srr allocate); the other "
       "settings from the method options")
      ("group-size", po::value<int>()->default_value(1),
       "ranks per worker: g > 1 runs each layer's SVDs and QERA-exact eigendecompositions on a BLACS grid of g "
       "ranks (np − 1 must be a multiple of g)")
      ("dist-block", po::value<int>()->default_value(64),
       "group mode: ScaLAPACK block size; eigendecompositions smaller than 2·block·(grid side) stay on the leader");
  add_memory_option(desc);
  add_method_options(desc);
  po::variables_map vm;
  // Every rank parses the same arguments, so a bad option fails everywhere alike, before MPI starts.
  if (!parse_command(argc, argv, desc, vm, kUsage)) return 0;
  const pipeline::QuantizeJob job = read_job(vm);

  const parallel::MpiEnvironment env(argc, argv);
  const parallel::Communicator world = parallel::Communicator::world();
  init_logging({.level = vm["log-level"].as<std::string>(), .file = vm["log-file"].as<std::string>(),
                .rank = world.rank()});
  if (world.rank() == 0) {
    const nlohmann::json shown = {{"model", job.model.string()},
                                  {"calib", job.calib.empty() ? nlohmann::json() : nlohmann::json(job.calib.string())},
                                  {"out", job.out.string()},
                                  {"plan", job.plan.empty() ? nlohmann::json() : nlohmann::json(job.plan.string())},
                                  {"ranks", world.size()}, {"group_size", job.group_size},
                                  {"method", qer::to_json(job.method)}};
    SRR_LOG(info) << "srr " << SRR_VERSION << " quantize, configuration: " << shown.dump();
  }
  // The memory plan, before any work: a worker holds one linear layer at a time, the master one record.
  const auto ckpt = model::Checkpoint::open(job.model);
  const auto rank = static_cast<int>(job.plan.empty() ? job.method.layer.rank
                                                      : pipeline::largest_rank(pipeline::read_plan(job.plan)));
  const bool dense_scale = job.method.scale.kind == qer::ScaleKind::QeraExact;
  const std::uint64_t limit = memory_per_rank(vm, world);
  pipeline::check_memory_plans({pipeline::quantize_worker_plan(ckpt.config(), rank, job.method.float64, dense_scale),
                                pipeline::quantize_master_plan(ckpt.config(), rank)},
                               limit, world);
  return pipeline::run_quantize_job(world, job);
}

}  // namespace srr::app
