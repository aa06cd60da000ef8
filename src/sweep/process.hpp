// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Child processes of the sweep driver. A sweep point runs `srr calibrate`, `srr quantize` and `srr eval`
/// as separate processes of the same binary, so the driver needs no MPI of its own and every step is
/// exactly what a user would run by hand (and can be rerun from the command printed in the log).

#include <filesystem>
#include <string>
#include <vector>

namespace srr::sweep {

namespace fs = std::filesystem;

/// The running executable (/proc/self/exe resolved), for launching our own sub-commands.
fs::path self_executable();

/// How the MPI-parallel steps of a point are started.
struct Launcher {
  std::string mode = "direct";  ///< direct | srun | mpirun
  int np = 1;
  /// direct for np = 1; srun --mpi=pmix inside a Slurm allocation (SLURM_JOB_ID set); mpirun otherwise.
  static Launcher choose(const std::string& requested, int np);
  /// The full command line for `exe args…` under this launcher.
  std::vector<std::string> wrap(const fs::path& exe, const std::vector<std::string>& args) const;
};

/// Runs `argv` (argv[0] looked up in PATH when it has no slash) with stdout written to `out` and stderr
/// appended to `err` (either may be empty: inherit; when they are the same file both append), waits for it, and returns its exit code, or 128 + the
/// signal that killed it. Throws srr::Error when the process cannot be started.
int run_process(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err);

/// The command as one shell-quoted line (for logs).
std::string shell_join(const std::vector<std::string>& argv);

}  // namespace srr::sweep
