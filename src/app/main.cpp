// SPDX-License-Identifier: MIT
// `srr`: the command line. Sub-commands are dispatched by name; every user-fixable error is an InputError,
// reported on one line with exit code 2.
#include <cstring>
#include <iostream>
#include <map>
#include <string>

#include "app/commands.hpp"
#include "base/error.hpp"
#include "base/heap.hpp"

namespace {

struct Command {
  int (*run)(int, char**);
  const char* summary;
};

const std::map<std::string, Command>& commands() {
  static const std::map<std::string, Command> table = {
      {"layer", {srr::app::run_layer, "decompose one matrix with one method, print JSON"}},
      {"allocate", {srr::app::run_allocate, "bits and rank per layer under a memory budget (multiple-choice knapsack)"}},
      {"calibrate", {srr::app::run_calibrate, "collect per-input activation statistics (MPI data-parallel)"}},
      {"eval", {srr::app::run_eval, "perplexity of the FP32 and the quantized model (MPI data-parallel)"}},
      {"quantize", {srr::app::run_quantize, "quantize every linear layer into a crash-safe HDF5 store (MPI)"}},
      {"sweep", {srr::app::run_sweep, "grids of settings as Slurm array jobs: plan, run, collect tables and plots"}},
      {"export", {srr::app::run_export, "a finished store as a HF checkpoint (dequantized Q) + PEFT LoRA adapter"}},
      {"synthetic", {srr::app::run_synthetic, "a random checkpoint with a public model's shapes, to rehearse a cluster job"}},
  };
  return table;
}

void usage(std::ostream& os) {
  os << "srr " << SRR_VERSION << " — quantize LLM linear layers with low-rank repair (SRR, QER baselines)\n\n"
     << "usage: srr <command> [options]     (srr <command> --help for its options)\n\ncommands:\n";
  for (const auto& [name, c] : commands()) os << "  " << name << std::string(12 - name.size(), ' ') << c.summary << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  srr::keep_freed_memory();
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage(std::cout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::cout << "srr " << SRR_VERSION << "\n";
    return 0;
  }
  const auto it = commands().find(argv[1]);
  if (it == commands().end()) {
    std::cerr << "srr: unknown command '" << argv[1] << "'\n";
    usage(std::cerr);
    return 2;
  }
  try {
    return it->second.run(argc - 1, argv + 1);
  } catch (const srr::InputError& e) {
    std::cerr << "srr " << argv[1] << ": error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "srr " << argv[1] << ": internal error: " << e.what() << "\n";
    return 1;
  }
}
